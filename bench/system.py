"""Machine facts, free ports and a resident-memory sampler for the processes under test."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def machine_info() -> dict[str, Any]:
    load1, load5, load15 = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": round(psutil.virtual_memory().total / 2**20),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(load1, 2), round(load5, 2), round(load15, 2)],
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def role_of(proc: psutil.Process) -> str:
    """'worker', 'supervisor' or 'helper' for a process of a ``fluide serve`` tree."""
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if "resource_tracker" in cmd:
        return "helper"
    if "multiprocessing" in cmd or "spawn_main" in cmd:
        return "worker"  # uvicorn's workers are spawned
    try:
        parent = proc.parent()
        # Granian's workers are forked: the same command line as their supervisor.
        if parent is not None and " ".join(parent.cmdline()) == cmd:
            return "worker"
    except psutil.Error:
        return "gone"
    return "main"


@dataclass
class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds while running."""

    root_pid: int
    interval: float = 0.2
    peak_mb: dict[int, float] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            try:
                rss = proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
            if proc.pid not in self.roles:
                self.roles[proc.pid] = role_of(proc)
            self.peak_mb[proc.pid] = max(self.peak_mb.get(proc.pid, 0.0), rss)

    def serving(self) -> dict[int, float]:
        """Peak RSS of the processes that serve requests (the workers, or the single main)."""
        workers = {p: mb for p, mb in self.peak_mb.items() if self.roles.get(p) == "worker"}
        if workers:
            return workers
        return {p: mb for p, mb in self.peak_mb.items() if self.roles.get(p) == "main"}


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds used so far by a process and its descendants (all threads)."""
    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its group:
    SIGTERM, then SIGKILL after ``timeout``, then SIGKILL for children that outlived it."""
    if proc is None or proc.poll() is not None:
        return
    pgid = proc.pid  # start_new_session made it the group leader
    try:
        os.killpg(pgid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
