"""benchmarks/gpu_check.py on a machine without CUDA: it skips cleanly, parses its arguments, and its
``--dry-run`` runs every step's plumbing on tiny CPU inputs."""
import time

import pytest
import torch

import gpu_check


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_defaults_and_dry_run_sizes():
    args = gpu_check.build_parser().parse_args([])
    assert not args.dry_run and args.budget == 480.0 and args.output.endswith("benchmarks/results/gpu.md")
    real = gpu_check.settings(args)
    assert real["device"] == "cuda" and real["nodes"] == 1_000_000 and real["backend"] == "nccl"
    dry = gpu_check.settings(gpu_check.build_parser().parse_args(["--dry-run"]))
    assert dry["device"] == "cpu" and dry["nodes"] <= 5000 and dry["backend"] == "gloo"
    custom = gpu_check.settings(gpu_check.build_parser().parse_args(["--nodes", "5000", "--device", "cuda:1"]))
    assert custom["nodes"] == 5000 and custom["device"] == "cuda:1"
    with pytest.raises(SystemExit):
        gpu_check.build_parser().parse_args(["--steps-only", "nonsense"])


def test_skips_cleanly_without_cuda(no_cuda, tmp_path, capsys):
    out = tmp_path / "gpu.md"
    assert gpu_check.main(["--output", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == ["gpu_check: skipped: no CUDA GPU (torch.cuda.is_available() is False)"]
    assert not out.exists()  # nothing written by default
    assert gpu_check.main(["--output", str(out), "--write-skip"]) == 0
    assert "Skipped" in out.read_text() and "no CUDA GPU" in out.read_text()


def test_finds_the_cuda_tests():
    files = gpu_check.cuda_test_files()
    assert "tests/test_estimator_minibatch.py" in files
    assert all(gpu_check.CUDA_MARK in (gpu_check.ROOT / f).read_text() for f in files)


def test_pytest_summary_parsing():
    assert gpu_check._pytest_counts("2 passed, 1 skipped, 30 deselected in 3.1s") == \
        {"passed": 2, "skipped": 1, "deselected": 30}
    assert gpu_check._pytest_counts("1 failed, 2 errors in 1s") == {"failed": 1, "error": 2}


def test_all_skipped_cuda_tests_fail_on_a_real_run(monkeypatch):
    class Done:
        returncode, stdout = 0, "ss\n2 skipped, 17 deselected in 1.0s\n"

    monkeypatch.setattr(gpu_check.subprocess, "run", lambda *a, **k: Done())
    real = gpu_check.settings(gpu_check.build_parser().parse_args([]))
    assert gpu_check.step_cuda_tests(real, 60)["status"] == "FAILED"
    dry = gpu_check.settings(gpu_check.build_parser().parse_args(["--dry-run"]))
    assert gpu_check.step_cuda_tests(dry, 60)["status"] == "ok"


def test_budget_skips_later_steps(no_cuda, monkeypatch):
    ran = []
    monkeypatch.setattr(gpu_check, "STEPS", {"a": lambda cfg, left: ran.append("a") or dict(status="ok", detail=""),
                                             "b": lambda cfg, left: ran.append("b") or dict(status="ok", detail="")})
    args = gpu_check.build_parser().parse_args(["--dry-run", "--budget", "0"])
    rows = gpu_check.run_steps(args, gpu_check.settings(args))
    assert ran == [] and [r["status"] for r in rows] == ["skipped", "skipped"]


def test_a_failing_step_is_reported_not_raised(no_cuda, monkeypatch):
    def broken(cfg, left):
        raise RuntimeError("boom")

    monkeypatch.setattr(gpu_check, "STEPS", {"broken": broken})
    args = gpu_check.build_parser().parse_args(["--dry-run"])
    rows = gpu_check.run_steps(args, gpu_check.settings(args))
    assert rows[0]["status"] == "FAILED" and "RuntimeError: boom" in rows[0]["detail"]


def test_dry_run_exercises_every_step(no_cuda, tmp_path):
    out = tmp_path / "gpu.md"
    t = time.perf_counter()
    code = gpu_check.main(["--dry-run", "--output", str(out)])
    seconds = time.perf_counter() - t
    text = out.read_text()
    assert code == 0, text
    for step in gpu_check.STEPS:
        assert f"| {step} | ok |" in text or f"| {step} | nothing to run |" in text, text
    assert "DRY RUN" in text and "backend gloo, world_size 1" in text
    assert seconds < 120  # ~30 s on an idle core; this shared machine is often 2-3x slower
