"""Run a sweep into a folder, resumably, on any executor, then write its report.

Folder layout (``runs/lab/<timestamp>-<name>/`` or ``--out``)::

    sweep.toml        the sweep file as given          sweep.json   the resolved spec
    targets.json      reliability targets per scenario  results.jsonl one line per finished job
    sessions.jsonl    one line per invocation (executor, workers, wall time, machine load)
    jobs/<job>/       each job's learner run folder (checkpoints, logs)
    demos/            demonstrations recorded for the imitation approaches (shared by jobs)
    results.csv  summary.csv  report.md  plots/*.png   (rewritten by every run / `lab report`)

Rerunning on the same folder skips every job whose id is already in
``results.jsonl`` and runs the rest; nothing finished is lost or run twice.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import append_jsonl, atomic_write_text, read_json, write_json
from cgfsim.lab.spec import SweepSpec
from cgfsim.lab.store import JobStore


class SweepProgress:
    """One bar for the whole sweep (jobs), with per-job status lines as jobs finish."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        from tqdm.auto import tqdm

        self.quiet = quiet
        self.running: dict[str, str] = {}
        self.failed = 0
        self.bar = tqdm(
            total=total,
            initial=done,
            unit="job",
            desc="sweep",
            dynamic_ncols=True,
            disable=quiet or not sys.stderr.isatty(),
        )

    def say(self, msg: str) -> None:
        if not self.quiet:
            self.bar.write(msg, file=sys.stderr)

    def _postfix(self) -> None:
        names = list(self.running.values())
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        self.bar.set_postfix_str(f"running: {shown or '-'}; failed: {self.failed}")

    def started(self, job: dict[str, Any]) -> None:
        self.running[job["id"]] = f"{job['approach']}/{job['scenario']['name']}/s{job['seed']}"
        self._postfix()

    def done(self, rec: dict[str, Any]) -> None:
        name = self.running.pop(rec["job_id"], rec["job_id"])
        res = rec["result"]
        primary = res["primary_eval_set"]
        last = [r for r in rec["rows"] if r["eval_set"] == primary][-1]
        self.bar.update(1)
        self._postfix()
        self.say(
            f"done   {name}: {res['env_steps']:,} env steps, {res['job_wall_s']:.0f} s; at "
            f"{last['budget']:,}: win {last['win_rate']:.3f} "
            f"[{last['ci_low']:.3f}, {last['ci_high']:.3f}] on {last['episodes']} "
            f"{primary} episodes"
        )

    def failed_job(self, job: dict[str, Any], err: BaseException) -> None:
        name = self.running.pop(job["id"], job["id"])
        self.failed += 1
        self._postfix()
        msg = str(err).splitlines()[0] if str(err) else ""
        print(f"FAILED {name}: {type(err).__name__}: {msg}", file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def machine_info() -> dict[str, Any]:
    """What the report states about the hardware and the software versions."""
    import platform

    import numpy
    import torch

    from cgfsim.lab.executors import cpu_count

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def load_targets(spec: SweepSpec, folder: Path, say: Any = None) -> dict[str, Any]:
    """Targets per scenario, measured once and kept in ``targets.json`` (reused on resume)."""
    from cgfsim.envs._common import get_scenario
    from cgfsim.lab.targets import reliability_targets

    path = folder / "targets.json"
    key = {
        "format": 2,  # round 2: calibration source, mirror, per-side records
        "targets": spec.targets.to_dict(),
        "opponent": spec.opponent,
        "side": spec.side,
        "test_episodes": spec.protocol.test_episodes,
        "scenarios": [s.sha256 for s in spec.scenarios],
    }
    if path.exists():
        old = read_json(path)
        if old.get("key") == key:
            return dict(old)
    out: dict[str, Any] = {"key": key, "scenarios": {}}
    for ref in spec.scenarios:
        t = reliability_targets(
            get_scenario(ref.source),
            spec.opponent,
            spec.side,
            spec.targets.doctrines,
            spec.targets.episodes,
            spec.protocol.test_episodes,
            spec.targets.fixed,
            spec.protocol.n_envs,
            spec.targets.source,
        )
        if say:
            say(
                f"targets on {ref.name} vs {spec.opponent}: from {t['source_note']}; best "
                f"doctrine {t['best_doctrine']}"
            )
        out["scenarios"][ref.name] = t
    write_json(path, out)
    return out


def demonstrators(spec: SweepSpec, targets: dict[str, Any]) -> dict[str, str]:
    """Per scenario, the doctrine the imitation approaches learn from: the sweep's
    ``demonstrator``, or (``auto``) the best doctrine against the opponent."""
    return {
        name: spec.demonstrator if spec.demonstrator != "auto" else t["best_doctrine"]
        for name, t in targets["scenarios"].items()
    }


def prepare_folder(spec: SweepSpec, folder: Path, sweep_text: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if sweep_text is not None:
        atomic_write_text(folder / "sweep.toml", sweep_text)


def write_resolved(spec: SweepSpec, folder: Path, jobs: list[dict[str, Any]]) -> None:
    """``sweep.json``: the resolved spec with the job ids (what ``lab report`` reads)."""
    resolved = spec.to_dict()
    resolved["job_ids"] = [j["id"] for j in jobs]
    resolved["demonstrators"] = sorted({j["demonstrator"] for j in jobs if "demonstrator" in j})
    resolved["demo_record_steps"] = spec.demo_record_steps() if spec.demo_approaches() else 0
    write_json(folder / "sweep.json", resolved)


def run_sweep(
    spec: SweepSpec,
    folder: str | Path,
    executor: Any,
    quiet: bool = False,
    sweep_text: str | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run every unfinished job of ``spec`` into ``folder`` and write the report.

    ``executor`` comes from :func:`cgfsim.lab.executors.make_executor` (already
    checked). Returns ``{"folder", "ran", "skipped", "failed", "wall_s", "report"}``.
    """
    from cgfsim.lab.approaches import expected_cost
    from cgfsim.lab.report import write_report

    folder = Path(folder)
    t0 = time.time()
    cpu0 = _cpu_s()
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    prepare_folder(spec, folder, sweep_text)
    store = JobStore(folder)
    store.repair()
    say = None if quiet else (lambda m: print(m, file=sys.stderr))
    targets = load_targets(spec, folder, say)
    jobs = spec.jobs(folder, demonstrators(spec, targets))
    write_resolved(spec, folder, jobs)
    done_ids = store.done()
    # the longest first: with a few workers, the sweep does not end on one long job
    todo = sorted((j for j in jobs if j["id"] not in done_ids), key=expected_cost, reverse=True)
    skipped = len(jobs) - len(todo)
    prog = SweepProgress(len(jobs), skipped, quiet)
    if skipped:
        prog.say(f"resuming: {skipped} of {len(jobs)} jobs finished earlier, {len(todo)} to run")
    ran = 0

    def done(rec: dict[str, Any]) -> None:
        nonlocal ran
        store.append(rec)  # the moment it finishes: durable before anything else happens
        ran += 1
        prog.done(rec)

    try:
        executor.run(todo, prog.started, done, prog.failed_job)
    finally:
        prog.close()
        session = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
            "wall_s": round(time.time() - t0, 1),
            "executor": executor.name,
            "workers": executor.workers,
            "jobs_run": ran,
            "jobs_failed": prog.failed,
            "jobs_skipped": skipped,
            # the driver and its (waited-for) child processes; Ray's workers are not children
            "cpu_s": None if executor.name == "ray" else round(_cpu_s() - cpu0, 1),
            "load_start": load0,
            "load_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "machine": machine_info(),
            "command": list(command) if command else None,
        }
        append_jsonl(folder / "sessions.jsonl", session)
    report = write_report(folder)
    return {
        "folder": str(folder),
        "ran": ran,
        "skipped": skipped,
        "failed": prog.failed,
        "wall_s": session["wall_s"],
        "report": report,
    }


__all__ = ["demonstrators", "load_targets", "machine_info", "run_sweep", "write_resolved"]
