"""Connected components of graphs and sparse patterns (scipy's ``connected_components``)."""
from __future__ import annotations

import warnings
from typing import List, Tuple

import numpy as np
from torch import Tensor

__all__ = ["count_components_csr", "component_labels", "component_nodes", "count_components", "warn_disconnected"]


def count_components_csr(crow: Tensor, col: Tensor, degree: Tensor) -> Tuple[int, int]:
    """``(components, isolated nodes)`` of the pattern of a symmetric CSR matrix (e.g. an operator's
    Laplacian); isolated nodes are those of zero ``degree``. Reuses the operator's arrays instead of
    building a second copy of the graph."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = degree.numel()
    crow_np, col_np = crow.detach().cpu().numpy(), col.detach().cpu().numpy()
    mat = sp.csr_matrix((np.ones(col_np.size, dtype=np.int8), col_np, crow_np), shape=(n, n))
    num, _ = connected_components(mat, directed=False)
    return int(num), int((degree.detach().cpu() == 0).sum())


def component_labels(edge_index: Tensor, num_nodes: int) -> Tuple[int, np.ndarray]:
    """``(number of weakly connected components, component label of each node)``, by scipy."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

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


def component_nodes(edge_index: Tensor, num_nodes: int) -> List[np.ndarray]:
    """The nodes of each connected component (components in label order, nodes ascending)."""
    _, labels = component_labels(edge_index, num_nodes)
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.cumsum(np.bincount(labels))[:-1])


def count_components(edge_index: Tensor, num_nodes: int) -> Tuple[int, int]:
    """Return ``(number of connected components, number of isolated nodes)``."""
    num, _ = component_labels(edge_index, num_nodes)
    ei = edge_index.detach().cpu().numpy()
    deg = np.bincount(np.concatenate([ei[0], ei[1]]), minlength=num_nodes)
    # Self-loops do not count as neighbours (get_laplacian drops them).
    loops = ei[0] == ei[1]
    deg = deg - 2 * np.bincount(ei[0][loops], minlength=num_nodes)
    return num, int((deg == 0).sum())


def warn_disconnected(num_components: int, num_isolated: int, trivial: str, isolated_value: str) -> None:
    """Warn that the trivial eigenvalue repeats once per connected component.

    Isolated nodes follow PyG's convention (a zero row of the normalized
    adjacency, a Laplacian diagonal of 1): each adds the eigenvalue
    ``isolated_value`` with an indicator eigenvector, not a trivial one.
    """
    connected = num_components - num_isolated
    if connected <= 1 and num_isolated == 0:
        return
    parts = [f"The graph has {num_components} connected components"]
    if connected > 1:
        parts.append(
            f": the trivial eigenvalue {trivial} repeats {connected} times and eigenvectors inside that "
            "eigenspace are not unique"
        )
    if num_isolated:
        parts.append(
            f"{';' if connected > 1 else ':'} {num_isolated} are isolated nodes, which follow PyG's convention "
            f"(zero row of the normalized adjacency, Laplacian diagonal 1) and each add the eigenvalue "
            f"{isolated_value} with an indicator eigenvector"
        )
    parts.append(
        ". Use torch_geometric.transforms.LargestConnectedComponents() for a connected graph, or compare "
        "eigenspaces rather than single eigenvectors."
    )
    warnings.warn("".join(parts), UserWarning, stacklevel=3)
