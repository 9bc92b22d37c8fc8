"""OGB layout: export any PyG graph, load it back through OGB's own loader, offline and without prompts."""
from __future__ import annotations

import os

import pytest
import torch

from pyg_spectral.datasets import load_planetoid
from pyg_spectral.evaluation import (export_ogb_node_dataset, load_ogb_node_dataset, make_evaluator,
                                     ogb_safe_load, planetoid_split)


@pytest.fixture(scope="module", params=["Cora", "CiteSeer"])
def exported(request, tmp_path_factory):
    data = load_planetoid(request.param)[0]
    root = tmp_path_factory.mktemp("ogb")
    meta = export_ogb_node_dataset(data, str(root), f"pygs-{request.param.lower()}", planetoid_split(data))
    return data, meta


def test_round_trip_through_ogb_loader(exported):
    data, meta = exported
    loaded, split, evaluator = load_ogb_node_dataset(meta["download_name"], meta_dict=meta)
    assert loaded.num_nodes == data.num_nodes
    assert torch.equal(loaded.edge_index, data.edge_index)
    assert torch.allclose(loaded.x, data.x)
    assert torch.equal(loaded.y.view(-1), data.y)
    for key, mask in (("train", data.train_mask), ("valid", data.val_mask), ("test", data.test_mask)):
        assert torch.equal(split[key], mask.nonzero().view(-1))
    y = data.y.view(-1, 1)
    assert evaluator.eval({"y_true": y, "y_pred": y})["acc"] == 1.0


def test_second_load_reads_processed_file_without_weights_only_error(exported):
    data, meta = exported
    load_ogb_node_dataset(meta["download_name"], meta_dict=meta)  # processes once
    processed = os.path.join(meta["dir_path"], "processed", "geometric_data_processed.pt")
    assert os.path.exists(processed)
    # The upstream bug: a bare torch.load (weights_only=True by default) refuses the file ...
    with pytest.raises(Exception, match="[Ww]eights only|weights_only"):
        torch.load(processed)
    # ... our contained workaround reads it, and leaves torch's default untouched afterwards.
    loaded, _, _ = load_ogb_node_dataset(meta["download_name"], meta_dict=meta)
    assert loaded.num_nodes == data.num_nodes
    with pytest.raises(Exception, match="[Ww]eights only|weights_only"):
        torch.load(processed)
    with ogb_safe_load():
        torch.load(processed)


def test_missing_release_marker_raises_instead_of_prompting(exported, tmp_path):
    data, meta = exported
    meta2 = export_ogb_node_dataset(data, str(tmp_path), "pygs-nomarker", planetoid_split(data))
    os.remove(os.path.join(meta2["dir_path"], "RELEASE_v1.txt"))
    with pytest.raises(FileNotFoundError, match="release marker"):
        load_ogb_node_dataset("pygs-nomarker", meta_dict=meta2)


def test_missing_raw_files_raise(exported, tmp_path):
    data, meta = exported
    meta2 = export_ogb_node_dataset(data, str(tmp_path), "pygs-noraw", planetoid_split(data))
    os.remove(os.path.join(meta2["dir_path"], "raw", "edge.csv.gz"))
    with pytest.raises(FileNotFoundError, match="raw files"):
        load_ogb_node_dataset("pygs-noraw", meta_dict=meta2)


def test_real_name_with_local_folder_without_marker(tmp_path):
    os.makedirs(tmp_path / "ogbn_arxiv" / "raw")
    with pytest.raises(FileNotFoundError, match="RELEASE_v1.txt"):
        load_ogb_node_dataset("ogbn-arxiv", root=str(tmp_path))


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown OGB node dataset"):
        load_ogb_node_dataset("ogbn-cora", root="/nonexistent")


def test_export_rejects_out_of_range_split(tmp_path):
    data = load_planetoid("Cora")[0]
    split = planetoid_split(data)
    split["test"] = torch.tensor([0, data.num_nodes + 5])
    with pytest.raises(ValueError, match="outside"):
        export_ogb_node_dataset(data, str(tmp_path), "pygs-bad", split)


def test_evaluator_for_real_names():
    assert make_evaluator("ogbn-arxiv").eval_metric == "acc"


# ---------------------------------------------------------------- safety and real-name exports
@pytest.mark.parametrize("kind", ["zip", "legacy", "raw_pickle"])
def test_crafted_processed_file_runs_no_code(exported, tmp_path, kind):
    from tests._malicious import write_malicious

    data, _ = exported
    meta = export_ogb_node_dataset(data, str(tmp_path), "pygs-evil", planetoid_split(data))
    os.makedirs(os.path.join(meta["dir_path"], "processed"))
    marker = tmp_path / "PWNED"
    write_malicious(__import__("pathlib").Path(meta["dir_path"]) / "processed" / "geometric_data_processed.pt",
                    kind, marker)
    with pytest.raises(ValueError, match="refusing to load"):
        load_ogb_node_dataset("pygs-evil", meta_dict=meta)
    assert not marker.exists()


def test_export_under_the_arxiv_name_loads_without_meta_dict(tmp_path):
    data = load_planetoid("Cora")[0]
    meta = export_ogb_node_dataset(data, str(tmp_path), "ogbn-arxiv", planetoid_split(data))
    assert meta["split"] == "time" and meta["additional node files"] == "node_year"
    assert os.path.exists(os.path.join(meta["dir_path"], "raw", "node_year.csv.gz"))
    loaded, split, evaluator = load_ogb_node_dataset("ogbn-arxiv", root=str(tmp_path))
    assert torch.equal(loaded.edge_index, data.edge_index) and torch.equal(loaded.y.view(-1), data.y)
    assert torch.equal(loaded.node_year.view(-1), torch.full((data.num_nodes,), -1))
    assert torch.equal(split["test"], data.test_mask.nonzero().view(-1))
    assert evaluator.eval_metric == "acc"


def test_export_under_a_binary_real_name_is_refused(tmp_path):
    data = load_planetoid("Cora")[0]
    with pytest.raises(ValueError, match="binary"):
        export_ogb_node_dataset(data, str(tmp_path), "ogbn-papers100M", planetoid_split(data))
