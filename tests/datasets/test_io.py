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


def test_repeated_edges_are_summed(tmp_path):
    (tmp_path / "g.txt").write_text("0 1\n1 0\n0 1\n1 2 0.5\n")
    d = read_edge_list(tmp_path / "g.txt", undirected=False)
    assert d.edge_index.tolist() == [[0, 1, 1], [1, 0, 2]] and d.edge_weight.tolist() == [2.0, 1.0, 0.5]
    u = read_edge_list(tmp_path / "g.txt")  # undirected: A + A^T of the listed edges
    dense = torch.zeros(3, 3)
    dense[u.edge_index[0], u.edge_index[1]] = u.edge_weight
    assert dense.tolist() == [[0, 3, 0], [3, 0, 0.5], [0, 0.5, 0]]


def test_self_loop_counted_once_when_undirected(tmp_path):
    (tmp_path / "g.txt").write_text("0 0\n0 1\n")
    d = read_edge_list(tmp_path / "g.txt")
    assert d.edge_index.tolist() == [[0, 0, 1], [0, 1, 0]] and getattr(d, "edge_weight", None) is None


@pytest.mark.parametrize("text,match", [("1e1 2\n", "digits"), ("2.0 1\n", "digits"), ("+3 1\n", "digits"),
                                        ("1_0 1\n", "digits"), ("0 9223372036854775807\n", "too large"),
                                        ("0 123456789012345678901234567890\n", "too large")])
def test_node_ids_are_plain_int64_digits(tmp_path, text, match):
    (tmp_path / "g.txt").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_edge_list(tmp_path / "g.txt")


def test_gzip_detected_by_suffix_in_any_case_or_content(tmp_path):
    for name in ("G.TXT.GZ", "g.txt"):
        with gzip.open(tmp_path / name, "wt") as fh:
            fh.write("0 1\n")
        assert read_edge_list(tmp_path / name).edge_index.tolist() == [[0, 1], [1, 0]]


def test_npz_and_torch_readers(tmp_path):
    import numpy as np

    from pyg_spectral.datasets import read_npz, read_torch_data

    np.savez(tmp_path / "g.npz", edge_index=np.array([[0, 1], [1, 0]], dtype=np.int32), num_nodes=3)
    g = read_npz(tmp_path / "g.npz")
    assert g.num_nodes == 3 and g.edge_index.dtype == torch.long
    np.savez(tmp_path / "f.npz", edge_index=np.array([[0.0, 1.5], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="integer array"):
        read_npz(tmp_path / "f.npz")
    np.savez(tmp_path / "n.npz", edge_index=np.array([[0, 4], [4, 0]]), num_nodes=2)
    with pytest.raises(ValueError, match="num_nodes must be one integer >= 5"):
        read_npz(tmp_path / "n.npz")
    torch.save(g, tmp_path / "g.pt")
    assert torch.equal(read_torch_data(tmp_path / "g.pt").edge_index, g.edge_index)
    torch.save({"edge_index": g.edge_index}, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="expected a torch_geometric.data.Data"):
        read_torch_data(tmp_path / "d.pt")
