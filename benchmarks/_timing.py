"""A fair timing harness: every solver at every thread setting, interleaved, medians, best-configured anchors.

On a small shared machine the number of threads changes verdicts (two BLAS threads made eigsh ~8x slower
than one under load), so a comparison is fair only when each side runs at its own best setting. This module

* runs a callable in-process or a command in a subprocess with torch, OpenMP and BLAS threads set together
  (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` in the child's environment, which BLAS
  reads once at load: the reliable way; in-process, :func:`limited_threads` uses ``torch.set_num_threads`` and
  ``threadpoolctl``);
* records per row wall seconds, CPU seconds, peak RSS and the 1-minute load average at the row's start;
* interleaves jobs round-robin over passes (pass 1: every job at every setting, then pass 2 ...), so that
  all see the same drift of the machine's speed, and reports medians;
* picks each job's best thread setting (lowest median wall time) and states ratios against an anchor
  at its best.

A subprocess may report the time of its own timed region (excluding interpreter start-up and imports) by
printing one line ``__TIMING__ {"wall_s": ..., "cpu_s": ..., ...}`` (:func:`emit`, which adds the child's own
peak RSS); otherwise the whole child is timed, CPU seconds and peak RSS from ``os.wait4`` of that child
(whose ``ru_maxrss`` is at least the parent's at fork time on Linux: an upper bound).
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

MARKER = "__TIMING__"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class Measurement:
    """One timed row: ``job`` at ``threads`` in pass ``pass_index``."""

    job: str
    threads: int
    pass_index: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    load_1min: float
    extra: Dict = field(default_factory=dict)


@dataclass
class Job:
    """A thing to time: ``fn()`` in-process, or ``command`` (argv list) in a subprocess."""

    name: str
    fn: Optional[Callable[[], object]] = None
    command: Optional[Sequence[str]] = None
    env: Optional[Dict[str, str]] = None

    def __post_init__(self):
        if (self.fn is None) == (self.command is None):
            raise ValueError(f"Job {self.name!r}: give exactly one of fn or command.")


def thread_env(threads: int, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """``base`` (default: this process's environment) with the OpenMP and BLAS thread counts set to ``threads``."""
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}.")
    env = dict(os.environ if base is None else base)
    env.update({var: str(int(threads)) for var in THREAD_VARS})
    return env


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads and every loaded BLAS/OpenMP pool limited to ``threads`` while inside."""
    import torch
    from threadpoolctl import threadpool_limits

    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        torch.set_num_threads(previous)


def _rss_mb(maxrss: int) -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    return maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0


def own_peak_rss_mb() -> Optional[float]:
    """This process's own peak RSS (``VmHWM``, Linux), or ``None`` where ``/proc`` has no such field.

    Preferred to ``ru_maxrss`` for children: Linux carries the parent's high-water mark across fork and
    exec into the child's ``ru_maxrss``, so a child of a large parent reports at least the parent's size."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def emit(wall_s: float, cpu_s: float, **extra) -> None:
    """From inside a timed child: report its timed region (one ``__TIMING__`` line on stdout), with its own
    peak RSS (:func:`own_peak_rss_mb`)."""
    rss = own_peak_rss_mb()
    if rss is not None:
        extra.setdefault("max_rss_mb", rss)
    print(MARKER + " " + json.dumps(dict(wall_s=wall_s, cpu_s=cpu_s, **extra)), flush=True)


def parse_timing(stdout: str) -> Optional[Dict]:
    """The last ``__TIMING__`` record of a child's output, or ``None``."""
    found = None
    for line in stdout.splitlines():
        if line.startswith(MARKER + " "):
            found = json.loads(line[len(MARKER) + 1:])
    return found


def measure_callable(name: str, fn: Callable[[], object], threads: int, pass_index: int = 0) -> Measurement:
    """Time ``fn()`` here, threads limited by :func:`limited_threads`. Peak RSS is this process's so far
    (a high-water mark: use subprocesses to compare memory)."""
    load = os.getloadavg()[0]
    with limited_threads(threads):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    extra = result if isinstance(result, dict) else {}
    return Measurement(name, int(threads), pass_index, wall, cpu,
                       _rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), load, extra)


def measure_subprocess(name: str, command: Sequence[str], threads: int, pass_index: int = 0,
                       env: Optional[Dict[str, str]] = None, timeout: Optional[float] = None) -> Measurement:
    """Run ``command`` with ``threads`` OpenMP/BLAS threads (the child should also call
    ``torch.set_num_threads`` from ``OMP_NUM_THREADS``, as torch does by default). CPU seconds and peak
    RSS from ``os.wait4`` of the child, unless it reports its timed region by :func:`emit` (then the
    wall and CPU seconds are that region's, the RSS still the child's peak)."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        # files, not pipes: the child cannot block on a full pipe while we wait4 for its own resource usage
        proc = subprocess.Popen(list(command), env=thread_env(threads, env), stdout=out, stderr=err, text=True)
        status, usage = _wait4(proc, timeout)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{name} (threads={threads}) exited {code}:\n{stderr[-3000:]}")
    cpu, rss = usage.ru_utime + usage.ru_stime, _rss_mb(usage.ru_maxrss)
    record = parse_timing(stdout)
    extra: Dict = {}
    if record is not None:
        wall, cpu = float(record.pop("wall_s")), float(record.pop("cpu_s"))
        rss = float(record.pop("max_rss_mb", rss))
        extra = record
    return Measurement(name, int(threads), pass_index, wall, cpu, rss, load, extra)


def _wait4(proc: subprocess.Popen, timeout: Optional[float]):
    """Reap ``proc`` with ``os.wait4`` (its own CPU time and peak RSS), killing it past ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait on a reaped pid
            return status, usage
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.02)


def schedule(jobs: Sequence[Job], threads: Sequence[int], passes: int) -> List[Tuple[int, Job, int]]:
    """The round-robin order ``(pass, job, threads)``: within a pass every job at every setting, in order."""
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}.")
    return [(p, job, int(t)) for p in range(passes) for job in jobs for t in threads]


def run_round_robin(jobs: Sequence[Job], threads: Sequence[int] = (1, 2), passes: int = 3,
                    log: Optional[Callable[[Measurement], None]] = None,
                    timeout: Optional[float] = None) -> List[Measurement]:
    """Measure every job at every thread setting, ``passes`` times, interleaved (:func:`schedule`)."""
    out = []
    for p, job, t in schedule(jobs, threads, passes):
        if job.fn is not None:
            m = measure_callable(job.name, job.fn, t, p)
        else:
            m = measure_subprocess(job.name, job.command, t, p, env=job.env, timeout=timeout)
        out.append(m)
        if log is not None:
            log(m)
    return out


@dataclass
class Summary:
    """Medians over the passes of one ``(job, threads)``."""

    job: str
    threads: int
    passes: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    load_1min: float
    wall_min: float
    wall_max: float
    extra: Dict = field(default_factory=dict)


def summarize(measurements: Sequence[Measurement]) -> List[Summary]:
    """One :class:`Summary` per ``(job, threads)``, in first-seen order; numeric ``extra`` fields are medians
    too, others are taken from the last pass."""
    groups: Dict[Tuple[str, int], List[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.job, m.threads), []).append(m)
    out = []
    for (job, t), ms in groups.items():
        extra: Dict = {}
        for key in ms[-1].extra:
            values = [m.extra[key] for m in ms if key in m.extra]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            extra[key] = statistics.median(values) if numeric else values[-1]
        walls = [m.wall_s for m in ms]
        out.append(Summary(job, t, len(ms), statistics.median(walls), statistics.median(m.cpu_s for m in ms),
                           max(m.max_rss_mb for m in ms), statistics.median(m.load_1min for m in ms),
                           min(walls), max(walls), extra))
    return out


def best_settings(summaries: Sequence[Summary], key: Callable[[Summary], float] = lambda s: s.wall_s
                  ) -> Dict[str, Summary]:
    """Per job, its summary at the thread setting with the lowest ``key`` (median wall seconds); a tie goes
    to fewer threads (the cheaper setting)."""
    best: Dict[str, Summary] = {}
    for s in summaries:
        b = best.get(s.job)
        if b is None or (key(s), s.threads) < (key(b), b.threads):
            best[s.job] = s
    return best


def speedups(summaries: Sequence[Summary], anchor: str) -> Dict[Tuple[str, int], float]:
    """``anchor``'s median wall time at its best setting over each row's: >1 means faster than the anchor."""
    best = best_settings(summaries)
    if anchor not in best:
        raise ValueError(f"anchor {anchor!r} was not measured; jobs: {sorted(best)}.")
    base = best[anchor].wall_s
    return {(s.job, s.threads): base / s.wall_s for s in summaries}


def as_dict(m: Union[Measurement, Summary]) -> Dict:
    return asdict(m)
