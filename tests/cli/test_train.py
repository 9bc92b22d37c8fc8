"""``pyg-spectral train`` / ``python -m pyg_spectral.train``: names, help, flags in errors, rank-0 errors."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.cli import build_parser, main
from pyg_spectral.cli.train import build_parser as train_parser
from pyg_spectral.datasets import sbm_graph
from pyg_spectral.metrics import subspace_distance

ROOT = Path(__file__).resolve().parents[2]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_help_names_each_program(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert capsys.readouterr().out.startswith("usage: pyg-spectral train ")
    out = subprocess.run([sys.executable, "-m", "pyg_spectral.train", "--help"], capture_output=True, text=True,
                         env=_env(), cwd=ROOT, check=True).stdout
    assert out.startswith("usage: python -m pyg_spectral.train ")


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [parser, train_parser(), *sub.choices.values()]


@pytest.mark.parametrize("index", range(4))
def test_every_option_has_help_and_its_default(index):
    parser = _subparsers()[index]
    text = parser.format_help()
    assert "``" not in text  # no RST markup in terminal help
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        assert action.help, action.dest
        if not action.required and action.option_strings:
            formatted = parser._get_formatter()._expand_help(action)
            assert "default" in formatted, (action.dest, formatted)


def test_dataset_is_case_insensitive():
    for text in ("cora", "Cora", "CORA"):
        assert train_parser().parse_args(["--dataset", text, "--k", "2", "-o", "x.pt"]).dataset == "Cora"
    assert train_parser().parse_args(["--dataset", "citeseer", "--k", "2", "-o", "x.pt"]).dataset == "CiteSeer"
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--dataset", "pubmed", "--k", "2", "-o", "x.pt"])


def test_demo_accepts_the_same_spelling():
    from pyg_spectral.demo import parse_args

    assert parse_args(["--dataset", "cora"]).dataset == "Cora"


def test_errors_name_the_flag(tmp_path, capsys):
    assert main(["train", "--dataset", "cora", "--k", "5000", "-o", str(tmp_path / "o.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyg-spectral train: error: --k=5000 must be smaller") and "num_components" not in err


def test_errors_print_on_every_rank_with_the_rank(tmp_path, capsys, monkeypatch):
    # under torchrun the first rank to exit gets the others killed: a message left to rank 0 could be lost
    out = tmp_path / "o.pt"
    out.write_bytes(b"x")
    args = ["train", "--dataset", "cora", "--k", "4", "-o", str(out)]
    monkeypatch.setenv("WORLD_SIZE", "2")
    for r in ("0", "1"):
        monkeypatch.setenv("RANK", r)
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"pyg-spectral train: error [rank {r}]: ") and "exists; pass --force" in err
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("pyg-spectral train: error: ")


@pytest.fixture(scope="module")
def sbm_file(tmp_path_factory):
    data = sbm_graph([60] * 4, 0.3, 0.01, seed=0)
    data.x = torch.nn.functional.one_hot(data.y, 4).float()
    path = tmp_path_factory.mktemp("g") / "sbm.pt"
    torch.save(data, path)
    return data, path


@pytest.mark.slow
def test_train_one_process_meets_ground_truth(sbm_file, tmp_path):
    data, path = sbm_file
    out = tmp_path / "o.pt"
    rc = main(["train", str(path), "--k", "4", "--encoder", "embedding", "--batch-size", "240", "--eval-size",
               "240", "--max-steps", "3000", "--tol", "1e-4", "--lr", "0.05", "--quiet", "-o", str(out)])
    assert rc == 0
    res = torch.load(out, weights_only=True)
    ref, _ = exact_eigenpairs(data, 4)
    assert np.abs(res["eigenvalues"].numpy() - ref).max() <= 1e-2
    assert res["settings"]["k"] == 4 and "_names" not in res["settings"]


def test_lcc_keeps_the_largest_component(tmp_path):
    out = tmp_path / "o.pt"
    assert main(["train", "--dataset", "cora", "--lcc", "--k", "4", "--max-steps", "1", "--eval-every", "1",
                 "--quiet", "-o", str(out)]) == 0
    assert torch.load(out, weights_only=True)["num_nodes"] == 2485


def test_an_mlp_on_propagated_inputs_learns_a_featureless_graph(tmp_path):
    data = sbm_graph([60] * 4, 0.3, 0.01, seed=0)  # no data.x: a plain MLP has nothing to read
    path, out = tmp_path / "g.pt", tmp_path / "o.pt"
    torch.save(data, path)
    rc = main(["train", str(path), "--k", "4", "--encoder", "mlp", "--inputs", "propagated", "--batch-size", "120",
               "--eval-size", "240", "--max-steps", "1000", "--tol", "1e-4", "--quiet", "-o", str(out)])
    assert rc == 0
    res = torch.load(out, weights_only=True)
    lam, vec = exact_eigenpairs(data, 4)
    # mini-batches of half the graph, 1000 steps: 3.2e-3 and 1.9e-3 when written (the Ritz-started skip; 4.5e-3 and
    # 4.0e-3 without it)
    assert np.abs(res["eigenvalues"].numpy() - lam).max() <= 1e-2
    assert subspace_distance(res["eigenvectors"], vec) <= 1e-2
    assert res["settings"]["inputs"] == "propagated"


def test_a_gnn_on_propagated_inputs_learns_a_featureless_graph(tmp_path):
    """The same graph with GraphSAGE on neighbor-sampled batches; its Ritz start is kept in the head's basis, so a
    few steps suffice."""
    data = sbm_graph([60] * 4, 0.3, 0.01, seed=0)
    path, out = tmp_path / "g.pt", tmp_path / "o.pt"
    torch.save(data, path)
    rc = main(["train", str(path), "--k", "4", "--encoder", "sage", "--inputs", "propagated", "--batch-size", "120",
               "--sampler", "neighbor", "--eval-size", "240", "--max-steps", "20", "--quiet", "-o", str(out)])
    assert rc == 0
    res = torch.load(out, weights_only=True)
    lam, vec = exact_eigenpairs(data, 4)
    assert np.abs(res["eigenvalues"].numpy() - lam).max() <= 1e-3
    assert subspace_distance(res["eigenvectors"], vec) <= 1e-3


def test_propagated_inputs_need_a_network(tmp_path, capsys):
    assert main(["train", "--dataset", "cora", "--k", "4", "--encoder", "embedding", "--inputs", "propagated",
                 "--quiet", "-o", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err
    assert ("--inputs propagated builds the inputs of a network: use --encoder mlp or a GNN "
            "(got --encoder embedding)") in err
