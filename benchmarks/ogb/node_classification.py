"""Spectral node embeddings on OGB node classification: learn, cache, probe, report in leaderboard format.

Example (a machine with the data or internet, and a GPU)::

    python benchmarks/ogb/node_classification.py --dataset ogbn-arxiv --root DIR --k 128 \\
        --encoder embedding --device cuda --seeds 10

Offline here, the bundled Planetoid graphs run through the same path (``--dataset Cora``), and any PyG graph
exported with ``pyg_spectral.evaluation.export_ogb_node_dataset`` loads with ``--meta-dict FILE.json``.

Pipeline: load (OGB's own ``PygNodePropPredDataset``, offline-safe) -> symmetrize (ogbn-arxiv is a directed
citation graph: edges are made undirected with ``to_undirected``, A + Aᵀ with duplicates merged; an SVD mode for
the directed graph belongs to the baselines/SVD issue) -> ``NeuralSpectralEmbedding(k)`` (mini-batch with
``--batch-size``) -> embeddings cached in ``--cache`` under a key of every setting that changes the embedding
and a fingerprint of the graph (node and edge counts, SHA-256 of ``edge_index``, and of ``x`` for feature
encoders), so another graph never reuses a cached embedding -> linear or MLP probe over ``--seeds`` seeds, scored
by ``ogb.nodeproppred.Evaluator`` -> a table, with published anchors only when the graph is that dataset (its
node and edge counts match the published ones; an export of Cora named ogbn-arxiv gets none).

Memory plan (float32; n nodes, E directed edges after symmetrization, m = k + guards learned functions):

* ogbn-arxiv (n = 169k, E = 2.3M): everything fits anywhere (graph ~40 MB, table n·m ~130 MB at k=128).
* ogbn-products (n = 2.45M, E = 124M): the CSR operator is ~1.5 GB, the full-batch table n·m·4 B ~1.9 GB
  at k = 128 plus the same for momentum: full batch on a 16+ GB GPU or a CPU with 32 GB; mini-batch
  (``--batch-size``) with an MLP encoder needs only features (~1 GB) plus the batch.
* ogbn-papers100M (n = 111M, E = 3.2B): the graph alone is ~26 GB (int64 COO), features 111M x 128 ~57 GB:
  CPU host memory >= 128 GB for the operator; an embedding table (111M x 192 x 4 B ~85 GB plus optimizer
  state) does not fit one GPU: use ``--encoder mlp --batch-size`` (parameters ~100 kB, per-step memory of the
  batch and its neighbourhoods), with the graph and features in host memory; multi-GPU is the distributed issue.
  Labels: only ~1.5M nodes are labeled (others NaN): they are dropped by the probe.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch
from torch_geometric.utils import to_undirected

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyg_spectral import NeuralSpectralEmbedding  # noqa: E402
from pyg_spectral.datasets import BUNDLED_PLANETOID  # noqa: E402
from pyg_spectral.evaluation import (OGB_NODE_DATASETS, evaluate_embedding, load_ogb_node_dataset,  # noqa: E402
                                     planetoid_split)
from pyg_spectral.utils.io import atomic_save, safe_torch_load  # noqa: E402

# Published test accuracies (OGB leaderboard; Neural Eigenmap from its authors' log), with the node and (directed,
# as released) edge counts of the graph they were measured on.
ANCHORS = {
    "ogbn-arxiv": ((169343, 1166243), [("MLP", 55.50), ("node2vec", 70.07), ("GCN", 71.74)]),
    "ogbn-products": ((2449029, 61859140), [("MLP", 61.06), ("node2vec", 72.49), ("GCN (full-batch)", 75.64),
                                            ("Neural Eigenmap, linear probe", 78.33)]),
}
#: settings that do not change the learned embedding (probe, reporting, paths)
NOT_IN_CACHE_KEY = ("seeds", "probe", "with_features", "cache", "output")


def anchors_for(name, data):
    """Published rows for ``name``, only if ``data`` is that graph (as released, before symmetrization)."""
    if name not in ANCHORS:
        return []
    (num_nodes, num_edges), rows = ANCHORS[name]
    return rows if (data.num_nodes, data.edge_index.size(1)) == (num_nodes, num_edges) else []


def graph_fingerprint(data, with_features):
    """Node and edge counts and SHA-256 digests of the graph (and of the features when the encoder reads them)."""
    def digest(t):
        return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]

    fp = {"num_nodes": int(data.num_nodes), "num_edges": int(data.edge_index.size(1)),
          "edge_index": digest(data.edge_index)}
    if getattr(data, "edge_weight", None) is not None:
        fp["edge_weight"] = digest(data.edge_weight)
    if with_features and getattr(data, "x", None) is not None:
        fp["x"] = digest(data.x)
    return fp


def load(args):
    planetoid = {name.lower(): name for name in BUNDLED_PLANETOID}
    if args.dataset.lower() in planetoid:
        args.dataset = planetoid[args.dataset.lower()]
        from pyg_spectral.datasets import load_planetoid

        data = load_planetoid(args.dataset, root=args.root)[0]
        return data, planetoid_split(data), None
    if args.meta_dict:
        meta = json.loads(Path(args.meta_dict).read_text())
        return load_ogb_node_dataset(args.dataset, meta_dict=meta)
    if args.dataset not in OGB_NODE_DATASETS:
        raise SystemExit(f"unknown dataset {args.dataset!r}: use one of {OGB_NODE_DATASETS}, Cora, CiteSeer, "
                         "or --meta-dict for an exported dataset")
    return load_ogb_node_dataset(args.dataset, root=args.root)


def cache_key(data, args):
    settings = {k: v for k, v in sorted(vars(args).items()) if k not in NOT_IN_CACHE_KEY}
    settings["graph"] = graph_fingerprint(data, with_features=args.encoder != "embedding")
    return settings, hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def embedding(data, args):
    settings, key = cache_key(data, args)
    path = Path(args.cache) / f"{args.dataset}_{key}.pt"
    if path.exists():
        cached = safe_torch_load(path, mmap=True)
        if not isinstance(cached, dict) or cached.get("settings") != settings:
            raise SystemExit(f"{path} does not hold the embedding of these settings and this graph; delete it")
        print(f"using cached embedding {path}")
        return cached["embedding"], path
    model = NeuralSpectralEmbedding(args.k, operator=args.operator, encoder=args.encoder, device=args.device,
                                    seed=args.seed, max_steps=args.max_steps, tol=args.tol,
                                    batch_size=args.batch_size, symmetrize=True)
    t = time.perf_counter()
    emb = model.fit_transform(data).cpu()
    print(f"learned {args.k} eigenvectors in {time.perf_counter() - t:.1f} s, max residual "
          f"{float(model.residuals_.max()):.1e}, {model.n_iter_} steps")
    payload = {"embedding": emb, "eigenvalues": model.eigenvalues_, "settings": settings}
    atomic_save(path, lambda tmp: torch.save(payload, tmp))
    return emb, path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="ogbn-arxiv", help="an OGB node dataset, or Cora / CiteSeer (any case)")
    p.add_argument("--root", default="dataset", help="OGB/Planetoid data folder")
    p.add_argument("--meta-dict", default=None, help="JSON meta_dict of an exported OGB-format dataset")
    p.add_argument("--k", type=int, default=128)
    p.add_argument("--encoder", default="embedding", choices=["embedding", "mlp", "gcn", "sage", "gin"])
    p.add_argument("--operator", default="laplacian")
    p.add_argument("--device", default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=10000)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=10, help="probe seeds")
    p.add_argument("--probe", default="linear", choices=["linear", "mlp"])
    p.add_argument("--with-features", action="store_true", help="concatenate node features to the embedding")
    p.add_argument("--cache", default="outputs/embeddings")
    p.add_argument("--output", default=None, help="markdown table (default outputs/<dataset>_probe.md)")
    args = p.parse_args(argv)

    data, split, evaluator = load(args)
    anchors = anchors_for(args.dataset, data)
    if data.edge_index is not None:
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    emb, path = embedding(data, args)
    feats = data.x if args.with_features else None
    res = evaluate_embedding(emb, data.y, split, features=feats, probe=args.probe, seeds=args.seeds,
                             evaluator=evaluator, device=args.device)
    rows = [f"| spectral k={args.k} ({args.encoder}{' + features' if feats is not None else ''}), "
            f"{args.probe} probe | {100 * res.valid_mean:.2f} ± {100 * res.valid_std:.2f} | "
            f"{100 * res.test_mean:.2f} ± {100 * res.test_std:.2f} | {res.num_params} |"]
    rows += [f"| {name} (published) | - | {acc:.2f} | - |" for name, acc in anchors]
    table = "\n".join(["| method | valid | test | #params (probe) |", "|---|---|---|---|"] + rows)
    print(table)
    out = Path(args.output or f"outputs/{args.dataset}_probe.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# {args.dataset}\n\nCommand: `python benchmarks/ogb/node_classification.py "
                   f"{' '.join(sys.argv[1:] if argv is None else argv)}`\n\nEmbedding cache: `{path}`\n\n{table}\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
