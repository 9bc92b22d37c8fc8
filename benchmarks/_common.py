"""What the benchmark scripts share: the real graphs, a timed exact solve, and the report writer."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterator, Sequence, Tuple

import numpy as np
from torch_geometric.data import Data
from torch_geometric.transforms import LargestConnectedComponents

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FACEBOOK = SHARED_DATA / "snap" / "ego-facebook.txt.gz"
PUBMED = SHARED_DATA / "pubmed-graph" / "edges.csv.gz"

#: name -> how to load it (largest connected components: the benchmarks compare connected spectra)
REAL_GRAPHS = ("Cora LCC", "CiteSeer LCC", "ego-Facebook", "PubMed LCC")


def real_graph(name: str) -> Data:
    """One of :data:`REAL_GRAPHS` (bundled Planetoid graphs, or the edge lists of ``../shared/data``)."""
    from pyg_spectral.datasets import load_planetoid, read_edge_list

    lcc = LargestConnectedComponents()
    if name in ("Cora LCC", "CiteSeer LCC"):
        return lcc(load_planetoid(name.split()[0])[0])
    path = {"ego-Facebook": FACEBOOK, "PubMed LCC": PUBMED}.get(name)
    if path is None:
        raise ValueError(f"Unknown graph {name!r}; choose one of {REAL_GRAPHS}.")
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (the shared data folder beside the project)")
    return lcc(read_edge_list(path))


def real_graphs(names: Sequence[str] = REAL_GRAPHS) -> Iterator[Tuple[str, Data]]:
    """``(name, graph)`` for each name whose data is here; a missing file is reported and skipped."""
    for name in names:
        try:
            yield name, real_graph(name)
        except FileNotFoundError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)


def timed_exact(data: Data, k: int) -> Tuple[np.ndarray, np.ndarray, float]:
    """``(eigenvalues, eigenvectors, seconds)`` of the ``k`` smallest of L_sym, always by eigsh (``tol=0``)
    so that the time is eigsh's."""
    from pyg_spectral import exact_eigenpairs

    t0 = time.perf_counter()
    vals, vecs = exact_eigenpairs(data, k, dense_below=0)
    return vals, vecs, time.perf_counter() - t0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def write_report(path: Path, text: str) -> None:
    """Write a results file (its folder created) and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
