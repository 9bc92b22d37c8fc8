"""Smoke test of examples/csl_gin.py: the --quick run writes its results file, and Laplacian PEs lift the
GIN above the 1-WL limit (no PE: chance, 10%, on CSL-like graphs)."""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "csl_gin.py"


def load_example():
    spec = importlib.util.spec_from_file_location("csl_gin", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_circulant_graphs_are_4_regular_and_relabelled():
    import torch

    example = load_example()
    graphs = example.csl_dataset(per_class=2, seed=0)
    assert len(graphs) == 20 and [int(g.y) for g in graphs[::2]] == list(range(10))
    for g in graphs:
        deg = torch.bincount(g.edge_index[0], minlength=41)
        assert torch.all(deg == 4) and g.num_nodes == 41
    assert not torch.equal(graphs[0].edge_index, graphs[1].edge_index)  # same class, other node order


@pytest.mark.slow
def test_quick_run_writes_results_and_pe_beats_no_pe(tmp_path):
    example = load_example()
    out = tmp_path / "csl.md"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = example.main(["--quick", "--output", str(out)])
    text = out.read_text()
    assert "| no PE |" in text and "| PyG AddLaplacianEigenvectorPE |" in text
    assert "AddNeuralEigenvectorPE (transductive)" in text and "AddNeuralEigenvectorPE.fit (inductive)" in text
    no_pe = np.mean(acc["no PE"])
    assert no_pe <= 0.15  # 1-WL: every graph gets the same embedding
    for name in ("PyG AddLaplacianEigenvectorPE", "AddNeuralEigenvectorPE (transductive)",
                 "AddNeuralEigenvectorPE.fit (inductive)"):
        assert np.mean(acc[name]) > no_pe + 0.1, name
