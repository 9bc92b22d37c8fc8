
from pyg_spectral.datasets import BUNDLED_PLANETOID, load_planetoid
from pyg_spectral.datasets.planetoid import bundled_raw_dir

import pytest


@pytest.mark.parametrize("name,nodes,edges,features", [("Cora", 2708, 10556, 1433), ("CiteSeer", 3327, 9104, 3703)])
def test_bundled_offline(tmp_path, name, nodes, edges, features):
    ds = load_planetoid(name.lower(), root=str(tmp_path))
    data = ds[0]
    assert (data.num_nodes, data.edge_index.size(1), data.num_features) == (nodes, edges, features)
    assert int(data.train_mask.sum()) == 20 * ds.num_classes  # public split
    assert (tmp_path / name / "raw").is_dir() and (tmp_path / name / "processed").is_dir()


def test_bundle_ships_license_and_all_raw_files():
    for name in BUNDLED_PLANETOID:
        files = {p.name.split(".", 2)[-1] for p in bundled_raw_dir(name).iterdir()}
        assert files == {"x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"}
    assert (bundled_raw_dir("Cora").parents[1] / "LICENSE").read_text().startswith("The MIT License")


def test_default_root_is_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PYG_SPECTRAL_CACHE", str(tmp_path))
    load_planetoid("Cora")
    assert (tmp_path / "planetoid" / "Cora" / "processed").is_dir()


def test_unknown_name():
    with pytest.raises(ValueError, match="Unknown Planetoid"):
        load_planetoid("Reddit")
