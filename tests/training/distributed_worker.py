"""A worker for tests/training/test_distributed.py, launched by torchrun (or by hand with RANK etc.).

Usage: python distributed_worker.py CONFIG.json. The config holds the graph path, the estimator's
keyword arguments, the output path, optional per-rank overrides and an optional fault: ``die_at``
(step at which ``die_rank`` exits hard, once: it leaves ``OUTPUT.died`` behind).
"""
import json
import os
import sys
import warnings

import torch

from pyg_spectral import NeuralSpectralEmbedding
from pyg_spectral.training.distributed import init_distributed


def main() -> None:
    cfg = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    ctx = init_distributed("gloo", timeout_s=cfg.get("timeout", 60))
    kwargs = dict(cfg["kwargs"])
    kwargs.update(cfg.get("rank_overrides", {}).get(str(ctx.rank), {}))
    if "dtype" in kwargs:
        kwargs["dtype"] = getattr(torch, kwargs["dtype"])
    marker = cfg["output"] + ".died"

    def callback(record, outputs):
        if cfg.get("die_at") == record["step"] and ctx.rank == cfg.get("die_rank", 1) and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(17)  # a hard death: no cleanup, no exception

    data = torch.load(cfg["graph"], weights_only=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NeuralSpectralEmbedding(cfg["k"], callback=callback, progress=False, **kwargs).fit(data)
    if ctx.rank == 0:
        torch.save({"state": model.encoder_.state_dict(), "eigenvalues": model.eigenvalues_,
                    "embedding": model.embedding_, "history": model.history_, "world_size": ctx.world_size},
                   cfg["output"])
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
