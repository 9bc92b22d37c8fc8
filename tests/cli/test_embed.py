"""``pyg-spectral embed``: every input format, both outputs, the overwrite rule, output files."""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.cli import main
from pyg_spectral.datasets import grid_graph


@pytest.fixture
def grid():
    return grid_graph(8, 10)


def write_edges(path, data, sep=" ", gz=False, both=False):
    ei = data.edge_index
    keep = ei[0] != ei[1] if both else ei[0] < ei[1]
    text = "\n".join(["# a comment"] + [f"{u}{sep}{v}" for u, v in ei[:, keep].t().tolist()]) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def check(vals, vecs, data, k):
    ref_vals, _ = exact_eigenpairs(data, k)
    assert np.abs(np.asarray(vals) - ref_vals).max() <= 1e-3
    assert np.asarray(vecs).shape == (data.num_nodes, k)


@pytest.mark.parametrize("name,sep,gz", [("g.txt", " ", False), ("g.csv", ",", False), ("g.txt.gz", " ", True),
                                         ("G.TXT.GZ", " ", True)])
def test_edge_list_to_pt(tmp_path, grid, name, sep, gz):
    src = tmp_path / name
    write_edges(src, grid, sep, gz)
    out = tmp_path / "pe.pt"
    assert main(["embed", str(src), "--k", "5", "--output", str(out), "--quiet", "--symmetrize"]) == 0
    res = torch.load(out)
    check(res["eigenvalues"], res["eigenvectors"], grid, 5)
    assert res["k"] == 5 and res["operator"] == "laplacian"


def test_symmetric_edge_list_needs_no_flag(tmp_path, grid):
    src = tmp_path / "g.txt"
    write_edges(src, grid, both=True)
    out = tmp_path / "pe.pt"
    assert main(["embed", str(src), "--k", "4", "-o", str(out), "--quiet"]) == 0
    check(torch.load(out)["eigenvalues"], torch.load(out)["eigenvectors"], grid, 4)


def test_directed_edge_list_is_refused_with_a_hint(tmp_path, grid, capsys):
    src = tmp_path / "g.txt"
    write_edges(src, grid)  # each undirected edge once
    assert main(["embed", str(src), "--k", "4", "-o", str(tmp_path / "o.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "directed" in err and "--symmetrize" in err and "symmetrize=True" not in err
    assert not (tmp_path / "o.pt").exists()


def test_saved_data_and_npy_output(tmp_path, grid, capsys):
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    out = tmp_path / "ev.npy"
    assert main(["embed", str(src), "--k", "4", "-o", str(out)]) == 0
    # the help's promise: -o ev.npy writes ev.npy and ev.eigenvalues.npy
    assert sorted(p.name for p in tmp_path.glob("ev*")) == ["ev.eigenvalues.npy", "ev.npy"]
    check(np.load(tmp_path / "ev.eigenvalues.npy"), np.load(out), grid, 4)
    assert "ev.eigenvalues.npy" in capsys.readouterr().out
    assert main(["embed", str(src), "--k", "4", "-o", str(out), "--quiet"]) == 2  # both files count as outputs
    os.remove(out)
    assert main(["embed", str(src), "--k", "4", "-o", str(out), "--quiet"]) == 2
    assert "ev.eigenvalues.npy exists" in capsys.readouterr().err


def test_npz_input(tmp_path, grid):
    src = tmp_path / "g.npz"
    np.savez(src, edge_index=grid.edge_index.numpy(), num_nodes=grid.num_nodes)
    out = tmp_path / "pe.pt"
    assert main(["embed", str(src), "--k", "3", "-o", str(out), "--quiet", "--operator", "lazy_adjacency"]) == 0
    res = torch.load(out)
    ref, _ = exact_eigenpairs(grid, 3, "lazy_adjacency")
    assert np.abs(res["eigenvalues"].numpy() - ref).max() <= 1e-3


def test_duplicate_lines_sum_like_pt_and_npz(tmp_path, grid):
    """One rule in every format: a repeated edge counts twice (the operators sum parallel edges)."""
    ei = grid.edge_index
    dup = torch.cat([ei, ei[:, :6], ei[:, :6].flip(0)], dim=1)  # three edges listed twice in each direction
    results = []
    txt = tmp_path / "g.txt"
    txt.write_text("".join(f"{u} {v}\n" for u, v in dup.t().tolist()))
    npz = tmp_path / "g.npz"
    np.savez(npz, edge_index=dup.numpy())
    pt = tmp_path / "g.pt"
    torch.save(type(grid)(edge_index=dup, num_nodes=grid.num_nodes), pt)
    for src in (txt, npz, pt):
        out = tmp_path / f"{src.suffix[1:]}.pt"
        assert main(["embed", str(src), "--k", "4", "-o", str(out), "--quiet"]) == 0
        results.append(torch.load(out)["eigenvalues"].numpy())
    from torch_geometric.utils import coalesce

    summed, weight = coalesce(dup, torch.ones(dup.size(1)), num_nodes=grid.num_nodes, reduce="sum")
    assert weight.max() > 1
    weighted = type(grid)(edge_index=summed, edge_weight=weight, num_nodes=grid.num_nodes)
    ref, _ = exact_eigenpairs(weighted, 4)
    for vals in results:
        assert np.abs(vals - ref).max() <= 1e-3


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


def test_outputs_respect_the_umask(tmp_path, grid):
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    old = os.umask(0o022)
    try:
        assert main(["embed", str(src), "--k", "3", "-o", str(tmp_path / "a.npy"), "--quiet"]) == 0
        os.umask(0o077)
        assert main(["embed", str(src), "--k", "3", "-o", str(tmp_path / "b.pt"), "--quiet"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "a.npy").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.eigenvalues.npy").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.pt").stat().st_mode & 0o777 == 0o600


def test_failed_write_leaves_no_temporary_file(tmp_path, grid, monkeypatch):
    src = tmp_path / "g.pt"
    torch.save(grid, src)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", full_disk)
    assert main(["embed", str(src), "--k", "3", "-o", str(tmp_path / "o.npy"), "--quiet"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt"]


def test_missing_file_and_bad_k(tmp_path, grid, capsys):
    assert main(["embed", str(tmp_path / "nope.txt"), "--k", "2", "-o", str(tmp_path / "o.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    assert main(["embed", str(src), "--k", "500", "-o", str(tmp_path / "o.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--k=500 must be smaller than the number of nodes" in err and "num_components" not in err


def test_bad_output_suffix(tmp_path, grid, capsys):
    src = tmp_path / "g.pt"
    torch.save(grid, src)
    assert main(["embed", str(src), "--k", "2", "-o", str(tmp_path / "o.csv")]) == 2
    assert ".pt or .npy" in capsys.readouterr().err


def test_lcc_flag(tmp_path, grid):
    two = type(grid)(edge_index=torch.cat([grid.edge_index, torch.tensor([[80, 81], [81, 80]])], dim=1),
                     num_nodes=82)
    src = tmp_path / "g.pt"
    torch.save(two, src)
    out = tmp_path / "o.pt"
    assert main(["embed", str(src), "--k", "4", "-o", str(out), "--quiet", "--lcc"]) == 0
    res = torch.load(out)
    check(res["eigenvalues"], res["eigenvectors"], grid, 4)


def test_console_script_help():
    exe = shutil.which("pyg-spectral", path=str(Path(sys.executable).parent))
    assert exe is not None, "the console script is installed by pip install -e ."
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "embed" in out and "train" in out
    out = subprocess.run([exe, "embed", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--force" in out and "--k" in out
