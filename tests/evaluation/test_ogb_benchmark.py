"""benchmarks/ogb/node_classification.py offline: an export of Cora under the ogbn-arxiv name, the cache key."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from pyg_spectral.datasets import load_planetoid
from pyg_spectral.evaluation import export_ogb_node_dataset, planetoid_split

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ogb" / "node_classification.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("node_classification_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cache_key_changes_with_the_graph_and_every_setting(bench):
    import argparse

    cora, citeseer = load_planetoid("Cora")[0], load_planetoid("CiteSeer")[0]
    args = argparse.Namespace(dataset="x", root="r", meta_dict=None, k=8, encoder="embedding", operator="laplacian",
                              device=None, batch_size=None, max_steps=10, tol=1e-4, seed=0, seeds=3, probe="linear",
                              with_features=False, cache="c", output=None)
    _, key_cora = bench.cache_key(cora, args)
    _, key_citeseer = bench.cache_key(citeseer, args)
    assert key_cora != key_citeseer  # same --dataset name, other graph
    args.seeds = 7  # probe-only: same embedding
    assert bench.cache_key(cora, args)[1] == key_cora
    args.tol = 1e-5
    assert bench.cache_key(cora, args)[1] != key_cora


def test_arxiv_named_export_of_cora_runs_without_arxiv_anchors(bench, tmp_path, capsys):
    data = load_planetoid("Cora")[0]
    export_ogb_node_dataset(data, str(tmp_path / "root"), "ogbn-arxiv", planetoid_split(data))
    argv = ["--dataset", "ogbn-arxiv", "--root", str(tmp_path / "root"), "--k", "4", "--max-steps", "20",
            "--seeds", "1", "--cache", str(tmp_path / "cache"), "--output", str(tmp_path / "t.md")]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "spectral k=4" in out and "(published)" not in out
    assert bench.main(argv) == 0  # second run reads the cache safely
    assert "using cached embedding" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    real = torch.zeros(2, 1166243, dtype=torch.long)
    assert bench.anchors_for("ogbn-arxiv", type(data)(edge_index=real, num_nodes=169343))
