"""The pyg-spectral CLI: every input format, both outputs, the overwrite rule, bad files."""
from __future__ import annotations

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.cli import main
from pyg_spectral.datasets import grid_graph


@pytest.fixture
def grid():
    return grid_graph(8, 10)


def write_edges(path, data, sep=" ", gz=False):
    ei = data.edge_index
    keep = ei[0] < ei[1]
    lines = ["# a comment"] + [f"{u}{sep}{v}" for u, v in ei[:, keep].t().tolist()]
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def check(vals, vecs, data, k):
    ref_vals, _ = exact_eigenpairs(data, k)
    assert np.abs(np.asarray(vals) - ref_vals).max() <= 1e-3
    assert np.asarray(vecs).shape == (data.num_nodes, k)


@pytest.mark.parametrize("name,sep,gz", [("g.txt", " ", False), ("g.csv", ",", False), ("g.txt.gz", " ", True)])
def test_edge_list_to_pt(tmp_path, grid, name, sep, gz):
    src = tmp_path / name
    write_edges(src, grid, sep, gz)
    out = tmp_path / "pe.pt"
    assert main(["embed", str(src), "--k", "5", "--output", str(out), "--quiet"]) == 0
    res = torch.load(out)
    check(res["eigenvalues"], res["eigenvectors"], grid, 5)
    assert res["k"] == 5 and res["operator"] == "laplacian"


def test_saved_data_and_npy_output(tmp_path, grid):
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    out = tmp_path / "pe.npy"
    assert main(["embed", str(src), "--k", "4", "-o", str(out), "--quiet"]) == 0
    check(np.load(tmp_path / "pe.eigenvalues.npy"), np.load(out), grid, 4)


def test_npz_input(tmp_path, grid):
    src = tmp_path / "g.npz"
    np.savez(src, edge_index=grid.edge_index.numpy(), num_nodes=grid.num_nodes)
    out = tmp_path / "pe.pt"
    assert main(["embed", str(src), "--k", "3", "-o", str(out), "--quiet", "--operator", "lazy_adjacency"]) == 0
    res = torch.load(out)
    ref, _ = exact_eigenpairs(grid, 3, "lazy_adjacency")
    assert np.abs(res["eigenvalues"].numpy() - ref).max() <= 1e-3


def test_refuses_to_overwrite_without_force(tmp_path, grid, capsys):
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    out = tmp_path / "pe.pt"
    out.write_bytes(b"keep me")
    assert main(["embed", str(src), "--k", "3", "-o", str(out), "--quiet"]) == 2
    assert out.read_bytes() == b"keep me"
    assert "--force" in capsys.readouterr().err
    assert main(["embed", str(src), "--k", "3", "-o", str(out), "--quiet", "--force"]) == 0
    assert "eigenvectors" in torch.load(out)
    assert not list(tmp_path.glob(".pe.pt.*"))  # no temporary files left


@pytest.mark.parametrize("content,name,match", [
    (b"0 1\n1 banana\n", "bad.txt", "not numbers"),
    (b"\x1f\x8b\x08garbage", "bad.txt.gz", "cannot read"),
    (b"not a pickle", "bad.pt", "cannot read"),
    (b"PK\x03\x04 broken zip", "bad.npz", "cannot read"),
    (b"0 1\n", "graph.xyz", "unknown input format"),
])
def test_bad_files_give_one_line_errors(tmp_path, capsys, content, name, match):
    src = tmp_path / name
    src.write_bytes(content)
    assert main(["embed", str(src), "--k", "2", "-o", str(tmp_path / "o.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and "Traceback" not in err
    assert not (tmp_path / "o.pt").exists()


def test_missing_file_and_bad_k(tmp_path, grid, capsys):
    assert main(["embed", str(tmp_path / "nope.txt"), "--k", "2", "-o", str(tmp_path / "o.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    assert main(["embed", str(src), "--k", "500", "-o", str(tmp_path / "o.pt"), "--quiet"]) == 2
    assert "smaller than the number of nodes" in capsys.readouterr().err


def test_bad_output_suffix(tmp_path, grid, capsys):
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    assert main(["embed", str(src), "--k", "2", "-o", str(tmp_path / "o.csv")]) == 2
    assert ".pt or .npy" in capsys.readouterr().err


def test_console_script_help():
    exe = shutil.which("pyg-spectral", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe is not None, "the console script is installed by pip install -e ."
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "embed" in out
    out = subprocess.run([exe, "embed", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--force" in out and "--k" in out
