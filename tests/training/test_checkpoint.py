"""Checkpoints: safe loading, checksum, the resume contract (settings, world size, threads), old files."""
from __future__ import annotations

import struct
import warnings
import zipfile

import pytest
import torch

from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding
from pyg_spectral.datasets import sbm_graph
from pyg_spectral.training.checkpoint import CHECKPOINT_FORMAT, checkpoint_checksum
from pyg_spectral.training.distributed import CheckpointError, DistributedContext, TrainingCheckpoint
from tests._malicious import KINDS, truncate, write_malicious

CTX = DistributedContext(0, 1, torch.device("cpu"))
K = 8
MLP_KWARGS = dict(operator="random_walk", encoder="mlp", batch_size=128, lr=1e-2, ema_decay=0.99,
                  encoder_kwargs={"hidden_channels": 64}, eval_every=50, tol=0.0, progress=False)


@pytest.fixture(scope="module")
def graph():
    data = sbm_graph([150] * 8, 0.08, 0.003, seed=1)
    data.x = torch.nn.functional.one_hot(data.y, 8).float() + 0.1 * torch.randn(
        data.num_nodes, 8, generator=torch.Generator().manual_seed(0))
    return data


def _states(seed=0):
    torch.manual_seed(seed)
    enc = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    enc(torch.randn(5, 4)).square().sum().backward()
    opt.step()
    sched.step()
    return dict(encoder=enc, optimizer=opt, scheduler=sched, ema=None), torch.Generator().manual_seed(seed + 7)


def _write(path, digest="d1"):
    states, gen = _states(0)
    gen.manual_seed(11)
    TrainingCheckpoint(str(path), CTX, digest, 10, states, gen).record(
        {"step": 20}, [{"step": 10, "loss": -1.5}, {"step": 20, "loss": -2.0}], final=True, converged=False)
    return states, gen


def _resume(path, digest="d1"):
    states, gen = _states(1)
    return TrainingCheckpoint(str(path), CTX, digest, 10, states, gen).resume(), states, gen


def test_round_trip_restores_every_state(tmp_path):
    path = tmp_path / "c.pt"
    saved, gen = _write(path)
    (step, history, converged), states, gen2 = _resume(path)
    assert (step, converged) == (20, False) and history[-1] == {"step": 20, "loss": -2.0}
    for name, value in saved["encoder"].state_dict().items():
        assert torch.equal(states["encoder"].state_dict()[name], value)
    assert torch.equal(gen2.get_state(), gen.get_state())
    assert states["optimizer"].state_dict()["state"][0]["step"] == 1


def _flip_one_bit(path, entry_suffix="/data/0"):
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(entry_suffix))
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len] ^= 0x01  # stored uncompressed: first byte of the tensor
    path.write_bytes(bytes(raw))


def test_one_flipped_bit_in_a_stored_tensor_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    _write(path)
    _flip_one_bit(path)
    with pytest.raises(CheckpointError, match="fails its checksum"):
        _resume(path)


def test_a_modified_and_resaved_value_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    _write(path)
    payload = torch.load(path, weights_only=True)
    payload["generator_states"][0][-1] ^= 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="fails its checksum"):
        _resume(path)


@pytest.mark.parametrize("key", ["step", "generator_states", "checksum", "num_threads", "encoder"])
def test_missing_key_names_the_key(tmp_path, key):
    path = tmp_path / "c.pt"
    _write(path)
    payload = torch.load(path, weights_only=True)
    del payload[key]
    payload["checksum"] = checkpoint_checksum(payload)
    if key == "checksum":
        del payload["checksum"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"key '{key}' is missing"):
        _resume(path)


def test_other_thread_count_is_refused(tmp_path):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        path = tmp_path / "c.pt"
        _write(path)
        torch.set_num_threads(2)
        if torch.get_num_threads() != 2:
            pytest.skip("cannot use 2 threads here")
        with pytest.raises(CheckpointError, match="1 vs 2 threads are not bitwise identical"):
            _resume(path)
    finally:
        torch.set_num_threads(before)


def test_other_settings_and_world_size_are_refused(tmp_path):
    path = tmp_path / "c.pt"
    _write(path)
    with pytest.raises(CheckpointError, match="other settings"):
        _resume(path, digest="d2")
    states, gen = _states(1)
    with pytest.raises(CheckpointError, match="written by 1 processes; this run has 2"):
        load = TrainingCheckpoint(str(path), DistributedContext(0, 2, torch.device("cpu")), "d1", 10, states, gen)
        load.resume()


def test_format_1_files_of_the_previous_code_are_still_read(tmp_path):
    path = tmp_path / "c.pt"
    saved, _ = _write(path)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT == 2
    del payload["checksum"], payload["num_threads"]
    payload["format"] = 1
    torch.save(payload, path)
    (step, _, _), states, _ = _resume(path)
    assert step == 20
    assert torch.equal(states["encoder"].weight, saved["encoder"].weight)


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_checkpoint_runs_no_code(tmp_path, kind):
    marker = tmp_path / "PWNED"
    path = write_malicious(tmp_path / "c.pt", kind, marker)
    with pytest.raises(CheckpointError, match="refusing to load"):
        _resume(path)
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_checkpoint_is_one_clear_line(tmp_path, legacy):
    path = tmp_path / "c.pt"
    _write(path)
    if legacy:
        torch.save(torch.load(path, weights_only=True), path, _use_new_zipfile_serialization=False)
    truncate(path)
    with pytest.raises(CheckpointError, match="truncated") as info:
        _resume(path)
    assert len(str(info.value).splitlines()) == 1


def test_checkpoint_files_respect_the_umask(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        _write(tmp_path / "c.pt")
    finally:
        os.umask(old)
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o640
    assert not list(tmp_path.glob(".c.pt.*"))


# ------------------------------------------------------------- through the estimator
def test_estimator_refuses_a_crafted_checkpoint(graph, tmp_path):
    marker = tmp_path / "PWNED"
    ckpt = write_malicious(tmp_path / "c.pt", "zip", marker)
    with pytest.raises(CheckpointError, match="refusing to load"):
        NeuralSpectralEmbedding(K, checkpoint=str(ckpt), max_steps=50, **MLP_KWARGS).fit(graph)
    assert not marker.exists()


def test_checkpoint_resume_is_bit_exact_in_one_process(graph, tmp_path):
    kwargs = dict(MLP_KWARGS, max_steps=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = NeuralSpectralEmbedding(K, **kwargs).fit(graph)

        class Stop(Exception):
            pass

        def stop_at_200(record, outputs):
            if record["step"] == 200:
                raise Stop

        ckpt = tmp_path / "one.pt"
        with pytest.raises(Stop):
            NeuralSpectralEmbedding(K, checkpoint=str(ckpt), callback=stop_at_200, **kwargs).fit(graph)
        resumed = NeuralSpectralEmbedding(K, checkpoint=str(ckpt), **kwargs).fit(graph)
    assert torch.equal(resumed.embedding_, plain.embedding_)
    assert [h["step"] for h in resumed.history_] == [50, 100, 150, 200, 250, 300]
    # a finished checkpoint returns at once with the same result
    again = NeuralSpectralEmbedding(K, checkpoint=str(ckpt), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.fit(graph)
    assert torch.equal(again.embedding_, plain.embedding_)


def test_checkpoint_from_other_settings_or_corrupt_is_refused(graph, tmp_path):
    kwargs = dict(MLP_KWARGS, max_steps=50)
    ckpt = tmp_path / "c.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        NeuralSpectralEmbedding(K, checkpoint=str(ckpt), **kwargs).fit(graph)
        with pytest.raises(CheckpointError, match="other settings"):
            NeuralSpectralEmbedding(K, checkpoint=str(ckpt), **dict(kwargs, lr=2e-2)).fit(graph)
        other = graph.clone()
        other.x = other.x + 1.0
        with pytest.raises(CheckpointError, match="other settings"):
            NeuralSpectralEmbedding(K, checkpoint=str(ckpt), **kwargs).fit(other)
        ckpt.write_bytes(b"not a checkpoint")
        with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
            NeuralSpectralEmbedding(K, checkpoint=str(ckpt), **kwargs).fit(graph)
