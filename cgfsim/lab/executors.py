"""Where a sweep's jobs run, chosen by one flag: ``serial``, ``process`` or ``ray``.

Every executor runs the same :func:`cgfsim.lab.jobs.run_job` on the same job
dicts and hands each result to the driver as soon as that job finishes (the
driver alone writes the store). ``run(..., fn=...)`` runs another module-level
function of one dict instead (the tuner's study workers, :mod:`cgfsim.lab.tune`).
Each job sets its own torch thread count (part of the job, default 1), so a job
computes the same rows whichever executor ran it; executors only decide how many
jobs run at once.

- ``serial``: one job after another in this process.
- ``process``: a local pool of ``workers`` processes (default: every core),
  started with ``spawn`` (safe with torch); BLAS/OpenMP threads in the workers
  are capped at ``cores // workers`` so jobs do not oversubscribe the cores.
- ``ray``: Ray tasks (one CPU each) on the cluster at ``address``, or on a local
  Ray started for the sweep. A local Ray keeps its temp/session folder in a
  temp dir removed afterwards and gets a per-sweep auth token through the
  environment, so nothing is written to the home folder. On a remote cluster
  every node needs cgfsim installed; job folders (checkpoints) stay on the node
  that ran the job, the rows come back to the driver.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from cgfsim.sim.errors import CgfsimError

EXECUTORS = ("serial", "process", "ray")
Done = Callable[[dict[str, Any]], None]
Failed = Callable[[dict[str, Any], BaseException], None]
Started = Callable[[dict[str, Any]], None]
JobFn = Callable[[dict[str, Any]], dict[str, Any]]


def _job_fn(fn: JobFn | None) -> JobFn:
    """``fn``, or the sweep's :func:`cgfsim.lab.jobs.run_job` (imported on use)."""
    if fn is not None:
        return fn
    from cgfsim.lab.jobs import run_job

    return run_job


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SerialExecutor:
    name = "serial"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = 1

    def check(self) -> None:
        return None

    def run(
        self,
        jobs: Sequence[dict[str, Any]],
        started: Started,
        done: Done,
        failed: Failed,
        fn: JobFn | None = None,
    ) -> None:
        run_job = _job_fn(fn)
        for job in jobs:
            started(job)
            try:
                res = run_job(job)
            except Exception as e:  # one job's failure does not stop the sweep
                failed(job, e)
                continue
            done(res)


def _worker_init(threads: int) -> None:
    """Cap native thread pools in a pool worker before torch/numpy work starts, and (on
    Linux) let the worker die with the driver: a killed sweep leaves no orphan still
    writing into a job folder that the resumed sweep starts afresh."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            PR_SET_PDEATHSIG = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor:
    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = int(workers) if workers else cpu_count()

    def check(self) -> None:
        if self.workers < 1:
            raise CgfsimError(f"--workers must be >= 1, got {self.workers}")

    def run(
        self,
        jobs: Sequence[dict[str, Any]],
        started: Started,
        done: Done,
        failed: Failed,
        fn: JobFn | None = None,
    ) -> None:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        run_job = _job_fn(fn)

        if not jobs:
            return
        n = min(self.workers, len(jobs))
        threads = max(1, cpu_count() // n)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            n, mp_context=ctx, initializer=_worker_init, initargs=(threads,)
        ) as pool:
            queue = list(jobs)
            running: dict[Any, dict[str, Any]] = {}
            try:
                while queue or running:
                    while queue and len(running) < n:  # submit only what can start now
                        job = queue.pop(0)
                        running[pool.submit(run_job, job)] = job
                        started(job)
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        job = running.pop(fut)
                        try:
                            res = fut.result()
                        except Exception as e:
                            failed(job, e)
                            continue
                        done(res)
            except BaseException:
                for fut in running:
                    fut.cancel()
                raise


def _check_address(address: str) -> None:
    """Fail fast (one line) when nothing answers at a Ray address."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise CgfsimError(f"--address {address!r}: expected host:port or ray://host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as e:
        raise CgfsimError(f"--address {address}: no Ray cluster reachable there ({e})") from None


class RayExecutor:
    name = "ray"

    def __init__(
        self, workers: int | None = None, address: str | None = None, quiet: bool = False
    ) -> None:
        self.workers = int(workers) if workers else None
        self.address = address
        self.quiet = quiet

    def check(self) -> None:
        import importlib.util

        # Not imported yet: a local cluster's auth settings must be in the environment first.
        if importlib.util.find_spec("ray") is None:
            raise CgfsimError("--executor ray needs Ray: pip install 'cgfsim[distributed]'")
        if self.workers is not None and self.workers < 1:
            raise CgfsimError(f"--workers must be >= 1, got {self.workers}")
        if self.address:
            _check_address(self.address)

    def _init(self, tmp: str | None) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kw: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": not self.quiet,
            "configure_logging": False,
        }
        if self.address and self.address != "local":
            import ray

            try:
                ray.init(address=self.address, **kw)
            except Exception as e:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise CgfsimError(f"--address {self.address}: cannot join Ray ({msg})") from None
            return
        import secrets

        # A local cluster: token auth with a per-sweep token in the environment (the
        # workers inherit it), instead of Ray generating ~/.ray/auth_token.
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
        already = "ray" in sys.modules
        import ray

        if already:  # Ray read its auth settings at import: make it read them again
            import importlib

            raylet = importlib.import_module("ray._raylet")
            raylet.Config.initialize("")
            raylet.AuthenticationTokenLoader.instance().reset_cache()
        ray.init(num_cpus=self.workers or cpu_count(), _temp_dir=tmp, **kw)

    def run(
        self,
        jobs: Sequence[dict[str, Any]],
        started: Started,
        done: Done,
        failed: Failed,
        fn: JobFn | None = None,
    ) -> None:
        import ray

        run_job = _job_fn(fn)
        if not jobs:
            return
        local = not self.address or self.address == "local"
        # Ray's session folder holds unix sockets, whose paths must be short: /tmp, not
        # the run folder.
        tmp = tempfile.mkdtemp(prefix="cgfray-", dir="/tmp" if os.path.isdir("/tmp") else None)
        saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        try:
            self._init(tmp if local else None)
            import ray

            remote = ray.remote(num_cpus=1, max_retries=0)(run_job)
            pending = {}
            for job in jobs:
                pending[remote.remote(job)] = job
                started(job)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        res = ray.get(ref)
                    except Exception as e:
                        failed(job, e)
                        continue
                    done(res)
        finally:
            if "ray" in sys.modules and sys.modules["ray"].is_initialized():
                sys.modules["ray"].shutdown()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            shutil.rmtree(tmp, ignore_errors=True)


def make_executor(
    name: str, workers: int | None = None, address: str | None = None, quiet: bool = False
) -> SerialExecutor | ProcessExecutor | RayExecutor:
    """The executor for ``--executor name``, checked (an unreachable Ray address fails here)."""
    ex: SerialExecutor | ProcessExecutor | RayExecutor
    if name == "serial":
        ex = SerialExecutor(workers)
    elif name == "process":
        ex = ProcessExecutor(workers)
    elif name == "ray":
        ex = RayExecutor(workers, address, quiet)
    else:
        raise CgfsimError(f"unknown --executor {name!r}; expected one of {', '.join(EXECUTORS)}")
    if address and name != "ray":
        raise CgfsimError("--address is for --executor ray")
    ex.check()
    return ex


__all__ = ["EXECUTORS", "ProcessExecutor", "RayExecutor", "SerialExecutor", "make_executor"]
