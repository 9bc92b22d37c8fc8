"""Data-parallel training on 2 CPU processes (gloo) and checkpoint/resume.

Every multi-process test launches real processes (torchrun, or RANK/WORLD_SIZE set by hand) running
``tests/training/distributed_worker.py`` or ``python -m pyg_spectral.train``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import sbm_graph
from pyg_spectral.encoders import MLPEncoder
from pyg_spectral.losses import build_loss
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.operators import build_operator
from pyg_spectral.training.distributed import CheckpointError, rank_seed
from pyg_spectral.training.minibatch import MiniBatchObjective

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parents[2]
K = 8
# the settings of tests/test_estimator_minibatch.py::test_mlp_minibatch_with_ema, 64 rows per rank
MLP_KWARGS = dict(operator="random_walk", encoder="mlp", batch_size=64, lr=1e-2, max_steps=600, ema_decay=0.99,
                  encoder_kwargs={"hidden_channels": 64}, eval_every=50, tol=0.0)

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    data = sbm_graph([150] * 8, 0.08, 0.003, seed=1)
    data.x = torch.nn.functional.one_hot(data.y, 8).float() + 0.1 * torch.randn(
        data.num_nodes, 8, generator=torch.Generator().manual_seed(0))
    path = tmp_path_factory.mktemp("graph") / "sbm.pt"
    torch.save(data, path)
    return data, path


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def torchrun(args, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)


def launch_by_hand(config_path, timeout=300):
    """Two ranks started without torchrun's agent: nobody kills a survivor for us."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(2):
        env = dict(_env(), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                   WORLD_SIZE="2")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(config_path)], env=env, cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return [(p.wait(timeout=timeout), p.stderr.read()) for p in procs]


def write_config(tmp_path, name, graph_path, **cfg):
    cfg = dict({"graph": str(graph_path), "k": K, "output": str(tmp_path / f"{name}.out.pt"),
                "kwargs": dict(MLP_KWARGS)}, **cfg)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path, Path(cfg["output"])


@pytest.fixture(scope="module")
def uninterrupted(graph, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    kwargs = dict(MLP_KWARGS, checkpoint=str(tmp / "ckpt.pt"))
    cfg, out = write_config(tmp, "run", graph[1], kwargs=kwargs)
    proc = torchrun([WORKER, cfg])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.slow
def test_two_processes_meet_the_accuracy_bar(graph, uninterrupted):
    # Measured: eigenvalue error 4.4e-2, subspace distance 5.1e-2 (single process, batch 128: 4.5e-2 / 5.2e-2).
    data, _ = graph
    vals, vecs = exact_eigenpairs(data, K + 1, "random_walk")
    assert uninterrupted["world_size"] == 2
    assert np.abs(uninterrupted["eigenvalues"].numpy() - vals[:K]).max() <= 0.08
    assert subspace_distance(uninterrupted["embedding"], vecs[:, :K]) <= 0.08


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_total_batch(graph, uninterrupted):
    data, _ = graph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = NeuralSpectralEmbedding(K, progress=False, **dict(MLP_KWARGS, batch_size=128)).fit(data)
    # Different random batches, same estimator: agreement to the mini-batch noise level.
    assert np.abs(single.eigenvalues_.numpy() - uninterrupted["eigenvalues"].numpy()).max() <= 0.03
    assert subspace_distance(single.embedding_, uninterrupted["embedding"]) <= 0.05


@pytest.mark.slow
def test_distributed_steps_equal_the_single_process_estimator_exactly(graph, tmp_path):
    """Three plain SGD steps in float64 on 2 ranks = the same steps done by hand in one process on the
    ranks' concatenated batch (rank r's batches drawn with rank_seed(seed, r))."""
    data, path = graph
    kwargs = dict(MLP_KWARGS, optimizer="sgd", momentum=0.0, lr=0.05, lr_schedule="constant", max_steps=3,
                  ema_decay=None, dtype="float64", eval_every=3)
    cfg, out = write_config(tmp_path, "exact", path, kwargs=kwargs)
    proc = torchrun([WORKER, cfg])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = torch.load(out, weights_only=False)

    m = K + 8
    torch.manual_seed(0)
    encoder = MLPEncoder(8, m, hidden_channels=64).double()
    op = build_operator("random_walk", data.edge_index, None, data.num_nodes, dtype=torch.float64)
    loss_fn = build_loss("nested_lora", m, nesting="joint")
    x = data.x.double()
    ranks = [MiniBatchObjective(op, encoder, x, data.edge_index, 64,
                                generator=torch.Generator().manual_seed(rank_seed(0, r))) for r in range(2)]
    opt = torch.optim.SGD(encoder.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        parts = [obj.batch(torch.float64) for obj in ranks]
        f, tf, w = (torch.cat([p[i] for p in parts]) for i in range(3))
        loss_fn(f, tf, weight=w / 2, split=True).backward()
        opt.step()
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(result["state"][name], value, rtol=1e-12, atol=1e-13)


@pytest.mark.slow
def test_killed_worker_resumes_without_losing_progress(graph, uninterrupted, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    kwargs = dict(MLP_KWARGS, checkpoint=str(ckpt), checkpoint_every=100)
    cfg, out = write_config(tmp_path, "killed", graph[1], kwargs=kwargs, die_at=350, die_rank=1, timeout=30)
    # Rank 1 dies hard at step 350 (after the checkpoint of step 300). With no agent to stop it, rank 0 must fail
    # by itself (a gloo error or the 30 s collective timeout), not hang.
    (rc0, err0), (rc1, _) = launch_by_hand(cfg, timeout=240)
    assert rc1 == 17 and rc0 != 0
    assert "Traceback" in err0
    saved = torch.load(ckpt, weights_only=False)
    assert saved["step"] == 300 and not out.exists()
    # The same command again resumes at step 300 and ends where the uninterrupted run ended, bit for bit.
    proc = torchrun([WORKER, cfg])
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = torch.load(out, weights_only=False)
    assert torch.equal(resumed["embedding"], uninterrupted["embedding"])
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in uninterrupted["history"]]


def test_ranks_with_different_settings_fail_with_a_clear_error(graph, tmp_path):
    cfg, out = write_config(tmp_path, "mismatch", graph[1], rank_overrides={"1": {"seed": 1}}, timeout=60)
    proc = torchrun([WORKER, cfg])
    assert proc.returncode != 0 and not out.exists()
    assert "Ranks disagree on their settings" in proc.stderr and "seed" in proc.stderr


def test_total_batch_larger_than_the_graph_is_refused(graph, tmp_path):
    cfg, out = write_config(tmp_path, "big", graph[1], kwargs=dict(MLP_KWARGS, batch_size=700), timeout=60)
    proc = torchrun([WORKER, cfg])
    assert proc.returncode != 0
    assert "world_size x batch_size = 2 x 700 = 1400 rows per step exceed the graph's 1200 nodes" in proc.stderr


@pytest.mark.slow
def test_train_cli_on_two_processes_with_a_gnn(graph, tmp_path):
    out = tmp_path / "sage.pt"
    args = ["-m", "pyg_spectral.train", graph[1], "--k", "4", "--encoder", "sage", "--sampler", "neighbor",
            "--num-neighbors", "5", "5", "--hidden-channels", "32", "--batch-size", "64", "--max-steps", "40",
            "--eval-every", "20", "--backend", "gloo", "--quiet", "--output", out]
    proc = torchrun(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = torch.load(out, weights_only=False)
    assert saved["world_size"] == 2 and saved["eigenvectors"].shape == (1200, 4)
    assert torch.isfinite(saved["eigenvectors"]).all() and saved["steps"] == 40
    # the output is not overwritten without --force (checked by every rank before they meet)
    proc = torchrun(args)
    # printed by every rank that got to it: the first rank to exit gets the other killed, maybe before it prints
    assert proc.returncode != 0 and proc.stderr.count("exists; pass --force") >= 1
    assert "pyg_spectral.train: error [rank " in proc.stderr


# ------------------------------------------------------------- one process
def test_distributed_true_without_a_process_group_is_an_error(graph):
    with pytest.raises(RuntimeError, match="no torch.distributed process group"):
        NeuralSpectralEmbedding(K, distributed=True, progress=False, **MLP_KWARGS).fit(graph[0])
