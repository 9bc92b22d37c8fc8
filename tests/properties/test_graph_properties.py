"""Property tests: on random small graphs (trees, stars, complete graphs, barbells, disjoint unions, isolated
nodes, self-loops, parallel and zero-weight edges, weights from 1e-30 to 1e30, directed input) every operator
either refuses the graph with a documented error or equals a dense numpy reference.

The reference pins the library's conventions: parallel edges summed, self-loops and zero-weight edges
ignored, ``symmetrize=True`` meaning :math:`A + A^\\top`, and PyG's isolated-node convention (zero row of the
normalized adjacency, Laplacian diagonal 1).
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

from pyg_spectral import exact_eigenpairs
from pyg_spectral.exceptions import GraphInputError
from pyg_spectral.operators import build_operator
from pyg_spectral.utils.graph import count_components, count_components_csr, warn_disconnected

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: float32 rounds each normalized entry to ~6e-8 relative, so eigenvalues of a <= 20-node graph move < 1e-5
ATOL = {torch.float32: 1e-5, torch.float64: 1e-10}
#: below half of float32's smallest subnormal a value rounds to zero (the operators then refuse the graph)
FLOAT32_ZERO = 2 ** -150


# ------------------------------------------------------------------ strategies
def _family(draw, n: int):
    kind = draw(st.sampled_from(["tree", "star", "complete", "barbell", "path", "cycle", "empty"]))
    if kind == "tree":
        return [(draw(st.integers(0, i - 1)), i) for i in range(1, n)]
    if kind == "star":
        return [(0, i) for i in range(1, n)]
    if kind == "complete":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    if kind == "barbell":
        half = n // 2
        clique = lambda lo, hi: [(i, j) for i in range(lo, hi) for j in range(i + 1, hi)]  # noqa: E731
        return clique(0, half) + clique(half, n) + ([(half - 1, half)] if 0 < half < n else [])
    if kind == "path":
        return [(i, i + 1) for i in range(n - 1)]
    if kind == "cycle":
        return [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)] if n == 2 else []
    return []


weights = st.one_of(
    st.just(1.0),
    st.just(0.0),
    st.builds(lambda m, e: m * 10.0 ** e, st.floats(1.0, 9.99), st.integers(-30, 30)),
)


@st.composite
def graphs(draw, directed: bool = False):
    """``(edge_index [2, E], weights float64 [E] or None, num_nodes)``: a union of 1-2 families, isolated
    nodes, self-loops, parallel copies and zero-weight edges; mirrored unless ``directed``."""
    pairs, offset = [], 0
    for _ in range(draw(st.integers(1, 2))):
        n = draw(st.integers(1, 7))
        pairs += [(a + offset, b + offset) for a, b in _family(draw, n)]
        offset += n
    num_nodes = offset + draw(st.integers(0, 2))  # trailing isolated nodes
    extra = draw(st.lists(st.tuples(st.integers(0, num_nodes - 1), st.integers(0, num_nodes - 1)), max_size=4))
    pairs += extra  # random edges: self-loops and parallel copies among them
    pairs += draw(st.lists(st.sampled_from(pairs), max_size=3)) if pairs else []  # explicit parallel copies
    weighted = draw(st.booleans())
    w = [draw(weights) for _ in pairs] if weighted else None
    if directed:
        pairs = [(b, a) if draw(st.booleans()) else (a, b) for a, b in pairs]
        src, dst = [a for a, _ in pairs], [b for _, b in pairs]
    else:
        src = [a for a, _ in pairs] + [b for _, b in pairs]
        dst = [b for _, b in pairs] + [a for a, _ in pairs]
        w = None if w is None else w + w
    ei = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    return ei, (None if w is None else torch.tensor(w, dtype=torch.float64)), num_nodes


# ------------------------------------------------------------------ reference
def dense_adjacency(ei: torch.Tensor, w, n: int, symmetrize: bool = False) -> np.ndarray:
    """Summed adjacency without self-loops (float64); ``symmetrize``: A + A^T."""
    A = np.zeros((n, n))
    values = np.ones(ei.size(1)) if w is None else w.double().numpy()
    src, dst = ei.numpy()
    keep = src != dst
    np.add.at(A, (src[keep], dst[keep]), values[keep])
    return A + A.T if symmetrize else A


def reference_laplacian(A: np.ndarray) -> np.ndarray:
    """L_sym with PyG's isolated-node convention, computed on A / max(A) (the operator is scale-invariant)."""
    A = A / A.max()
    d = A.sum(1)
    inv = np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)
    return np.eye(len(d)) - inv[:, None] * A * inv[None, :]


def float32_must_refuse(A: np.ndarray) -> bool:
    """Whether some positive normalized entry or rescaled degree is below float32's zero threshold."""
    A = A / A.max()
    d = A.sum(1)
    off = np.abs(reference_laplacian(A * 1.0)[A > 0])
    return bool((off < FLOAT32_ZERO * 4).any() or (d[d > 0] < FLOAT32_ZERO * 4).any())


def build(ei, w, n, dtype, symmetrize=False, name="laplacian"):
    return build_operator(name, ei, None if w is None else w, n, symmetrize=symmetrize, dtype=dtype)


# ------------------------------------------------------------------ properties
@SETTINGS
@given(graph=graphs(), dtype=st.sampled_from([torch.float32, torch.float64]),
       weight_dtype=st.sampled_from([torch.float32, torch.float64]))
def test_operator_refuses_or_matches_dense_reference(graph, dtype, weight_dtype):
    ei, w, n = graph
    w = None if w is None else w.to(weight_dtype)  # 1e-30..1e30 all fit float32
    A = dense_adjacency(ei, w, n)
    try:
        op = build(ei, w, n, dtype)
    except GraphInputError as err:
        if A.max() == 0:
            assert "no edge" in str(err)
        else:
            assert dtype == torch.float32 and float32_must_refuse(A), str(err)
            event("refused: float32 underflow")
        return
    assert A.max() > 0
    positive = A[A > 0]
    event(f"weight ratio {'> 1e30' if positive.max() / positive.min() > 1e30 else '<= 1e30'}")
    L = op.laplacian.to_dense().double().numpy()
    assert np.isfinite(L).all() and np.isfinite(op.degree.double().numpy()).all()
    ref = reference_laplacian(A)
    np.testing.assert_allclose(L, ref, atol=ATOL[dtype], rtol=0)
    np.testing.assert_allclose(np.linalg.eigvalsh(L), np.linalg.eigvalsh(ref), atol=ATOL[dtype], rtol=0)
    # the other operators are affine in the same L
    adj = build(ei, w, n, dtype, name="adjacency").symmetric_matrix().toarray()
    np.testing.assert_allclose(adj, np.eye(n) - ref, atol=ATOL[dtype], rtol=0)
    isolated = int((A.sum(1) == 0).sum())
    if isolated:  # rw entries w_ij / d_i may underflow float32 where the sym ones do not: refused either way
        with pytest.raises(GraphInputError, match="isolated|too wide a range"):
            build(ei, w, n, dtype, name="random_walk")


@SETTINGS
@given(graph=graphs(directed=True))
def test_symmetrize_is_a_plus_a_transpose(graph):
    ei, w, n = graph
    A = dense_adjacency(ei, w, n, symmetrize=True)
    try:
        op = build(ei, w, n, torch.float64, symmetrize=True)
    except GraphInputError:
        assert A.max() == 0
        return
    np.testing.assert_allclose(op.laplacian.to_dense().numpy(), reference_laplacian(A), atol=1e-10, rtol=0)


@SETTINGS
@given(graph=graphs())
def test_undirected_input_is_accepted_and_symmetrize_changes_nothing(graph):
    ei, w, n = graph
    if dense_adjacency(ei, w, n).max() == 0:
        return
    plain = build(ei, w, n, torch.float64).laplacian.to_dense()
    doubled = build(ei, w, n, torch.float64, symmetrize=True).laplacian.to_dense()
    assert torch.allclose(plain, doubled, atol=1e-12, rtol=0)


@SETTINGS
@given(graph=graphs())
def test_component_count_is_that_of_the_positive_weight_pattern(graph):
    ei, w, n = graph
    A = dense_adjacency(ei, w, n)
    expected = connected_components(sp.csr_matrix(A > 0), directed=False)[0]
    expected_isolated = int((A.sum(1) == 0).sum())
    assert count_components(ei, n, w) == (expected, expected_isolated)
    if A.max() == 0:
        return
    op = build(ei, w, n, torch.float64)
    lap = op.laplacian
    counts = count_components_csr(lap.crow_indices(), lap.col_indices(), op.degree)
    assert counts == (expected, expected_isolated)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warn_disconnected(*counts, "0", "1")
    if expected == 1:
        assert not record
        return
    message = str(record[0].message)
    assert int(re.match(r"The graph has (\d+) connected component", message).group(1)) == expected
    if expected_isolated:
        assert f"{expected - expected_isolated} with edges and {expected_isolated} isolated node" in message
    if expected - expected_isolated > 1:
        assert f"repeats {expected - expected_isolated} times" in message


@SETTINGS
@given(graph=graphs(), operator=st.sampled_from(["laplacian", "adjacency"]), dense=st.booleans())
def test_exact_eigenpairs_matches_dense_eigh(graph, operator, dense):
    ei, w, n = graph
    A = dense_adjacency(ei, w, n)
    if A.max() == 0 or n < 2:
        return
    L = reference_laplacian(A)
    ref_vals, ref_vecs = np.linalg.eigh(L if operator == "laplacian" else np.eye(n) - L)
    if operator == "adjacency":
        ref_vals, ref_vecs = ref_vals[::-1], ref_vecs[:, ::-1]
    k = n - 1 if dense else max(1, n // 2)
    vals, vecs = exact_eigenpairs(Data(edge_index=ei, edge_weight=w, num_nodes=n), k, operator,
                                  dense_below=10**6 if dense else 0)
    np.testing.assert_allclose(vals, ref_vals[:k], atol=1e-8, rtol=0)
    M = L if operator == "laplacian" else np.eye(n) - L
    np.testing.assert_allclose(M @ vecs, vecs * vals, atol=1e-7, rtol=0)  # eigenpairs, whatever the basis
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-8, rtol=0)


# ------------------------------------------------------------------ end to end (slow)
@st.composite
def connected_graphs(draw):
    n = draw(st.integers(16, 22))
    pairs = [(draw(st.integers(0, i - 1)), i) for i in range(1, n)]  # a random tree
    pairs += draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=2, max_size=8))
    w = [draw(st.floats(0.1, 10.0)) for _ in pairs]
    src = [a for a, _ in pairs] + [b for _, b in pairs]
    dst = [b for _, b in pairs] + [a for a, _ in pairs]
    return torch.tensor([src, dst]), torch.tensor(w + w, dtype=torch.float64), n


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=connected_graphs())
def test_estimator_matches_exact_eigenpairs(graph):
    from pyg_spectral import NeuralSpectralEmbedding

    ei, w, n = graph
    data = Data(edge_index=ei, edge_weight=w.float(), num_nodes=n)
    ref, _ = exact_eigenpairs(data, 3)
    model = NeuralSpectralEmbedding(3, progress=False, seed=0).fit(data)
    np.testing.assert_allclose(model.eigenvalues_.numpy(), ref, atol=1e-4, rtol=0)
