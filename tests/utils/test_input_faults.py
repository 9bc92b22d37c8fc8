"""Regression tests for classes of bad or extreme input: each once gave a wrong answer or an unrelated error.

Ground truth is the closed-form spectrum of the cycle C_n, 1 - cos(2 pi j / n), or a dense numpy eigh.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Data, HeteroData

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import cycle_graph, path_graph
from pyg_spectral.exceptions import GraphInputError
from pyg_spectral.operators import DirectedNormalizedAdjacency, build_operator
from pyg_spectral.utils.graph import (component_labels, count_components, count_components_csr, symmetrize_edges,
                                      warn_disconnected)
from pyg_spectral.utils.validation import check_data, check_dtype, check_features, check_graph

N = 10
CYCLE = sorted(1 - math.cos(2 * math.pi * j / N) for j in range(N))  # 0, 0.19, 0.19, 0.69, ...


def dense_eigvals(op) -> np.ndarray:
    return np.linalg.eigvalsh(op.laplacian.to_dense().double().numpy())


# ------------------------------------------------------------------ 1. weight scale
@pytest.mark.parametrize("weight, weight_dtype", [
    (3e38, torch.float32),   # degrees 6e38 overflow float32
    (1e-50, torch.float64),  # 0 once cast to float32
    (1e39, torch.float64),   # inf once cast to float32 (was a LinAlgError)
    (1e300, torch.float64),  # degrees near float64's own limit
    (1e-300, torch.float64),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_weight_scale_does_not_change_the_spectrum(weight, weight_dtype, dtype):
    data = cycle_graph(N)
    w = torch.full((data.edge_index.size(1),), weight, dtype=weight_dtype)
    op = build_operator("laplacian", data.edge_index, w, N, dtype=dtype)
    assert op.dtype == dtype and torch.isfinite(op.laplacian.values()).all()
    np.testing.assert_allclose(dense_eigvals(op), CYCLE, atol=1e-6 if dtype == torch.float32 else 1e-12)
    vals, _ = exact_eigenpairs(Data(edge_index=data.edge_index, edge_weight=w, num_nodes=N), 3)
    np.testing.assert_allclose(vals, CYCLE[:3], atol=1e-12)
    vec, value = op.trivial_mode()  # D^{1/2} 1 from the rescaled degrees: uniform on a regular graph
    assert value == 0.0 and torch.allclose(vec, torch.full((N,), N ** -0.5, dtype=dtype))


def test_mixed_weight_scales_match_dense_reference():
    # A path whose weights alternate between 1e-20 and 1e20 (ratio 1e40, beyond float32's range).
    data = path_graph(8)
    src, dst = data.edge_index
    w = torch.where(torch.minimum(src, dst) % 2 == 0, 1e20, 1e-20).double()
    A = np.zeros((8, 8))
    np.add.at(A, (src.numpy(), dst.numpy()), w.numpy())
    d = A.sum(1)
    ref = np.linalg.eigvalsh(np.eye(8) - A / np.sqrt(np.outer(d, d)))
    for dtype in (torch.float32, torch.float64):
        op = build_operator("laplacian", data.edge_index, w, 8, dtype=dtype)
        np.testing.assert_allclose(dense_eigvals(op), ref, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_untrustworthy_weight_ratios_raise():
    data = cycle_graph(N)
    E = data.edge_index.size(1)
    # beyond float64: relative to 1e300, 1e-300 is zero
    edge01 = (data.edge_index[0] + data.edge_index[1]) == 1  # the edge 0-1, both directions
    w = torch.full((E,), 1e300, dtype=torch.float64)
    w[edge01] = 1e-300
    with pytest.raises(GraphInputError, match="ratio of more than 1e308"):
        build_operator("laplacian", data.edge_index, w, N, dtype=torch.float64)
    # fine in float64, but the normalized entry w_01 / sqrt(d_0 d_1) = 1e-50 underflows float32
    w = torch.ones(E, dtype=torch.float64)
    w[edge01] = 1e-50
    op = build_operator("laplacian", data.edge_index, w, N, dtype=torch.float64)
    assert op.laplacian.to_dense()[0, 1] == pytest.approx(-1e-50 / math.sqrt(1 * 1))
    with pytest.raises(GraphInputError, match="dtype=torch.float64"):
        build_operator("laplacian", data.edge_index, w, N, dtype=torch.float32)


def test_directed_operator_weight_scale():
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])  # directed 4-cycle: K is a permutation, all sigma = 1
    for w in (torch.full((4,), 3e38), torch.full((4,), 1e-50, dtype=torch.float64)):
        K = DirectedNormalizedAdjacency(ei, w, dtype=torch.float32)
        np.testing.assert_allclose(np.linalg.svd(K.scipy().toarray(), compute_uv=False), 1.0, atol=1e-6)


# ------------------------------------------------------------------ 2. zero-weight edges
def two_cycles_with_bridge(bridge_weight: float):
    a = cycle_graph(N).edge_index
    ei = torch.cat([a, a + N, torch.tensor([[0, N], [N, 0]])], 1)
    w = torch.ones(ei.size(1))
    w[-2:] = bridge_weight
    return ei, w


def test_zero_weight_bridge_leaves_two_components():
    ei, w = two_cycles_with_bridge(0.0)
    op = build_operator("laplacian", ei, w, 2 * N)
    assert op.laplacian.values().ne(0).all()  # the operator stores no explicit zero
    assert count_components_csr(op.laplacian.crow_indices(), op.laplacian.col_indices(), op.degree) == (2, 0)
    assert count_components(ei, 2 * N, w) == (2, 0) and component_labels(ei, 2 * N, w)[0] == 2
    with pytest.warns(UserWarning, match="2 connected components: the trivial eigenvalue 0 repeats 2 times"):
        warn_disconnected(2, 0, "0", "1")
    vals, vecs = exact_eigenpairs(Data(edge_index=ei, edge_weight=w, num_nodes=2 * N), 3)
    np.testing.assert_allclose(vals, [0, 0, CYCLE[1]], atol=1e-12)
    # a positive bridge joins them
    ei, w = two_cycles_with_bridge(1.0)
    op = build_operator("laplacian", ei, w, 2 * N)
    assert count_components_csr(op.laplacian.crow_indices(), op.laplacian.col_indices(), op.degree) == (1, 0)


def test_nodes_with_only_zero_weight_edges_are_isolated():
    ei = torch.cat([cycle_graph(N).edge_index, torch.tensor([[0, N, N, N + 1], [N, 0, N + 1, N]])], 1)
    w = torch.ones(ei.size(1))
    w[-4:] = 0.0  # nodes N and N+1 touch only zero-weight edges
    op = build_operator("laplacian", ei, w, N + 2, dtype=torch.float64)
    counts = count_components_csr(op.laplacian.crow_indices(), op.laplacian.col_indices(), op.degree)
    assert counts == (3, 2) == count_components(ei, N + 2, w)
    L = op.laplacian.to_dense()
    assert L[N, N] == 1 and L[N + 1, N + 1] == 1 and L[N].abs().sum() == 1
    with pytest.warns(UserWarning) as record:
        warn_disconnected(*counts, "0", "1")
    message = str(record[0].message)
    assert message.startswith("The graph has 3 connected components (1 with edges and 2 isolated nodes):")
    assert "repeats" not in message  # one component with edges: the trivial eigenvalue is simple


def test_all_zero_weights_or_only_self_loops_raise():
    ei = cycle_graph(N).edge_index
    with pytest.raises(GraphInputError, match="no edges of positive weight"):
        build_operator("laplacian", ei, torch.zeros(ei.size(1)), N)
    loops = torch.arange(4).repeat(2, 1)
    with pytest.raises(GraphInputError, match="no edges of positive weight"):
        build_operator("adjacency", loops, None, 4)
    with pytest.raises(GraphInputError, match="no edges of positive weight"):
        DirectedNormalizedAdjacency(ei, torch.zeros(ei.size(1)))


def test_warn_disconnected_rejects_inconsistent_counts():
    with pytest.raises(ValueError, match="same graph"):
        warn_disconnected(1, 10, "0", "1")


# ------------------------------------------------------------------ 3. parallel edges: one sum rule
def test_parallel_edges_sum_everywhere():
    # Path 0-1-2 with edge 0-1 given twice (weights 1 and 2) equals the simple path with w01 = 3.
    multi = torch.tensor([[0, 0, 1, 1, 1, 2], [1, 1, 0, 0, 2, 1]])
    w_multi = torch.tensor([1.0, 2.0, 2.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    simple = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    w_simple = torch.tensor([3.0, 3.0, 1.0, 1.0], dtype=torch.float64)
    assert check_graph(multi, w_multi, 3)[2] == 3  # symmetric once summed
    ref = build_operator("laplacian", simple, w_simple, 3, dtype=torch.float64).laplacian.to_dense()
    assert torch.allclose(build_operator("laplacian", multi, w_multi, 3, dtype=torch.float64).laplacian.to_dense(),
                          ref, atol=1e-15)
    # directed input, symmetrized: A + A^T, parallel edges summed (0->1 twice, 1->2 once)
    directed = torch.tensor([[0, 0, 1], [1, 1, 2]])
    op = build_operator("laplacian", directed, torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64), 3,
                        symmetrize=True, dtype=torch.float64)
    assert torch.allclose(op.laplacian.to_dense(), ref, atol=1e-15)
    # unweighted: each parallel copy counts 1, with or without symmetrize and explicit unit weights
    a = build_operator("laplacian", directed, None, 3, symmetrize=True, dtype=torch.float64)
    b = build_operator("laplacian", directed, torch.ones(3, dtype=torch.float64), 3, symmetrize=True,
                       dtype=torch.float64)
    c = build_operator("laplacian", torch.tensor([[0, 0, 1, 1, 1, 2], [1, 1, 0, 0, 2, 1]]), None, 3,
                       dtype=torch.float64)
    w2 = torch.tensor([2.0, 2.0, 1.0, 1.0], dtype=torch.float64)
    two = build_operator("laplacian", simple, w2, 3, dtype=torch.float64).laplacian.to_dense()
    for op in (a, b, c):
        assert torch.allclose(op.laplacian.to_dense(), two, atol=1e-15)
    vals, _ = exact_eigenpairs(Data(edge_index=directed, num_nodes=3), 2, symmetrize=True)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(two.numpy())[:2], atol=1e-12)


def test_symmetrize_edges_keeps_huge_weights_finite():
    ei, w = symmetrize_edges(torch.tensor([[0, 1], [1, 2]]), torch.full((2,), 3e38))
    op = build_operator("laplacian", ei, w, 3)  # the sums 6e38 happen after rescaling
    np.testing.assert_allclose(dense_eigvals(op), [0, 1, 2], atol=1e-6)


# ------------------------------------------------------------------ 4. clear errors
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, "float32"])
def test_unsupported_dtypes_are_refused(dtype):
    with pytest.raises(ValueError, match="torch.float32 and torch.float64"):
        check_dtype(dtype)
    with pytest.raises(ValueError, match="torch.float32 and torch.float64"):
        build_operator("laplacian", cycle_graph(N).edge_index, dtype=dtype)


def test_meta_tensors_are_refused():
    ei = cycle_graph(N).edge_index
    with pytest.raises(GraphInputError, match="'meta' device"):
        check_graph(ei.to("meta"), None, N)
    with pytest.raises(GraphInputError, match="edge_weight is on the 'meta' device"):
        check_graph(ei, torch.ones(ei.size(1), device="meta"), N)
    with pytest.raises(GraphInputError, match="data.x is on the 'meta' device"):
        check_features(torch.ones(N, 2, device="meta"), N, torch.device("cpu"))
    with pytest.raises(GraphInputError, match="data.x is on the 'meta' device"):
        check_data(Data(edge_index=ei, x=torch.ones(N, 2, device="meta")))


def test_python_list_edge_index_is_converted():
    data = cycle_graph(N)
    op = build_operator("laplacian", data.edge_index.tolist(), data.edge_weight, N, dtype=torch.float64)
    np.testing.assert_allclose(dense_eigvals(op), CYCLE, atol=1e-12)
    checked = check_data(Data(edge_index=data.edge_index.tolist(), edge_weight=[1.0] * 2 * N, num_nodes=N))
    assert torch.equal(checked.edge_index, data.edge_index) and checked.edge_weight.dtype == torch.float64
    vals, _ = exact_eigenpairs(Data(edge_index=data.edge_index.tolist(), num_nodes=N), 2)
    np.testing.assert_allclose(vals, CYCLE[:2], atol=1e-12)
    with pytest.raises(GraphInputError, match="shape"):
        check_graph([[0, 1, 2]], None, 3)


def test_hetero_data_is_refused_with_a_hint():
    h = HeteroData()
    h["paper"].num_nodes = 4
    h["paper", "cites", "paper"].edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(GraphInputError, match=r"HeteroData is not supported; convert with to_homogeneous\(\)"):
        check_data(h)
    with pytest.raises(GraphInputError, match="HeteroData is not supported"):
        exact_eigenpairs(h, 1)


def test_features_without_columns_or_at_overflowing_scale_are_refused():
    device = torch.device("cpu")
    with pytest.raises(GraphInputError, match="zero feature columns"):
        check_features(torch.zeros(N, 0), N, device)
    with pytest.raises(GraphInputError, match=r"up to 1e\+30 in magnitude.*not the cause.*Standardize"):
        check_features(torch.full((N, 3), 1e30), N, device)
    # float64 training has the room
    x = check_features(torch.full((N, 3), 1e30, dtype=torch.float64), N, device, dtype=torch.float64)
    assert x.dtype == torch.float64
    ok = torch.randn(N, 3) * 1e6
    assert check_features(ok, N, device) is ok


def test_mlp_encoder_refuses_zero_input_channels():
    from pyg_spectral.encoders import MLPEncoder

    with pytest.raises(ValueError, match="at least one input feature"):
        MLPEncoder(0, 4)


def test_negligible_parallel_copy_does_not_refuse_the_edge():
    # Edge 0-1 given three times (1, 1e-16, 1e30): the copy 1e-16 alone would be 1e-46 in the normalized
    # matrix (below float32), but the edge it belongs to is 1; only a whole edge lost to underflow is refused.
    ei = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2], [1, 1, 1, 0, 0, 0, 2, 1]])
    w = torch.tensor([1.0, 1e-16, 1e30, 1.0, 1e-16, 1e30, 1e30, 1e30])
    op = build_operator("laplacian", ei, w, 3)
    np.testing.assert_allclose(dense_eigvals(op), [0, 1, 2], atol=1e-6)  # the path 0-1-2 with equal weights
    K = DirectedNormalizedAdjacency(ei, w, dtype=torch.float32)
    assert torch.isfinite(K.matrix.values()).all() and K.matrix.values().ne(0).all()
