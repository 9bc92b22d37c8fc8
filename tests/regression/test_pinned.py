"""Fixed-seed results pinned bit for bit from the code before the estimator's redesign.

A refactor that moves code must not change what it computes: eigenvalues (exact float64),
eigenvector bytes (sha256) and step counts of four configurations (table, NestedOMM sequential,
mini-batch MLP with EMA, SVD mode) equal the values in ``pinned.json``.
"""
import json
from pathlib import Path

import pytest

from ._pinned_runs import pinned_values


@pytest.mark.slow
def test_results_unchanged_bit_for_bit():
    expected = json.loads((Path(__file__).with_name("pinned.json")).read_text())
    assert pinned_values() == expected
