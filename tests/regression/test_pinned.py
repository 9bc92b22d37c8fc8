"""Fixed-seed results pinned from the code before the estimator's redesign.

A refactor that moves code must not change what it computes: step counts (exact), eigenvalues (to 1e-7, far below
any algorithmic change's effect) and eigenvector bytes (sha256) of four configurations (table, NestedOMM
sequential, mini-batch MLP with EMA, SVD mode) equal the values in ``pinned.json``.

The bytes depend on the CPU's vector instructions (MKL/OpenBLAS reduce in a different order with AVX-512 than
with AVX2; the eigenvalues move by ~1e-8), so they are checked bit for bit on the CPU kinds whose digests are
recorded under ``_vectors_by_cpu`` (``torch.backends.cpu.get_cpu_capability()``), as a list of each recorded
machine's four digests: machines of one kind can differ too (an AMD EPYC AVX-512 machine gives other bytes than
the first AVX-512 one, with the same steps and values), and a run must equal one recorded machine's in full.
``python -m tests.regression._pinned_runs`` prints a machine's values to add it.
"""
import json
from pathlib import Path

import pytest
import torch

from ._pinned_runs import pinned_values


@pytest.mark.slow
def test_results_unchanged():
    expected = json.loads((Path(__file__).with_name("pinned.json")).read_text())
    by_cpu = expected.pop("_vectors_by_cpu")
    got = pinned_values()
    assert sorted(got) == sorted(expected)
    for name, pinned in expected.items():
        assert got[name]["steps"] == pinned["steps"], name
        assert got[name]["values"] == pytest.approx(pinned["values"], abs=1e-7, rel=0), name
    recorded = by_cpu.get(torch.backends.cpu.get_cpu_capability())
    if recorded is not None:  # the bytes of every run equal one recorded machine's, all four of them
        assert {name: got[name]["vectors"] for name in expected} in recorded
