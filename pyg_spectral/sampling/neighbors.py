r"""Neighbor-sampled subgraphs, so that an :math:`L`-layer GNN can be evaluated on a node batch."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["NeighborSubgraphSampler", "pyg_sampler_available"]

BACKENDS = ("auto", "pyg", "torch")


def pyg_sampler_available() -> bool:
    """Whether PyG's compiled neighbor sampler (pyg-lib or torch-sparse) is installed."""
    import torch_geometric.typing as tgt

    return bool(getattr(tgt, "WITH_PYG_LIB", False) or getattr(tgt, "WITH_TORCH_SPARSE", False))


class NeighborSubgraphSampler:
    r"""Sample the :math:`L`-hop computation graph of a set of seed nodes.

    Hop :math:`l` keeps at most ``num_neighbors[l]`` neighbours of each node
    of the frontier (``-1``: all). An :math:`L`-layer message-passing encoder
    evaluated on the subgraph gives, at the seeds, the GraphSAGE-style sampled
    approximation of its full-graph output (exact with ``-1`` everywhere for
    mean/sum aggregations such as GraphSAGE and GIN; GCN's symmetric
    normalisation reads the outermost nodes' degrees inside the subgraph, as
    with PyG's ``NeighborLoader``, so it is approximate there).

    Two backends: ``"pyg"`` uses :class:`torch_geometric.sampler.NeighborSampler`
    (needs pyg-lib or torch-sparse, the ``[sparse]`` extra); ``"torch"`` is a
    pure-torch sampler (uniform, with replacement, then de-duplicated) that
    needs nothing compiled. ``"auto"`` picks ``"pyg"`` when available.

    Args:
        edge_index: ``[2, E]`` (source, target) edges of the graph.
        num_nodes: number of nodes.
        num_neighbors: fan-out per hop, one entry per GNN layer.
        backend: ``"auto"``, ``"pyg"`` or ``"torch"``.
        generator: a ``torch.Generator`` (torch backend).

    :meth:`sample` returns ``(n_id, edge_index, seed_index)``: global ids of
    the subgraph's nodes, its local edges, and the local row of each seed
    (seeds may repeat).
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, num_neighbors: Sequence[int], backend: str = "auto",
                 generator: Optional[torch.Generator] = None):
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}; choose one of {BACKENDS}.")
        fanouts = [int(s) for s in num_neighbors]
        if not fanouts or any(s == 0 or s < -1 for s in fanouts):
            raise ValueError(f"num_neighbors must be a non-empty list of positive ints or -1, got {num_neighbors!r}.")
        if backend == "auto":
            backend = "pyg" if pyg_sampler_available() else "torch"
        if backend == "pyg" and not pyg_sampler_available():
            raise ImportError("backend='pyg' needs pyg-lib or torch-sparse (pip install 'pyg-spectral[sparse]').")
        self.num_nodes, self.num_neighbors, self.backend, self.generator = int(num_nodes), fanouts, backend, generator
        src, dst = edge_index[0].long(), edge_index[1].long()
        order = torch.argsort(dst * self.num_nodes + src)
        self.src, self.dst = src[order], dst[order]  # incoming edges, grouped by target
        self.ptr = torch.zeros(self.num_nodes + 1, dtype=torch.long, device=src.device)
        self.ptr[1:] = torch.cumsum(torch.bincount(dst, minlength=self.num_nodes), 0)
        self._pyg = None
        if backend == "pyg":
            from torch_geometric.data import Data
            from torch_geometric.sampler import NeighborSampler

            self._pyg = NeighborSampler(Data(edge_index=edge_index, num_nodes=self.num_nodes), fanouts)

    def sample(self, seeds: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        unique, seed_index = torch.unique(seeds, return_inverse=True)
        if self._pyg is not None:
            return self._sample_pyg(unique) + (seed_index,)
        return self._sample_torch(unique) + (seed_index,)

    def _sample_pyg(self, seeds: Tensor) -> Tuple[Tensor, Tensor]:
        from torch_geometric.sampler import NodeSamplerInput

        out = self._pyg.sample_from_nodes(NodeSamplerInput(input_id=None, node=seeds.cpu()))
        n_id = out.node.to(seeds.device)
        # PyG's sampler output is oriented as its loaders use it: edge_index = [row, col], messages flow
        # row (sampled neighbour) -> col (node of the previous hop). (Checked against full-graph outputs in
        # tests/sampling/test_neighbors.py, which runs where the [sparse] extra is installed: make test-extras.)
        edge_index = torch.stack([out.row, out.col]).to(seeds.device)
        return n_id, edge_index

    def _sample_torch(self, seeds: Tensor) -> Tuple[Tensor, Tensor]:
        device = seeds.device
        local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=device)
        local[seeds] = torch.arange(seeds.numel(), device=device)
        nodes: List[Tensor] = [seeds]
        frontier, count = seeds, seeds.numel()
        positions: List[Tensor] = []
        for fanout in self.num_neighbors:
            start = self.ptr[frontier]
            deg = self.ptr[frontier + 1] - start
            if fanout < 0:
                pos = _all_positions(start, deg)
            else:
                has = deg > 0
                start, deg = start[has], deg[has]
                r = torch.rand(start.numel(), fanout, device=device, generator=self.generator)
                # Uniform with replacement, then each sampled edge kept once.
                pos = torch.unique((start.unsqueeze(1) + (r * deg.unsqueeze(1)).long()).reshape(-1))
            positions.append(pos)
            sources = self.src[pos]
            new = torch.unique(sources[local[sources] < 0])
            local[new] = torch.arange(count, count + new.numel(), device=device)
            count += new.numel()
            nodes.append(new)
            frontier = new
            if frontier.numel() == 0:
                break
        pos = torch.cat(positions)
        edge_index = torch.stack([local[self.src[pos]], local[self.dst[pos]]])
        return torch.cat(nodes), edge_index


def _all_positions(start: Tensor, deg: Tensor) -> Tensor:
    owner = torch.repeat_interleave(torch.arange(start.numel(), device=start.device), deg)
    first = torch.cumsum(deg, 0) - deg
    return torch.repeat_interleave(start - first, deg) + torch.arange(owner.numel(), device=start.device)
