"""Data sets: bundled Planetoid graphs, edge-list files, closed-form graphs."""
from .io import read_edge_list, read_npz, read_torch_data
from .planetoid import BUNDLED_PLANETOID, default_cache_dir, load_planetoid
from .synthetic import (cycle_graph, directed_sbm_graph, grid_graph, laplacian_spectrum, path_eigenvectors, path_graph,
                        planted_partition_graph, random_geometric_graph, sbm_graph)

__all__ = [
    "load_planetoid",
    "BUNDLED_PLANETOID",
    "default_cache_dir",
    "read_edge_list",
    "read_npz",
    "read_torch_data",
    "path_graph",
    "sbm_graph",
    "directed_sbm_graph",
    "planted_partition_graph",
    "random_geometric_graph",
    "cycle_graph",
    "grid_graph",
    "laplacian_spectrum",
    "path_eigenvectors",
]
