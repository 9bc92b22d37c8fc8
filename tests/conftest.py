"""Shared fixtures: real graphs (bundled or from ../shared/data) and small graphs."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

# Keep the package's dataset cache out of the user's home during tests.
os.environ.setdefault("PYG_SPECTRAL_CACHE", tempfile.mkdtemp(prefix="pyg_spectral_test_cache_"))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def lcc(data):
    from torch_geometric.transforms import LargestConnectedComponents

    return LargestConnectedComponents()(data)


@pytest.fixture(scope="session")
def cora():
    from pyg_spectral.datasets import load_planetoid

    return load_planetoid("Cora")[0]


@pytest.fixture(scope="session")
def cora_lcc(cora):
    return lcc(cora)


@pytest.fixture(scope="session")
def citeseer_lcc():
    from pyg_spectral.datasets import load_planetoid

    return lcc(load_planetoid("CiteSeer")[0])


@pytest.fixture(scope="session")
def facebook():
    path = SHARED_DATA / "snap" / "ego-facebook.txt.gz"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    from pyg_spectral.datasets import read_edge_list

    return lcc(read_edge_list(path))


@pytest.fixture(scope="session")
def karate():
    from torch_geometric.datasets import KarateClub

    return KarateClub()[0]


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
