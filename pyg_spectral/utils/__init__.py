"""Shared utilities: input validation, graph components, sparse CSR helpers, atomic writes and
reusable scratch buffers. Nothing here knows about encoders, losses or training."""
from .graph import component_labels, component_nodes, count_components, count_components_csr, warn_disconnected
from .io import atomic_save, pyg_safe_globals, safe_torch_load
from .sparse import csr_with_diagonal, laplacian_csr, quiet_csr, to_csr
from .validation import check_features, check_graph
from .workspace import Workspace, thread_workspace

__all__ = ["check_graph", "check_features", "count_components", "count_components_csr", "component_labels",
           "component_nodes", "warn_disconnected", "atomic_save", "safe_torch_load", "pyg_safe_globals", "quiet_csr", "to_csr", "csr_with_diagonal",
           "laplacian_csr", "Workspace", "thread_workspace"]
