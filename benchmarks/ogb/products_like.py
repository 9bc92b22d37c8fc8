"""A products-like graph in OGB's raw layout, and the time and memory of the recipe's training on it.

The graph is a degree-corrected stochastic block model: ``C`` classes with Zipf-distributed sizes, node
propensities :math:`\\theta_i` from a Pareto law (power-law degrees, tail exponent ``--alpha``), and
``n * avg_degree / 2`` undirected edges (one from every node, the others from nodes drawn
:math:`\\propto \\theta`); the second is drawn
:math:`\\propto \\theta` inside the same class with probability ``1 - mixing``, else from all nodes. Features
(100 dimensions, as ogbn-products) are a class center plus Gaussian noise, so a linear probe on them is informative
but far from perfect. It is written with :func:`pyg_spectral.evaluation.export_ogb_node_dataset` and read back with
OGB's own loader.

``measure`` runs the recipe's estimator (``ResidualMLPEncoder``, edge sampler) for a fixed number of steps and
reports the time per step, one epoch's extrapolated time (``ceil(n / batch_size)`` steps) and memory: the peak
resident set during the training steps (sampled every 10 ms from ``/proc/self/status`` between the first and the
last evaluation, so loading and the final all-node Rayleigh–Ritz are excluded) above the resident set before
``fit``, and the process's ``ru_maxrss``.

Run::

    python benchmarks/ogb/products_like.py --num-nodes 250000 1000000 --steps 20 --hidden-channels 256 --num-layers 3
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def products_like_graph(num_nodes: int, num_classes: int = 47, avg_degree: float = 10.0, mixing: float = 0.2,
                        alpha: float = 2.5, num_features: int = 100, signal: float = 0.35, seed: int = 0):
    """``Data(edge_index, x, y)``: a degree-corrected SBM with power-law degrees and class-correlated features."""
    from torch_geometric.data import Data
    from torch_geometric.utils import coalesce, to_undirected

    gen = torch.Generator().manual_seed(seed)
    n, c = int(num_nodes), int(num_classes)
    sizes = 1.0 / torch.arange(1, c + 1, dtype=torch.float64)  # Zipf class sizes, as products' skewed classes
    y = torch.multinomial(sizes / sizes.sum(), n, replacement=True, generator=gen)
    y = y[torch.argsort(torch.rand(n, generator=gen))]
    # Pareto(alpha) propensities, capped so one node has at most ~n/50 expected edges
    theta = (1.0 - torch.rand(n, generator=gen, dtype=torch.float64)).pow(-1.0 / (alpha - 1.0))
    theta = theta.clamp(max=n / 50 / avg_degree)
    # every node gets one edge of its own (no isolated nodes, which the edge sampler cannot reach), the rest of
    # the n * avg_degree / 2 edges start at nodes drawn proportionally to theta
    extra = max(int(n * avg_degree / 2) - n, 0)
    src = torch.cat([torch.arange(n), torch.multinomial(theta.float(), extra, replacement=True, generator=gen)])
    m = src.numel()
    # second endpoint inside the class of src, proportional to theta: inverse CDF over nodes sorted by class
    order = torch.argsort(y, stable=True)
    cum = torch.cumsum(theta[order], 0)
    class_end = cum[torch.cumsum(torch.bincount(y, minlength=c), 0) - 1]
    class_start = torch.cat([cum.new_zeros(1), class_end[:-1]])
    cs = y[src]
    u = torch.rand(m, generator=gen, dtype=torch.float64)
    inside = class_start[cs] + u * (class_end[cs] - class_start[cs])
    anywhere = u * cum[-1]
    target = torch.where(torch.rand(m, generator=gen) < mixing, anywhere, inside)
    dst = order[torch.searchsorted(cum, target).clamp(max=n - 1)]
    keep = src != dst
    edge_index = coalesce(to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n), num_nodes=n)
    centers = torch.randn(c, num_features, generator=gen)
    x = signal * centers[y] + torch.randn(n, num_features, generator=gen)
    return Data(edge_index=edge_index, x=x, y=y.view(-1, 1), num_nodes=n)


def generate(num_nodes: int, root: str, **kwargs) -> Path:
    from pyg_spectral.evaluation import export_ogb_node_dataset

    t = time.perf_counter()
    data = products_like_graph(num_nodes, **kwargs)
    gen_time = time.perf_counter() - t
    perm = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(1))
    # products' split sizes: 8% train, 2% valid, 90% test
    a, b = int(0.08 * num_nodes), int(0.10 * num_nodes)
    split = {"train": perm[:a], "valid": perm[a:b], "test": perm[b:]}
    t = time.perf_counter()
    meta = export_ogb_node_dataset(data, root, f"products-like-{num_nodes}", split)
    meta["_generate_s"], meta["_export_s"] = gen_time, time.perf_counter() - t
    path = Path(root) / f"products_like_{num_nodes}.json"
    path.write_text(json.dumps(meta))
    return path


class RSSSampler(threading.Thread):
    """The resident set (bytes), sampled every ``interval`` seconds, with timestamps."""

    def __init__(self, interval: float = 0.01):
        super().__init__(daemon=True)
        self.interval, self.samples, self.stop = interval, [], threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.rss()))
            time.sleep(self.interval)


def measure(args) -> dict:
    from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding
    from pyg_spectral.encoders.residual_mlp import ResidualMLPEncoder
    from pyg_spectral.evaluation import load_ogb_node_dataset

    meta = json.loads(Path(args.meta_dict).read_text())
    t = time.perf_counter()
    data, _, _ = load_ogb_node_dataset(meta["download_name"], meta_dict=meta)
    load_s = time.perf_counter() - t
    data.x = data.x.float()
    n, m = data.num_nodes, args.k + args.n_oversamples
    torch.manual_seed(0)
    encoder = ResidualMLPEncoder(data.x.size(1), m, hidden_channels=args.hidden_channels, num_layers=args.num_layers)
    marks = []
    model = NeuralSpectralEmbedding(args.k, loss="nested_omm", encoder=encoder, n_oversamples=args.n_oversamples,
                                    max_steps=args.steps, tol=0.0, lr=1e-3, optimizer="adam", lr_schedule="cosine",
                                    eval_every=args.eval_every, batch_size=args.batch_size, sampler="edge",
                                    eval_size=args.eval_size, progress=False,
                                    callback=lambda record, outputs: marks.append((time.perf_counter(),
                                                                                   record["step"])))
    sampler = RSSSampler()
    base = RSSSampler.rss()
    sampler.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        model.fit(data)
        fit_s = time.perf_counter() - t
    sampler.stop.set()
    sampler.join()
    (t0, s0), (t1, s1) = marks[0], marks[-1]
    window = [rss for ts, rss in sampler.samples if t0 <= ts <= t1]
    # the resident set when training starts (graph, operator, encoder and optimizer built): the first sample
    # at or after the first evaluation
    at_start = next((rss for ts, rss in sampler.samples if ts >= t0), window[0])
    step_s = (t1 - t0) / max(s1 - s0, 1)  # includes the evaluations in between, as a real run does
    per_epoch = math.ceil(n / args.batch_size)
    params = sum(p.numel() for p in encoder.parameters())
    return {"num_nodes": n, "num_edges": int(data.edge_index.size(1)), "generate_s": meta.get("_generate_s"),
            "export_s": meta.get("_export_s"), "load_s": load_s, "fit_s": fit_s, "step_s": step_s,
            "steps_per_epoch": per_epoch, "epoch_s": step_s * per_epoch, "params": params,
            "rss_before_fit_gib": base / 2 ** 30, "rss_train_start_gib": at_start / 2 ** 30,
            "train_peak_above_start_gib": (max(window) - at_start) / 2 ** 30,
            "ru_maxrss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "data_gib": (data.x.numel() * 4 + data.edge_index.numel() * 8) / 2 ** 30}


def step_flops(in_channels: int, hidden: int, layers: int, out: int, batch: int) -> float:
    """Matmul FLOPs of one edge-sampler step: forward + backward on the heads (3x), forward on the tails (1x)."""
    params = in_channels * hidden + (layers - 1) * hidden ** 2 + hidden ** 2 + hidden * out
    return 2.0 * params * batch * 4


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", nargs="?", default="all", choices=["all", "generate", "measure"])
    p.add_argument("--num-nodes", type=int, nargs="+", default=[250000, 1000000])
    p.add_argument("--avg-degree", type=float, default=10.0)
    p.add_argument("--root", default=None, help="export folder (default: a temporary folder)")
    p.add_argument("--meta-dict", default=None, help="for 'measure': the JSON written by 'generate'")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--eval-size", type=int, default=4096)
    p.add_argument("--k", type=int, default=64)
    p.add_argument("--n-oversamples", type=int, default=16)
    p.add_argument("--hidden-channels", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16384)
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "ogb_products_like.md"))
    args = p.parse_args(argv)
    if args.command == "generate":
        for n in args.num_nodes:
            print(generate(n, args.root or tempfile.mkdtemp(prefix="products_like_"), avg_degree=args.avg_degree))
        return 0
    if args.command == "measure":
        print(json.dumps(measure(args)))
        return 0
    rows = []
    passthrough = ["--steps", str(args.steps), "--eval-every", str(args.eval_every), "--eval-size",
                   str(args.eval_size), "--k", str(args.k), "--n-oversamples", str(args.n_oversamples),
                   "--hidden-channels", str(args.hidden_channels), "--num-layers", str(args.num_layers),
                   "--batch-size", str(args.batch_size)]
    for n in args.num_nodes:
        root = args.root or tempfile.mkdtemp(prefix="products_like_")
        meta = generate(n, root, avg_degree=args.avg_degree)
        print(f"generated and exported n={n} in {root}", flush=True)
        # one process per size, so that ru_maxrss is that size's own
        out = subprocess.run([sys.executable, __file__, "measure", "--meta-dict", str(meta)] + passthrough,
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    flops = step_flops(100, args.hidden_channels, args.num_layers, args.k + args.n_oversamples, args.batch_size)
    lines = ["| nodes | directed edges | generate + export (s) | OGB load (s) | s/step | steps/epoch | epoch (s, "
             "extrapolated) | data x + edges (GiB) | RSS before fit (GiB) | RSS when training starts (GiB) | "
             "training-steps peak above it (GiB) | ru_maxrss (GiB) | CPU GFLOP/s (matmuls) |", "|" + "---|" * 13]
    for r in rows:
        lines.append(f"| {r['num_nodes']:,} | {r['num_edges']:,} | {r['generate_s']:.0f} + {r['export_s']:.0f} | "
                     f"{r['load_s']:.0f} | {r['step_s']:.2f} | {r['steps_per_epoch']} | {r['epoch_s']:.0f} | "
                     f"{r['data_gib']:.2f} | {r['rss_before_fit_gib']:.2f} | {r['rss_train_start_gib']:.2f} | "
                     f"{r['train_peak_above_start_gib']:.3f} | "
                     f"{r['ru_maxrss_gib']:.2f} | {flops / r['step_s'] / 1e9:.1f} |")
    text = (f"# Products-like graphs: training time and memory of the recipe's estimator\n\n"
            f"Command: `python benchmarks/ogb/products_like.py {' '.join(sys.argv[1:] if argv is None else argv)}`"
            f"\n\nDegree-corrected SBM (47 Zipf classes, Pareto(2.5) propensities, average degree "
            f"{args.avg_degree:g}, 20% mixing, 100 class-correlated features), exported to OGB's raw layout and "
            f"loaded with OGB's loader. Encoder: ResidualMLPEncoder width {args.hidden_channels}, "
            f"{args.num_layers} layers, {args.k}+{args.n_oversamples} outputs; NestedOMM, edge sampler, batch "
            f"{args.batch_size}, {args.steps} steps (evaluation every {args.eval_every}, {args.eval_size} held-out "
            f"nodes). CPU, one thread. Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
            + "\n".join(lines) + "\n")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
