"""Estimator inputs that used to give a silent wrong answer or an internal error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pyg_spectral import NeuralSpectralEmbedding
from pyg_spectral.datasets import cycle_graph, laplacian_spectrum, path_graph
from pyg_spectral.operators import NormalizedLaplacian, PolynomialFilter


def test_transductive_transform_of_another_graph_with_as_many_nodes_is_refused():
    model = NeuralSpectralEmbedding(2, progress=False).fit(cycle_graph(12))
    assert torch.equal(model.transform(cycle_graph(12)), model.embedding_)  # the same graph: its embedding
    with pytest.raises(ValueError, match="not the graph it was fitted on"):
        model.transform(path_graph(12))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a build without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="no usable CUDA device"):
        NeuralSpectralEmbedding(2, device="cuda", progress=False).fit(cycle_graph(12))


def test_a_ready_operator_is_used_as_it_is():
    g = cycle_graph(16)
    base = NormalizedLaplacian.from_edge_index(g.edge_index, num_nodes=16)
    op = PolynomialFilter.chebyshev(base, 3, 0.5)
    model = NeuralSpectralEmbedding(3, operator=op, progress=False).fit(g)
    np.testing.assert_allclose(model.eigenvalues_.numpy(), laplacian_spectrum("cycle", 16)[:3], atol=1e-4)
    with pytest.raises(ValueError, match="16 nodes but the graph has 12"):
        NeuralSpectralEmbedding(3, operator=op, progress=False).fit(cycle_graph(12))
