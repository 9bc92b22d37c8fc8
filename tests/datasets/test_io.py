import gzip

import pytest
import torch

from pyg_spectral.datasets import read_edge_list


def test_space_and_comma_gz(tmp_path):
    (tmp_path / "g.txt").write_text("# comment\n0 1\n1 2\n\n% other comment\n")
    with gzip.open(tmp_path / "g.csv.gz", "wt") as fh:
        fh.write("0,1\n1,2\n")
    a, b = read_edge_list(tmp_path / "g.txt"), read_edge_list(tmp_path / "g.csv.gz")
    assert a.num_nodes == b.num_nodes == 3
    assert torch.equal(a.edge_index, b.edge_index) and a.edge_index.size(1) == 4  # both directions


def test_weights_and_directed(tmp_path):
    (tmp_path / "w.txt").write_text("0 1 2.5\n1 2 1\n")
    d = read_edge_list(tmp_path / "w.txt", undirected=False)
    assert d.edge_index.size(1) == 2 and torch.allclose(d.edge_weight, torch.tensor([2.5, 1.0]))


@pytest.mark.parametrize("content,match", [("0 1 2 3\n", "expected"), ("a b\n", "not numbers"), ("0 -1\n", "non-negative"),
                                           ("# only comments\n", "no edges")])
def test_bad_files(tmp_path, content, match):
    (tmp_path / "bad.txt").write_text(content)
    with pytest.raises(ValueError, match=match):
        read_edge_list(tmp_path / "bad.txt")
