r"""Graphs with closed-form normalized-Laplacian spectra, for exact tests.

============  ============================================  ==================================
graph         eigenvalues of :math:`L_{sym}`                 eigenvectors
============  ============================================  ==================================
path P_n      :math:`1 - \cos(\pi j/(n-1))`, j = 0..n-1      :math:`D^{1/2}\cos(\pi j i/(n-1))`
cycle C_n     :math:`1 - \cos(2\pi j/n)` (pairs degenerate)  Fourier modes
torus r x c   :math:`1 - (\cos\frac{2\pi a}{r} + \cos\frac{2\pi b}{c})/2`  products of Fourier modes
============  ============================================  ==================================

The open 2-D grid has no closed form for :math:`L_{sym}` (it is not regular);
:func:`grid_graph` with ``periodic=True`` is the torus above.
"""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

__all__ = ["path_graph", "cycle_graph", "grid_graph", "sbm_graph", "planted_partition_graph", "directed_sbm_graph",
           "random_geometric_graph", "laplacian_spectrum", "path_eigenvectors"]


def _data(src, dst, num_nodes: int) -> Data:
    ei = torch.stack([torch.as_tensor(src), torch.as_tensor(dst)]).long()
    return Data(edge_index=to_undirected(ei, num_nodes=num_nodes), num_nodes=num_nodes)


def path_graph(n: int) -> Data:
    """Path on ``n`` nodes (``n >= 2``)."""
    i = torch.arange(n - 1)
    return _data(i, i + 1, n)


def cycle_graph(n: int) -> Data:
    """Cycle on ``n`` nodes (``n >= 3``)."""
    i = torch.arange(n)
    return _data(i, (i + 1) % n, n)


def grid_graph(rows: int, cols: int, periodic: bool = False) -> Data:
    """2-D grid (``periodic=True``: torus, needs ``rows, cols >= 3``). Node ``r*cols + c``."""
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    r, c = r.flatten(), c.flatten()
    node = r * cols + c
    src, dst = [], []
    right = (c + 1 < cols) | periodic
    down = (r + 1 < rows) | periodic
    src += [node[right]]
    dst += [(r * cols + (c + 1) % cols)[right]]
    src += [node[down]]
    dst += [(((r + 1) % rows) * cols + c)[down]]
    return _data(torch.cat(src), torch.cat(dst), rows * cols)


def laplacian_spectrum(kind: str, *shape: int) -> np.ndarray:
    """Closed-form eigenvalues of :math:`L_{sym}`, ascending.

    ``laplacian_spectrum("path", n)``, ``("cycle", n)``, ``("torus", rows, cols)``.
    """
    if kind == "path":
        (n,) = shape
        vals = 1 - np.cos(np.pi * np.arange(n) / (n - 1))
    elif kind == "cycle":
        (n,) = shape
        vals = 1 - np.cos(2 * np.pi * np.arange(n) / n)
    elif kind == "torus":
        rows, cols = shape
        a, b = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        vals = 1 - (np.cos(2 * np.pi * a / rows) + np.cos(2 * np.pi * b / cols)).ravel() / 2
    else:
        raise ValueError(f"No closed form for {kind!r}; choose 'path', 'cycle' or 'torus'.")
    return np.sort(vals)


def path_eigenvectors(n: int, k: int) -> np.ndarray:
    r"""First ``k`` unit-norm eigenvectors of :math:`L_{sym}` of the path (ascending eigenvalues)."""
    i = np.arange(n)
    d = np.where((i == 0) | (i == n - 1), 1.0, 2.0)
    vecs = np.sqrt(d)[:, None] * np.cos(np.pi * np.outer(i, np.arange(k)) / (n - 1))
    return vecs / np.linalg.norm(vecs, axis=0, keepdims=True)


def sbm_graph(block_sizes, p_in: float, p_out: float, seed: int = 0) -> Data:
    r"""Stochastic block model (via :func:`torch_geometric.utils.stochastic_blockmodel_graph`).

    With ``p_in`` well above ``p_out`` the bottom ``len(block_sizes)``
    Laplacian eigenvectors are close to the (degree-weighted) block
    indicators and are separated from the bulk by a wide gap: a graph whose
    top eigenspace is known and well conditioned at any size. ``data.y`` holds
    the block of each node.
    """
    from torch_geometric.utils import stochastic_blockmodel_graph

    sizes = torch.as_tensor(list(block_sizes), dtype=torch.long)
    b = sizes.numel()
    probs = torch.full((b, b), float(p_out))
    probs.fill_diagonal_(float(p_in))
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        edge_index = stochastic_blockmodel_graph(sizes, probs, directed=False)
    finally:
        torch.random.set_rng_state(state)
    y = torch.repeat_interleave(torch.arange(b), sizes)
    return Data(edge_index=edge_index, num_nodes=int(sizes.sum()), y=y)


def planted_partition_graph(num_nodes: int, num_blocks: int, avg_degree: float = 10.0, mixing: float = 0.05,
                            seed: int = 0) -> Data:
    r"""A sparse stochastic block model with equal blocks, generated in :math:`O(|E|)`.

    Each node has on average ``avg_degree`` neighbours, a fraction ``mixing``
    of them outside its block. Edge counts per block are drawn from their
    binomial laws and endpoints uniformly (duplicates and self-loops removed,
    a negligible change for sparse graphs), so graphs of 1e6+ nodes take
    seconds; :func:`sbm_graph` enumerates all pairs and is for small graphs.
    The bottom ``num_blocks`` Laplacian eigenvalues sit near ``mixing`` and
    the bulk near 1 - O(1/sqrt(avg_degree)): a wide, known gap.
    """
    gen = torch.Generator().manual_seed(int(seed))
    n, b = int(num_nodes), int(num_blocks)
    y = torch.arange(n) * b // n  # contiguous, near-equal blocks
    sizes = torch.bincount(y, minlength=b)
    starts = torch.cumsum(sizes, 0) - sizes
    # intra-block edges
    n_in = torch.poisson(sizes.double() * avg_degree * (1 - mixing) / 2, generator=gen).long()
    owner = torch.repeat_interleave(torch.arange(b), n_in)
    u = starts[owner] + (torch.rand(owner.numel(), generator=gen) * sizes[owner]).long()
    v = starts[owner] + (torch.rand(owner.numel(), generator=gen) * sizes[owner]).long()
    # inter-block edges: uniform pairs, rejecting same-block pairs
    m_out = int(torch.poisson(torch.tensor(n * avg_degree * mixing / 2, dtype=torch.float64), generator=gen))
    pu = torch.randint(n, (int(m_out * 1.2) + 16,), generator=gen)
    pv = torch.randint(n, (int(m_out * 1.2) + 16,), generator=gen)
    keep = y[pu] != y[pv]
    pu, pv = pu[keep][:m_out], pv[keep][:m_out]
    src, dst = torch.cat([u, pu]), torch.cat([v, pv])
    loops = src == dst
    edge_index = to_undirected(torch.stack([src[~loops], dst[~loops]]), num_nodes=n)
    return Data(edge_index=edge_index, num_nodes=n, y=y)


def random_geometric_graph(num_nodes: int, avg_degree: float = 10.0, seed: int = 0) -> Data:
    r"""Random geometric graph in the unit square (``scipy.spatial.cKDTree``).

    Nodes are uniform points, joined when closer than :math:`r =
    \sqrt{\bar d / (\pi n)}`. ``data.x`` holds the coordinates (low
    eigenvectors are smooth functions of them, which an MLP can learn).
    Its spectrum has the tiny gaps of a 2-D mesh: a hard case for any solver.
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(int(seed))
    pos = rng.random((int(num_nodes), 2))
    radius = float(np.sqrt(avg_degree / (np.pi * num_nodes)))
    pairs = cKDTree(pos).query_pairs(radius, output_type="ndarray")
    edge_index = to_undirected(torch.from_numpy(pairs.T.astype(np.int64)), num_nodes=int(num_nodes))
    return Data(edge_index=edge_index, num_nodes=int(num_nodes), x=torch.from_numpy(pos).float())


def directed_sbm_graph(num_nodes: int, num_blocks: int, num_edges: int, p_out: float = 0.05, p_forward: float = 0.5,
                       seed: int = 0) -> Data:
    r"""A directed block model with a cyclic flow between blocks (for SVD tests).

    ``num_edges`` candidate arcs :math:`i \to j` with uniform endpoints are kept
    when both ends share a block, or with probability ``p_out`` otherwise; a
    fraction ``p_forward`` of the targets is then moved to the next block, so
    sources and targets play different roles (left and right singular vectors
    differ). Self-loops and duplicates are removed.
    """
    gen = torch.Generator().manual_seed(int(seed))
    n, b = int(num_nodes), int(num_blocks)
    y = torch.arange(n) * b // n
    src = torch.randint(n, (num_edges,), generator=gen)
    dst = torch.randint(n, (num_edges,), generator=gen)
    keep = (y[src] == y[dst]) | (torch.rand(num_edges, generator=gen) < p_out)
    shift = torch.rand(num_edges, generator=gen) < p_forward
    dst = torch.where(shift, (dst + n // b) % n, dst)
    ei = torch.stack([src[keep], dst[keep]])
    ei = torch.unique(ei[:, ei[0] != ei[1]], dim=1)
    return Data(edge_index=ei, num_nodes=n, y=y)
