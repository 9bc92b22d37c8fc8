r"""Mini-batch samplers: unbiased estimates of the nested losses on large graphs.

* :class:`NodeSampler`: i.i.d. node batches with importance weights (Gram
  matrix, and the quadratic term with exact operator rows);
* :class:`EdgeSampler`: i.i.d. directed edges (quadratic term, one neighbour
  per row);
* :class:`OperatorRows`: :math:`(Tf)` at a batch from its neighbours' outputs;
* :class:`NeighborSubgraphSampler`: :math:`L`-hop computation graphs for GNN
  encoders (PyG's sampler when installed, else pure torch).
"""
from .edges import EdgeBatch, EdgeSampler
from .neighbors import NeighborSubgraphSampler, pyg_sampler_available
from .nodes import NodeSampler
from .rows import OperatorRows

__all__ = ["NodeSampler", "EdgeSampler", "EdgeBatch", "OperatorRows", "NeighborSubgraphSampler",
           "pyg_sampler_available"]
