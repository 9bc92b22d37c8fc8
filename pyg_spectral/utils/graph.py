"""Graph structure as the operators see it: connected components (scipy's ``connected_components``) and
symmetrization.

One rule throughout: parallel edges mean the sum of their weights, a zero-weight edge is no edge, and a
self-loop joins nothing, so a component count here is the multiplicity of the operator's trivial eigenvalue
(plus one per isolated node).
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["count_components_csr", "component_labels", "component_nodes", "count_components", "warn_disconnected",
           "symmetrize_edges", "operator_components"]


def symmetrize_edges(edge_index: Tensor, edge_weight: Optional[Tensor] = None
                     ) -> Tuple[Tensor, Optional[Tensor]]:
    r"""The edges of :math:`A + A^\top`: every edge in both directions, weights kept (summed by the
    operators, which add parallel edges).

    Unlike ``to_undirected(edge_index)`` (which coalesces an unweighted graph into a 0/1 pattern, and with
    ``reduce="mean"`` averages parallel edges) this is the same matrix with and without explicit unit
    weights, and it never adds two weights in a dtype where the sum could overflow: the operators sum
    them after rescaling (:func:`~pyg_spectral.utils.sparse.normalization_weights`).

    >>> ei, w = symmetrize_edges(torch.tensor([[0, 0], [1, 1]]), torch.tensor([1.0, 2.0]))
    >>> ei.tolist(), w.tolist()
    ([[0, 0, 1, 1], [1, 1, 0, 0]], [1.0, 2.0, 1.0, 2.0])
    """
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return both, (None if edge_weight is None else torch.cat([edge_weight, edge_weight]))


def count_components_csr(crow: Tensor, col: Tensor, degree: Tensor, values: Optional[Tensor] = None
                         ) -> Tuple[int, int]:
    """``(components, isolated nodes)`` of the pattern of a symmetric CSR matrix (e.g. an operator's
    Laplacian), isolated nodes (zero weighted ``degree``) counted among the components. Reuses the
    operator's arrays instead of building a second copy of the graph. Given ``values``, explicit zero
    entries are no edges (the operators' Laplacians hold none: zero-weight edges are dropped)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = degree.numel()
    crow_np, col_np = crow.detach().cpu().numpy(), col.detach().cpu().numpy()
    data = np.ones(col_np.size, dtype=np.int8)
    if values is not None:
        data = (values.detach().cpu().numpy() != 0).astype(np.int8)
    mat = sp.csr_matrix((data, col_np, crow_np), shape=(n, n))
    mat.eliminate_zeros()
    num, _ = connected_components(mat, directed=False)
    return int(num), int((degree.detach().cpu() == 0).sum())


def component_labels(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None
                     ) -> Tuple[int, np.ndarray]:
    """``(number of weakly connected components, component label of each node)``, by scipy. Edges of
    zero ``edge_weight`` join nothing."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    if edge_weight is not None and bool((edge_weight == 0).any()):
        edge_index = edge_index[:, edge_weight != 0]
    ei = edge_index.detach().cpu().numpy()
    row = ei[0]
    if row.size and row.size < 2**31 and bool(np.all(row[1:] >= row[:-1])):
        # Rows already sorted (PyG graphs and batches usually are): the CSR needs no sort, and float64
        # entries are what connected_components converts any matrix to.
        indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=num_nodes), out=indptr[1:])
        mat = sp.csr_matrix((np.ones(row.size), ei[1], indptr), shape=(num_nodes, num_nodes))
    else:
        # int8 entries: the matrix is only a pattern (float64 ones would triple the COO -> CSR transients)
        mat = sp.coo_matrix((np.ones(ei.shape[1], dtype=np.int8), (ei[0], ei[1])), shape=(num_nodes, num_nodes))
    num, labels = connected_components(mat, directed=True, connection="weak")
    return int(num), labels


def component_nodes(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None
                    ) -> List[np.ndarray]:
    """The nodes of each connected component (components in label order, nodes ascending); edges of zero
    ``edge_weight`` join nothing."""
    _, labels = component_labels(edge_index, num_nodes, edge_weight)
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.cumsum(np.bincount(labels))[:-1])


def count_components(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None
                     ) -> Tuple[int, int]:
    """Return ``(number of connected components, number of isolated nodes)``; isolated nodes (no edge of
    positive weight to another node) count among the components."""
    if edge_weight is not None and bool((edge_weight == 0).any()):
        edge_index = edge_index[:, edge_weight != 0]
    num, _ = component_labels(edge_index, num_nodes)
    ei = edge_index.detach().cpu().numpy()
    deg = np.bincount(np.concatenate([ei[0], ei[1]]), minlength=num_nodes)
    # Self-loops do not count as neighbours (get_laplacian drops them).
    loops = ei[0] == ei[1]
    deg = deg - 2 * np.bincount(ei[0][loops], minlength=num_nodes)
    return num, int((deg == 0).sum())


def warn_disconnected(num_components: int, num_isolated: int, trivial: str, isolated_value: str) -> None:
    """Warn that the trivial eigenvalue repeats once per connected component.

    ``num_components`` counts every component, isolated nodes included (as
    :func:`count_components` and :func:`count_components_csr` return it).
    Isolated nodes follow PyG's convention (a zero row of the normalized
    adjacency, a Laplacian diagonal of 1): each adds the eigenvalue
    ``isolated_value`` with an indicator eigenvector, not a trivial one.

    Raises:
        ValueError: if ``num_isolated`` exceeds ``num_components`` (counts of two different graphs).
    """
    connected = num_components - num_isolated
    if connected < 0:
        raise ValueError(f"{num_isolated} isolated nodes cannot be more than the {num_components} components "
                         "they are counted in; count both from the same graph.")
    if connected <= 1 and num_isolated == 0:
        return
    comp = "component" if num_components == 1 else "components"
    parts = [f"The graph has {num_components} connected {comp}"]
    if num_isolated:
        with_edges = "1 with edges" if connected == 1 else f"{connected} with edges"
        nodes = "isolated node" if num_isolated == 1 else "isolated nodes"
        parts.append(f" ({with_edges} and {num_isolated} {nodes})")
    if connected > 1:
        parts.append(
            f": the trivial eigenvalue {trivial} repeats {connected} times and eigenvectors inside that "
            "eigenspace are not unique"
        )
    if num_isolated:
        each = "it adds" if num_isolated == 1 else "each adds"
        parts.append(
            f"{';' if connected > 1 else ':'} isolated nodes (zero weighted degree) follow PyG's convention "
            f"(zero row of the normalized adjacency, Laplacian diagonal 1) and {each} the eigenvalue "
            f"{isolated_value} with an indicator eigenvector"
        )
    parts.append(
        ". Use torch_geometric.transforms.LargestConnectedComponents() for a connected graph, or compare "
        "eigenspaces rather than single eigenvectors."
    )
    warnings.warn("".join(parts), UserWarning, stacklevel=3)


def operator_components(op, edge_index: Tensor, edge_weight: Optional[Tensor] = None) -> int:
    """The number of connected components of what the operator ``op`` sees (its own CSR pattern where it has
    one: no graph copy), after warning when there are several (:func:`warn_disconnected`)."""
    base = op.base
    if hasattr(base, "laplacian"):
        lap = base.laplacian
        n_comp, n_iso = count_components_csr(lap.crow_indices(), lap.col_indices(), base.degree)
    else:
        n_comp, n_iso = count_components(edge_index, op.num_nodes, edge_weight)
    warn_disconnected(n_comp, n_iso, f"{base.trivial_mode()[1]:g}", f"{base.isolated_eigenvalue():g}")
    return n_comp
