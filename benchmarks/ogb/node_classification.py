"""Spectral node embeddings on OGB node classification: learn, cache, probe, report in leaderboard format.

Example (a machine with the data or internet, and a GPU)::

    python benchmarks/ogb/node_classification.py --dataset ogbn-arxiv --root DIR --k 128 \\
        --encoder embedding --device cuda --seeds 10

Offline here, the bundled Planetoid graphs run through the same path (``--dataset Cora``), and any PyG graph
exported with ``pyg_spectral.evaluation.export_ogb_node_dataset`` loads with ``--meta-dict FILE.json``.

Pipeline: load (OGB's own ``PygNodePropPredDataset``, offline-safe) -> symmetrize (ogbn-arxiv is a directed
citation graph: edges are made undirected with ``to_undirected``, A + Aᵀ with duplicates merged; an SVD mode for
the directed graph belongs to the baselines/SVD issue) -> ``NeuralSpectralEmbedding(k)`` (mini-batch with
``--batch-size``) -> embeddings cached in ``--cache`` under a key of all settings (rerunning resumes from the
cache) -> linear or MLP probe over ``--seeds`` seeds, scored by ``ogb.nodeproppred.Evaluator`` -> a table
beside published anchors.

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
from pyg_spectral.evaluation import (OGB_NODE_DATASETS, evaluate_embedding, load_ogb_node_dataset,  # noqa: E402
                                     planetoid_split)

# Published test accuracies (OGB leaderboard; Neural Eigenmap from its authors' log).
ANCHORS = {
    "ogbn-arxiv": [("MLP", 55.50), ("node2vec", 70.07), ("GCN", 71.74)],
    "ogbn-products": [("MLP", 61.06), ("node2vec", 72.49), ("GCN (full-batch)", 75.64),
                      ("Neural Eigenmap, linear probe", 78.33)],
}


def load(args):
    if args.dataset in ("Cora", "CiteSeer"):
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


def embedding(data, args):
    settings = {k: getattr(args, k) for k in ("dataset", "k", "encoder", "operator", "batch_size", "max_steps",
                                              "tol", "seed")}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(args.cache) / f"{args.dataset}_{key}.pt"
    if path.exists():
        print(f"using cached embedding {path}")
        return torch.load(path)["embedding"], path
    model = NeuralSpectralEmbedding(args.k, operator=args.operator, encoder=args.encoder, device=args.device,
                                    seed=args.seed, max_steps=args.max_steps, tol=args.tol,
                                    batch_size=args.batch_size, symmetrize=True)
    t = time.perf_counter()
    emb = model.fit_transform(data).cpu()
    print(f"learned {args.k} eigenvectors in {time.perf_counter() - t:.1f} s, max residual "
          f"{float(model.residuals_.max()):.1e}, {model.n_iter_} steps")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"embedding": emb, "eigenvalues": model.eigenvalues_, "settings": settings}, tmp)
    tmp.replace(path)
    return emb, path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="ogbn-arxiv")
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
    if data.edge_index is not None:
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    emb, path = embedding(data, args)
    feats = data.x if args.with_features else None
    res = evaluate_embedding(emb, data.y, split, features=feats, probe=args.probe, seeds=args.seeds,
                             evaluator=evaluator, device=args.device)
    rows = [f"| spectral k={args.k} ({args.encoder}{' + features' if feats is not None else ''}), "
            f"{args.probe} probe | {100 * res.valid_mean:.2f} ± {100 * res.valid_std:.2f} | "
            f"{100 * res.test_mean:.2f} ± {100 * res.test_std:.2f} | {res.num_params} |"]
    rows += [f"| {name} (published) | - | {acc:.2f} | - |" for name, acc in ANCHORS.get(args.dataset, [])]
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
