"""Bad input: each case gets a clear error naming the problem, or a documented, tested handling."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from pyg_spectral import GraphInputError, NeuralSpectralEmbedding
from pyg_spectral.datasets import cycle_graph, path_graph


def fit(data, k=2, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("max_steps", 400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeuralSpectralEmbedding(k, **kwargs).fit(data)


def test_empty_graph():
    data = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=0)
    with pytest.raises(GraphInputError, match="empty"):
        fit(data)


def test_graph_without_edges():
    data = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=5)
    with pytest.raises(GraphInputError, match="no edges"):
        fit(data)


@pytest.mark.parametrize("k", [10, 11])
def test_k_not_smaller_than_num_nodes(k):
    with pytest.raises(ValueError, match="smaller than the number of nodes"):
        fit(cycle_graph(10), k=k)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_num_components(k):
    with pytest.raises(ValueError, match="num_components"):
        fit(cycle_graph(10), k=k)


@pytest.mark.parametrize(
    "value,match", [(math.nan, "NaN or infinite"), (math.inf, "NaN or infinite"), (-1.0, "negative")]
)
def test_bad_edge_weights(value, match):
    data = cycle_graph(10)
    w = torch.ones(data.edge_index.size(1))
    w[3] = value
    data.edge_weight = w
    with pytest.raises(GraphInputError, match=match):
        fit(data)


def test_edge_weight_wrong_length():
    data = cycle_graph(10)
    data.edge_weight = torch.ones(3)
    with pytest.raises(GraphInputError, match="edge_weight"):
        fit(data)


@pytest.mark.parametrize("encoder", ["mlp", "gcn"])
def test_nan_features(encoder):
    data = cycle_graph(12)
    data.x = torch.randn(12, 3)
    data.x[4, 1] = math.nan
    with pytest.raises(GraphInputError, match="NaN"):
        fit(data, encoder=encoder)


def test_mlp_needs_features():
    with pytest.raises(GraphInputError, match="data.x is None; encoder_kwargs={'inputs': 'propagated'}"):
        fit(cycle_graph(12), encoder="mlp")


def test_edge_index_out_of_range():
    data = Data(edge_index=torch.tensor([[0, 1, 1, 7], [1, 0, 7, 1]]), num_nodes=5)
    with pytest.raises(GraphInputError, match="outside"):
        fit(data, k=1)


def test_edge_index_negative():
    data = Data(edge_index=torch.tensor([[0, 1, -1], [1, 0, 0]]), num_nodes=5)
    with pytest.raises(GraphInputError):
        fit(data, k=1)


def test_edge_index_wrong_dtype():
    data = Data(edge_index=torch.tensor([[0.0, 1.0], [1.0, 0.0]]), num_nodes=3)
    with pytest.raises(GraphInputError, match="integer"):
        fit(data, k=1)


def test_edge_index_wrong_shape():
    data = Data(edge_index=torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]]), num_nodes=3)
    with pytest.raises(GraphInputError, match=r"shape \[2, num_edges\]"):
        fit(data, k=1)


def test_missing_edge_index():
    with pytest.raises(GraphInputError, match="edge_index"):
        fit(Data(x=torch.randn(3, 2)), k=1)


def test_directed_input_raises_with_hint():
    # A directed cycle: every edge present in one direction only.
    n = 12
    src = torch.arange(n)
    data = Data(edge_index=torch.stack([src, (src + 1) % n]), num_nodes=n)
    with pytest.raises(GraphInputError, match="symmetrize=True"):
        fit(data)


def test_directed_input_symmetrized_matches_undirected():
    n = 12
    src = torch.arange(n)
    directed = Data(edge_index=torch.stack([src, (src + 1) % n]), num_nodes=n)
    a = fit(directed, k=4, symmetrize=True, max_steps=3000)
    b = fit(Data(edge_index=to_undirected(directed.edge_index), num_nodes=n), k=4, max_steps=3000)
    assert torch.allclose(a.eigenvalues_, b.eigenvalues_, atol=1e-5)


def test_disconnected_graph_warns_with_component_count():
    # Two disjoint cycles: the trivial Laplacian eigenvalue 0 repeats twice.
    a, b = cycle_graph(10), cycle_graph(14)
    data = Data(edge_index=torch.cat([a.edge_index, b.edge_index + 10], 1), num_nodes=24)
    with pytest.warns(UserWarning, match="2 connected components.*repeats 2 times"):
        model = NeuralSpectralEmbedding(4, progress=False, max_steps=4000).fit(data)
    # Documented handling: the eigenvalues are still right, 0 appears twice.
    assert torch.allclose(model.eigenvalues_[:2], torch.zeros(2, dtype=torch.float64), atol=1e-4)


def test_isolated_nodes_follow_pyg_convention():
    base = path_graph(10)
    data = Data(edge_index=base.edge_index, num_nodes=12)  # nodes 10 and 11 have degree 0
    with pytest.warns(UserWarning, match=r"3 connected components \(1 with edges and 2 isolated nodes\)"):
        model = NeuralSpectralEmbedding(3, progress=False, max_steps=4000).fit(data)
    # Path-graph Laplacian eigenvalues 1 - cos(pi j / 9) plus two isolated eigenvalues 1.
    expected = sorted([1 - math.cos(math.pi * j / 9) for j in range(10)] + [1.0, 1.0])[:3]
    assert torch.allclose(model.eigenvalues_, torch.tensor(expected, dtype=torch.float64), atol=1e-4)
    assert torch.isfinite(model.embedding_).all()


def test_random_walk_rejects_isolated_nodes():
    data = Data(edge_index=path_graph(10).edge_index, num_nodes=12)
    with pytest.raises(GraphInputError, match="isolated"):
        fit(data, operator="random_walk")


def test_tensors_on_different_devices():
    data = cycle_graph(10)
    data.x = torch.randn(10, 3, device="meta")  # the only second device a CPU machine has
    with pytest.raises(GraphInputError, match="'meta' device"):
        fit(data)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"operator": "laplace"}, "Unknown operator"),
        ({"loss": "lora2"}, "Unknown loss"),
        ({"nesting": "both"}, "Unknown nesting"),
        ({"encoder": "transformer"}, "Unknown encoder"),
        ({"max_steps": 0}, "max_steps"),
        ({"tol": -1.0}, "tol"),
        ({"n_oversamples": -2}, "n_oversamples"),
        ({"filter_degree": 0}, "filter_degree"),
        ({"dtype": torch.int64}, "dtype"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(cycle_graph(10), **kwargs)


def test_unknown_set_params():
    with pytest.raises(ValueError, match="Unknown parameter"):
        NeuralSpectralEmbedding(2).set_params(num_component=3)


def test_omm_rejects_non_psd_operator():
    with pytest.raises(ValueError, match="PSD"):
        fit(cycle_graph(10), loss="nested_omm", operator="adjacency")


def test_adjacency_negative_spectrum_explains_collapse():
    # The EVD form of NestedLoRA learns only positive eigenvalues. A bipartite
    # graph (even cycle) has a spectrum symmetric about 0, so asking for more
    # components than positive eigenvalues collapses: a clear error, not NaN.
    with pytest.raises(RuntimeError, match="lazy_adjacency"):
        fit(cycle_graph(8), k=6, operator="adjacency", n_oversamples=0, max_steps=2000)


def test_transform_before_fit():
    with pytest.raises(ValueError, match="not fitted"):  # NotFittedError: a ValueError and an AttributeError
        NeuralSpectralEmbedding(2).transform()


def test_embedding_encoder_is_transductive():
    model = fit(cycle_graph(10), k=2)
    with pytest.raises(ValueError, match="transductive"):
        model.transform(cycle_graph(12))


def test_symmetry_check_on_multigraphs_and_weights():
    from pyg_spectral.utils.validation import _is_symmetric

    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        src = torch.randint(0, 6, (15,), generator=gen)
        dst = torch.randint(0, 6, (15,), generator=gen)
        ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
        w = torch.randint(1, 4, (15,), generator=gen).double().repeat(2)
        if trial % 3 == 1:
            w[trial % 30] += 1.0  # breaks the weight symmetry (unless on a self-loop)
        if trial % 3 == 2:
            ei = ei[:, 1:]  # drops one direction of an edge
            w = w[1:]
        for weight in (None, w):
            # reference: the dense (multi-edges summed) adjacency equals its transpose
            dense = torch.zeros(6, 6, dtype=torch.float64).index_put_(
                (ei[0], ei[1]), torch.ones(ei.size(1), dtype=torch.float64) if weight is None else weight,
                accumulate=True)
            # unweighted: weight 1 per edge, so parallel edges count (the Laplacian sums them)
            assert _is_symmetric(ei, weight, 6) == torch.equal(dense, dense.T)
    # On weighted multigraphs PyG's is_undirected depends on the order of parallel edges (it sorts by index
    # only): this symmetric multigraph is reported directed there, not here.
    ei = torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]])
    w = torch.tensor([1.0, 2.0, 2.0, 1.0])
    assert _is_symmetric(ei, w, 2)
    # Unweighted multigraphs: two copies of 0->1 against one 1->0 is not symmetric once summed.
    assert not _is_symmetric(torch.tensor([[0, 0, 1], [1, 1, 0]]), None, 2)
    assert _is_symmetric(torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]]), None, 2)


def test_component_labels_same_for_sorted_and_shuffled_edges():
    # Sorted rows take a sort-free CSR path; any order must give the same labels.
    from pyg_spectral.utils.graph import component_labels

    ei = torch.cat([cycle_graph(7).edge_index, path_graph(5).edge_index + 7, torch.tensor([[13], [14]])], 1)
    ei = torch.cat([ei, ei.flip(0)], 1)
    order = torch.argsort(ei[0] * 100 + ei[1])
    sorted_ei = ei[:, order]
    shuffled = ei[:, torch.randperm(ei.size(1), generator=torch.Generator().manual_seed(0))]
    num_a, labels_a = component_labels(sorted_ei, 16)  # node 12 is isolated; 13-14 an edge; 15 isolated
    num_b, labels_b = component_labels(shuffled, 16)
    assert num_a == num_b == 5
    assert (labels_a == labels_b).all()
    assert len(set(labels_a[:7])) == 1 and len(set(labels_a[7:12])) == 1 and labels_a[13] == labels_a[14]


def test_zero_weight_bridge_warns_two_components():
    # A zero-weight edge is no edge: the operator sees two cycles, and the warning says so.
    c = cycle_graph(10).edge_index
    ei = torch.cat([c, c + 10, torch.tensor([[0, 10], [10, 0]])], 1)
    w = torch.ones(ei.size(1))
    w[-2:] = 0.0
    with pytest.warns(UserWarning, match="2 connected components: the trivial eigenvalue 0 repeats 2 times"):
        model = NeuralSpectralEmbedding(3, progress=False, max_steps=4000).fit(
            Data(edge_index=ei, edge_weight=w, num_nodes=20))
    assert model.n_connected_components_ == 2
    assert torch.allclose(model.eigenvalues_[:2], torch.zeros(2, dtype=torch.float64), atol=1e-4)


@pytest.mark.parametrize("weight", [3e38, 1e-30])
def test_extreme_uniform_weights_learn_the_unweighted_spectrum(weight):
    # The normalized Laplacian ignores a common weight scale; 3e38 once overflowed float32 degrees (and
    # 1e-50 in float64 vanished in the cast), giving eigenvalues [1, 1] for a cycle.
    data = cycle_graph(10)
    data.edge_weight = torch.full((data.edge_index.size(1),), weight)
    model = NeuralSpectralEmbedding(2, progress=False, max_steps=4000).fit(data)
    expected = torch.tensor([0.0, 1 - math.cos(2 * math.pi / 10)], dtype=torch.float64)
    assert torch.allclose(model.eigenvalues_, expected, atol=1e-4)


def test_half_precision_is_refused_with_the_supported_dtypes():
    with pytest.raises(ValueError, match="torch.float32 and torch.float64"):
        NeuralSpectralEmbedding(2, progress=False, dtype=torch.float16).fit(cycle_graph(10))
