"""Run an attack against a real server while probing ``/health``, and watch the server's memory.

Usage (see ``conftest.py`` for the fixtures)::

    report = watch(server, lambda: requests.get(url_of_the_attack))
    report.assert_responsive()          # /health p99 during the attack vs the idle baseline
    report.assert_memory(budget_mib=96)  # peak RSS during the attack vs the baseline

The server is a separate process reached over TCP, so a request that holds its event loop
or its GIL shows up as /health latency. Memory: the kernel's peak RSS (``VmHWM``) of the
server is reset just before the attack (``/proc/PID/clear_refs``) and read after it; the
RSS of its child processes (sandboxes, parser processes) is sampled while the attack runs.
Nothing is compared with an absolute time that a noisy shared machine could miss: latency
is compared with a baseline measured just before, with a generous floor that a frozen
server (seconds) can never meet.
"""

from __future__ import annotations

import http.client
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

MIB = 1 << 20


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc/*/task/*/children)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", encoding="ascii") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of ``pid`` to its current RSS."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


class HealthProbe(threading.Thread):
    """GET /health back to back (one keep-alive connection) and record each latency."""

    def __init__(self, url: str, timeout: float = 60.0, pause: float = 0.005):
        super().__init__(daemon=True)
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self.pause = pause
        self.samples: list[tuple[float, float]] = []  # (start, latency)
        self.errors: list[str] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        while not self._halt.is_set():
            start = time.perf_counter()
            try:
                conn.request("GET", "/health")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors.append(f"/health answered {resp.status}")
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            latency = time.perf_counter() - start
            with self._lock:
                self.samples.append((start, latency))
            time.sleep(self.pause)
        conn.close()

    def between(self, t0: float, t1: float) -> list[float]:
        """Latencies of the probes that were in flight at some point in [t0, t1]."""
        with self._lock:
            return [lat for start, lat in self.samples if start <= t1 and start + lat >= t0]

    def stop(self) -> None:
        self._halt.set()
        self.join(self.timeout + 5)


class MemorySampler(threading.Thread):
    """Peak RSS of the server's descendants (sampled), next to the server's own VmHWM."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_children = 0
        self.peak_self = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            kids = sum(rss_bytes(k) for k in _children(self.pid))
            self.peak_children = max(self.peak_children, kids)
            self.peak_self = max(self.peak_self, rss_bytes(self.pid))
            time.sleep(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


@dataclass
class AttackReport:
    name: str
    idle: list[float]
    attack: list[float]
    attack_seconds: float
    rss_before: int
    peak_rss: int
    peak_children: int
    result: Any = None
    probe_errors: list[str] = field(default_factory=list)

    @property
    def idle_p99(self) -> float:
        return percentile(self.idle, 99)

    @property
    def attack_p99(self) -> float:
        return percentile(self.attack, 99)

    @property
    def attack_max(self) -> float:
        return max(self.attack, default=math.nan)

    @property
    def memory_growth(self) -> int:
        """Peak server RSS during the attack minus its RSS before it."""
        return max(0, self.peak_rss - self.rss_before)

    def summary(self) -> str:
        return (
            f"[{self.name}] /health p99 idle {self.idle_p99 * 1e3:.1f} ms, during the attack "
            f"{self.attack_p99 * 1e3:.1f} ms (max {self.attack_max * 1e3:.1f} ms, {len(self.attack)} probes, "
            f"attack {self.attack_seconds:.2f} s); server RSS {self.rss_before / MIB:.0f} MiB -> peak "
            f"{self.peak_rss / MIB:.0f} MiB (+{max(0, self.peak_rss - self.rss_before) / MIB:.0f} MiB), "
            f"children peak {self.peak_children / MIB:.0f} MiB"
        )

    def assert_responsive(self, factor: float = 20.0, floor: float = 1.0, max_floor: float = 5.0) -> None:
        """p99 of /health during the attack within ``factor`` x the idle p99, or within ``floor``
        seconds, whichever is larger; and no single probe slower than ``max_floor`` seconds (or
        5x the p99 limit): a long attack with one freeze keeps a low p99, but not a low max.
        A server frozen for seconds can never meet these floors; a noisy machine always can."""
        assert not self.probe_errors, self.probe_errors[:3]
        assert self.attack, f"no /health probe ran during the attack ({self.summary()})"
        limit = max(floor, factor * self.idle_p99)
        assert self.attack_p99 <= limit, f"/health froze during the attack: {self.summary()}"
        assert self.attack_max <= max(max_floor, 5 * limit), f"/health froze once during the attack: {self.summary()}"

    def assert_memory(self, budget_mib: float, children_mib: float | None = None) -> None:
        """The server's peak RSS grew at most ``budget_mib`` over its RSS before the attack;
        with ``children_mib``, its child processes together peaked at most that much."""
        if children_mib is not None:
            assert self.peak_children <= children_mib * MIB, f"child processes took too much memory: {self.summary()}"
        assert self.memory_growth <= budget_mib * MIB, (
            f"the server's memory grew by {self.memory_growth / MIB:.0f} MiB (budget {budget_mib} MiB): "
            f"{self.summary()}")


def watch(url: str, pid: int, attack: Callable[[], Any], *, name: str = "attack",
          idle_seconds: float = 1.0, min_attack_probes: int = 5) -> AttackReport:
    """Measure /health idle for ``idle_seconds``, then while ``attack()`` runs (in this thread).

    The attack is repeated until at least ``min_attack_probes`` probes overlapped it, so a
    fast attack still gets a meaningful percentile (each repetition is a new request).
    """
    probe = HealthProbe(url)
    probe.start()
    try:
        t0 = time.perf_counter()
        time.sleep(idle_seconds)
        idle = probe.between(t0, time.perf_counter())
        rss_before = rss_bytes(pid)
        has_hwm = reset_peak(pid)
        sampler = MemorySampler(pid)
        sampler.start()
        a0 = time.perf_counter()
        result = attack()
        while len(probe.between(a0, time.perf_counter())) < min_attack_probes:
            attack()
        a1 = time.perf_counter()
        time.sleep(0.05)
        sampler.stop()
        peak = _status_kib(pid, "VmHWM") * 1024 if has_hwm else 0
        peak = max(peak, sampler.peak_self)
    finally:
        probe.stop()
    report = AttackReport(
        name=name, idle=idle, attack=probe.between(a0, a1), attack_seconds=a1 - a0,
        rss_before=rss_before, peak_rss=peak, peak_children=sampler.peak_children, result=result,
        probe_errors=probe.errors,
    )
    return report
