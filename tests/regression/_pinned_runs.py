"""Fixed-seed runs whose results are pinned bit for bit (see ``test_pinned.py``).

``python -m tests.regression._pinned_runs`` prints the pinned values; they were
written from the code *before* the estimator was split into objective, trainer,
Ritz evaluator and finalizer, so the test proves the move changed no result.
"""
from __future__ import annotations

import hashlib
import warnings

import torch


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _cora_lcc():
    from torch_geometric.transforms import LargestConnectedComponents

    from pyg_spectral.datasets import load_planetoid

    return LargestConnectedComponents()(load_planetoid("Cora")[0])


def runs():
    """Yield ``(name, model, vectors)`` for each pinned configuration."""
    from pyg_spectral import NeuralSpectralEmbedding
    from pyg_spectral.datasets import directed_sbm_graph

    cora = _cora_lcc()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = NeuralSpectralEmbedding(8, progress=False).fit(cora)
        yield "table", m, m.embedding_
        m = NeuralSpectralEmbedding(6, loss="nested_omm", nesting="sequential", max_steps=150,
                                    progress=False).fit(cora)
        yield "omm_sequential", m, m.embedding_
        m = NeuralSpectralEmbedding(4, encoder="mlp", batch_size=256, max_steps=60, eval_every=20,
                                    ema_decay=0.9, eval_size=512, progress=False,
                                    # the trained linear head these values were pinned with (mini-batch
                                    # networks default to a solved head since; tests/training/test_minibatch.py)
                                    encoder_kwargs={"hidden_channels": 32, "num_layers": 2, "head": "linear"}).fit(cora)
        yield "minibatch_mlp", m, m.embedding_
        g = directed_sbm_graph(300, 3, 3000, seed=0)
        m = NeuralSpectralEmbedding(4, mode="svd", max_steps=300, progress=False).fit(g)
        yield "svd", m, m.right_singular_vectors_


def pinned_values():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # results are pinned at one thread: reductions differ across thread counts
    try:
        return {name: {"steps": int(m.n_iter_),
                       "values": [float(v) for v in (m.singular_values_ if name == "svd" else m.eigenvalues_)],
                       "vectors": _digest(vec)}
                for name, m, vec in runs()}
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    import json

    print(torch.backends.cpu.get_cpu_capability(), json.dumps(pinned_values(), indent=1))
