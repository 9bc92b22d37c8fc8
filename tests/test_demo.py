"""The demo behind `make demo`: runs offline on the bundled graph, prints a table, writes a PNG."""
from __future__ import annotations

from pyg_spectral import demo


def test_demo_runs_and_writes_plot(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert demo.main(["--k", "8", "--no-progress", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "largest connected component: 2485 nodes" in text
    assert "eigsh λ" in text and "subspace distance" in text
    # The printed maximum eigenvalue error meets the accuracy bar.
    line = next(l for l in text.splitlines() if l.strip().startswith("max |eigenvalue error|"))
    assert float(line.split()[-1]) <= 1e-3
    assert out.exists() and out.stat().st_size > 10_000
    assert str(out) in text
