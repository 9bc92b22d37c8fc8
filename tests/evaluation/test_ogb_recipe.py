"""benchmarks/ogb/spectral_recipe.py: argument parsing over the config file, data path checks, one run end to end
on a tiny OGB-format export, the paper's rows only on ogbn-products, Correct & Smooth on a planted partition."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from pyg_spectral.datasets import planted_partition_graph
from pyg_spectral.evaluation import export_ogb_node_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ogb" / "spectral_recipe.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("spectral_recipe_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_export(root: Path, n: int = 200, blocks: int = 4, name: str = "tiny-toy"):
    """A planted partition with 16 noisy features that carry the block, exported in OGB's raw layout."""
    data = planted_partition_graph(n, blocks, avg_degree=8.0, mixing=0.05, seed=0)
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(blocks, 16, generator=gen)
    data.x = centers[data.y] + 0.8 * torch.randn(n, 16, generator=gen)
    perm = torch.randperm(n, generator=gen)
    split = {"train": perm[: n // 4], "valid": perm[n // 4: n // 2], "test": perm[n // 2:]}
    meta = export_ogb_node_dataset(data, str(root), name, split)
    path = root / "meta.json"
    path.write_text(json.dumps(meta))
    return path


def test_defaults_are_the_products_protocol(recipe):
    args = recipe.parse_args(["--root", "DIR", "--device", "cuda"])
    assert args.dataset == "ogbn-products" and args.operator == "laplacian" and args.losses == ["nested_omm"]
    assert (args.hidden_channels, args.num_layers, args.projector) == (2048, 11, True)
    assert (args.batch_size, args.epochs, args.lr_schedule) == (16384, 20, "cosine")
    assert args.correct_and_smooth is True
    assert recipe.num_steps(args, 2449029) == 20 * 150  # ceil(2449029 / 16384) = 150 steps per epoch


def test_flags_override_the_config(recipe, tmp_path):
    args = recipe.parse_args(["--dataset", "Cora", "--hidden-channels", "64", "--num-layers", "2", "--losses",
                              "nested_omm", "nested_lora", "--no-correct-and-smooth", "--batch-size", "0",
                              "--max-steps", "7", "--baselines", "raw"])
    assert (args.dataset, args.hidden_channels, args.num_layers) == ("Cora", 64, 2)
    assert args.losses == ["nested_omm", "nested_lora"] and args.correct_and_smooth is False
    assert recipe.num_steps(args, 10**6) == 7 and args.baselines == ["raw"]
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"dataset": "Cora", "k": 4}))
    with pytest.raises(SystemExit):  # a config without the other settings
        recipe.parse_args(["--config", str(config)])


@pytest.mark.parametrize("argv", [["--k", "0"], ["--batch-size", "-1"], ["--losses", "nested_sgd"],
                                  ["--config", "/nonexistent/config.json"], ["--max-steps", "0"]])
def test_bad_arguments_are_refused(recipe, argv, capsys):
    with pytest.raises(SystemExit):
        recipe.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_data_path_checks(recipe, tmp_path):
    with pytest.raises(FileNotFoundError, match="--root is required"):
        recipe.load_data(recipe.parse_args([]))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        recipe.load_data(recipe.parse_args(["--root", str(tmp_path / "missing")]))
    with pytest.raises(FileNotFoundError, match="--meta-dict"):
        recipe.load_data(recipe.parse_args(["--dataset", "x", "--meta-dict", str(tmp_path / "none.json")]))
    with pytest.raises(ValueError, match="unknown dataset"):
        recipe.load_data(recipe.parse_args(["--dataset", "ogbn-nonexistent"]))
    with pytest.raises(SystemExit, match="--root is required"):  # the CLI prints the message, no traceback
        recipe.main([])


def test_one_run_end_to_end_on_a_tiny_export(recipe, tmp_path):
    meta = _tiny_export(tmp_path)
    out = tmp_path / "result.md"
    argv = ["--dataset", "tiny-toy", "--meta-dict", str(meta), "--k", "4", "--n-oversamples", "4",
            "--hidden-channels", "16", "--num-layers", "2", "--batch-size", "64", "--max-steps", "4",
            "--eval-every", "2", "--eval-size", "64", "--losses", "nested_omm", "nested_lora", "--baselines", "raw",
            "exact", "--output", str(out), "--no-progress"]
    assert recipe.main(argv) == 0
    text = out.read_text()
    for row in ("raw features", "exact eigenvectors", "nested_omm, learned embedding (k=4)",
                "nested_omm, representation (d=16)", "nested_lora, learned embedding"):
        assert row in text
    assert "published" not in text  # the paper's numbers are for ogbn-products only
    args = recipe.parse_args(argv)
    data, split, evaluator, _ = recipe.load_data(args)
    assert data.num_nodes == 200 and not recipe.is_products(args, data)
    run = recipe.fit(args, data, "nested_omm", 0)
    assert run["diverged"] is None and run["steps"] == 4
    assert run["embedding"].shape == (200, 4) and run["representation"].shape == (200, 16)
    scores = recipe.probe(args, data, split, evaluator, {"embedding": run["representation"]})
    assert 0.0 <= scores["test"][0] <= 1.0 and 0.0 <= scores["cs_test"][0] <= 1.0


def test_paper_rows_only_for_products_as_released(recipe):
    from torch_geometric.data import Data

    args = recipe.parse_args(["--root", "DIR"])
    fake = Data(num_nodes=2449029)
    fake.released_num_edges = 123718280
    assert recipe.is_products(args, fake)
    fake.released_num_edges = 1000
    assert not recipe.is_products(args, fake)
    args.dataset = "Cora"
    fake.released_num_edges = 123718280
    assert not recipe.is_products(args, fake)


def test_cs_keeps_or_improves_the_probe_on_a_planted_partition(recipe, tmp_path):
    args = recipe.parse_args(["--dataset", "tiny-toy", "--meta-dict", str(_tiny_export(tmp_path)), "--no-progress"])
    data, split, evaluator, _ = recipe.load_data(args)
    scores = recipe.probe(args, data, split, evaluator, {"features": data.x})
    assert all(0.0 <= s <= 1.0 for s in scores["test"] + scores["cs_test"])
    assert scores["cs_test"][0] >= scores["test"][0]


def test_products_like_graph_has_power_law_degrees_and_class_structure():
    spec = importlib.util.spec_from_file_location("products_like_bench", SCRIPT.with_name("products_like.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from torch_geometric.utils import is_undirected

    data = module.products_like_graph(5000, num_classes=10, avg_degree=10.0, mixing=0.2, seed=0)
    assert data.x.shape == (5000, 100) and data.y.shape == (5000, 1) and is_undirected(data.edge_index)
    deg = torch.bincount(data.edge_index[0], minlength=5000).float()
    assert 7.0 <= float(deg.mean()) <= 11.0
    assert float(deg.max()) >= 8 * float(deg.median())  # a heavy tail, unlike an Erdős–Rényi graph
    y = data.y.view(-1)
    same = (y[data.edge_index[0]] == y[data.edge_index[1]]).float().mean()
    assert float(same) >= 0.75  # 20% mixing: about 80% of edges inside a class
    # features carry the class: class means are far apart relative to their standard error
    means = torch.stack([data.x[y == c].mean(0) for c in range(3)])
    assert float((means[0] - means[1]).norm()) > 1.0


def test_isolated_nodes_with_the_edge_sampler_get_the_encoders_embedding(recipe, tmp_path):
    from torch_geometric.data import Data

    data = planted_partition_graph(120, 3, avg_degree=8.0, mixing=0.05, seed=0)
    n = 130  # 10 isolated nodes appended, as CiteSeer's 48
    y = torch.cat([data.y, torch.arange(10) % 3])
    x = torch.nn.functional.one_hot(y, 3).float() + 0.3 * torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
    graph = Data(edge_index=data.edge_index, x=x, y=y.view(-1, 1), num_nodes=n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    meta = export_ogb_node_dataset(graph, str(tmp_path), "iso-toy", {"train": perm[:40], "valid": perm[40:80],
                                                                     "test": perm[80:]})
    (tmp_path / "m.json").write_text(json.dumps(meta))
    args = recipe.parse_args(["--dataset", "iso-toy", "--meta-dict", str(tmp_path / "m.json"), "--k", "3",
                              "--n-oversamples", "3", "--hidden-channels", "8", "--num-layers", "2", "--batch-size",
                              "32", "--max-steps", "3", "--eval-every", "3", "--eval-size", "32", "--no-progress"])
    data, split, evaluator, _ = recipe.load_data(args)
    train, kept = recipe.training_graph(args, data)
    assert train.num_nodes == 120 and kept.numel() == 120
    run = recipe.fit(args, data, "nested_omm", 0)
    assert run["diverged"] is None and run["trained_on"] == 120
    assert run["embedding"].shape == (130, 3) and torch.isfinite(run["embedding"]).all()
    assert run["representation"].shape == (130, 8)


def test_train_nodes_lcc_trains_on_the_largest_component_and_features_rows(recipe, tmp_path):
    from torch_geometric.data import Data

    big = planted_partition_graph(120, 3, avg_degree=8.0, mixing=0.05, seed=0)
    # a second component (a path on 10 nodes): the LCC is the planted partition
    path = torch.stack([torch.arange(120, 129), torch.arange(121, 130)])
    edge_index = torch.cat([big.edge_index, path, path.flip(0)], 1)
    n = 130
    y = torch.cat([big.y, torch.arange(10) % 3])
    x = torch.nn.functional.one_hot(y, 3).float() + 0.3 * torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
    graph = Data(edge_index=edge_index, x=x, y=y.view(-1, 1), num_nodes=n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    meta = export_ogb_node_dataset(graph, str(tmp_path), "two-toy", {"train": perm[:40], "valid": perm[40:80],
                                                                     "test": perm[80:]})
    (tmp_path / "m.json").write_text(json.dumps(meta))
    out = tmp_path / "r.md"
    argv = ["--dataset", "two-toy", "--meta-dict", str(tmp_path / "m.json"), "--k", "3", "--n-oversamples", "3",
            "--hidden-channels", "8", "--num-layers", "2", "--batch-size", "32", "--max-steps", "3",
            "--eval-every", "3", "--eval-size", "32", "--no-progress", "--train-nodes", "lcc", "--with-features",
            "--cs-settings", "select", "--losses", "nested_omm", "--baselines", "raw", "exact", "--output", str(out)]
    args = recipe.parse_args(argv)
    assert (args.train_nodes, args.with_features, args.cs_settings) == ("lcc", True, "select")
    data, split, evaluator, _ = recipe.load_data(args)
    train, kept = recipe.training_graph(args, data)
    assert torch.equal(kept, torch.arange(120)) and train.num_nodes == 120
    run = recipe.fit(args, data, "nested_omm", 0)
    assert run["trained_on"] == 120 and run["embedding"].shape == (130, 3)
    assert recipe.main(argv) == 0
    text = out.read_text()
    for row in ("features + exact eigenvectors", "nested_omm, features + learned embedding (k=3)",
                "largest connected component", "selected on valid"):
        assert row in text
    with pytest.raises(SystemExit):
        recipe.parse_args(argv[:-2] + ["--train-nodes", "biggest"])
