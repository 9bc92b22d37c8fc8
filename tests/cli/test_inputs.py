"""Bad and hostile input files: one clear line, exit status 2, and no code from a crafted file runs."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from pyg_spectral.cli import main
from pyg_spectral.train import main as train_main
from tests._malicious import KINDS, truncate, write_malicious


def embed(src, out, *extra):
    return main(["embed", str(src), "--k", "2", "-o", str(out), "--quiet", *extra])


def one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("content,name,match", [
    (b"0 1\n1 banana\n", "bad.txt", "not numbers"),
    (b"\x1f\x8b\x08garbage", "bad.txt.gz", "cannot read"),
    (b"not a pickle", "bad.pt", "bad.pt: "),
    (b"PK\x03\x04 broken zip", "bad.npz", "cannot read"),
    (b"0 1\n", "graph.xyz", "unknown input format"),
    (b"0 1\n1e1 2\n", "float_id.txt", "integers written as digits"),
    (b"0 1\n2.0 1\n", "float_id2.txt", "integers written as digits"),
    (b"0 1\n1 99999999999999999999\n", "huge.txt", "too large"),
    (b"", "empty.pt", "empty"),
])
def test_bad_files_give_one_line_errors(tmp_path, capsys, content, name, match):
    src = tmp_path / name
    src.write_bytes(content)
    assert embed(src, tmp_path / "o.pt") == 2
    assert match in one_line(capsys)
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize("array,match", [
    (np.array([[0, 1.7], [1, 0]]), "dtype float64"),
    (np.array([0, 1, 1, 0]), r"shape \[2, E\]"),
    (np.array([[0, -1], [1, 0]]), r"\[0, 2\^63 - 2\]"),
    (np.array([[0, 2 ** 64 - 1], [1, 0]], dtype=np.uint64), r"\[0, 2\^63 - 2\]"),
])
def test_npz_edge_index_is_checked_not_cast(tmp_path, capsys, array, match):
    src = tmp_path / "g.npz"
    np.savez(src, edge_index=array)
    assert embed(src, tmp_path / "o.pt") == 2
    err = one_line(capsys)
    assert __import__("re").search(match, err), err


def test_uppercase_gz_suffix_is_gzip(tmp_path):
    src = tmp_path / "GRAPH.TXT.GZ"
    with gzip.open(src, "wt") as fh:
        fh.write("".join(f"{i} {i + 1}\n{i + 1} {i}\n" for i in range(9)))
    assert embed(src, tmp_path / "o.pt") == 0
    assert torch.load(tmp_path / "o.pt")["eigenvectors"].shape == (10, 2)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["embed", "train"])
def test_crafted_pt_runs_no_code(tmp_path, capsys, kind, command):
    marker = tmp_path / "PWNED"
    src = write_malicious(tmp_path / "evil.pt", kind, marker)
    out = tmp_path / "o.pt"
    if command == "embed":
        rc = embed(src, out)
    else:
        rc = train_main([str(src), "--k", "2", "-o", str(out), "--quiet"])
    assert rc == 2
    err = one_line(capsys)
    assert "refusing to load" in err
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_pt_is_one_clear_line(tmp_path, capsys, legacy):
    from pyg_spectral.datasets import grid_graph

    src = tmp_path / "g.pt"
    torch.save(grid_graph(4, 4), src, _use_new_zipfile_serialization=not legacy)
    truncate(src)
    assert embed(src, tmp_path / "o.pt") == 2
    err = one_line(capsys)
    assert "truncated" in err and "Errno" not in err and "EOFError" not in err
