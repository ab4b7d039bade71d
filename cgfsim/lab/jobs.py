"""One job of a sweep: train one approach x scenario x seed to its largest budget, evaluating
at every budget on the way (never retraining per budget), and return its rows.

A job is a plain JSON-able dict (see :func:`cgfsim.lab.spec.SweepSpec.jobs`): the
same dict runs in this process, a local worker process or a Ray worker, and its
``id`` is the hash of everything that decides its result, so a finished job is
recognised on resume whatever executor ran it. :func:`run_job` returns
``{"job_id", "job", "rows", "result"}``; the driver appends it to the store.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

#: Row fields that measure time or place, not outcome: they differ between executors.
TIMING_FIELDS = ("train_wall_s", "job_wall_s", "job_cpu_s", "eval_s", "host", "pid")


def _row(
    job: dict[str, Any],
    budget: int,
    eval_set: str,
    res: Any,
    selected: dict[str, Any],
    current: dict[str, Any],
    val_win: float,
    axis: str,
) -> dict[str, Any]:
    d = res.to_dict()
    c = selected["counters"]
    return {
        "job_id": job["id"],
        "scenario": job["scenario"]["name"],
        "approach": job["approach"],
        "seed": job["seed"],
        "opponent": job["opponent"],
        "side": job["side"],
        "axis": axis,
        "budget": int(budget),
        "eval_set": eval_set,
        # the reported (selected) policy's data: at most the budget on the axis
        "env_steps": c["env_steps"],
        "demo_steps": c["demo_steps"],
        "record_env_steps": c["record_env_steps"],
        "selected_budget": selected["budget"],
        "snapshot_env_steps": current["env_steps"],
        "snapshot_demo_steps": current["demo_steps"],
        "val_win_rate": val_win,
        "selected_val_win_rate": selected["val_win_rate"],
        "episodes": d["episodes"],
        "wins": d["wins"],
        "draws": d["draws"],
        "losses": d["losses"],
        "win_rate": d["win_rate"],
        "ci_low": d["win_ci_low"],
        "ci_high": d["win_ci_high"],
        "draw_rate": d["draw_rate"],
        "loss_rate": d["loss_rate"],
        "mean_return": d["mean_return"],
        "mean_length": d["mean_length"],
        "train_wall_s": round(float(c["wall_s"]), 3),
    }


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (in whatever process) and return its rows and result."""
    import torch

    from cgfsim.lab.approaches import JobContext, get_approach
    from cgfsim.lab.protocol import BudgetTracker, Evaluator, Protocol, Snapshot
    from cgfsim.sim.scenario import load_scenario_text

    t0 = time.perf_counter()
    cpu0 = time.process_time()  # every thread of this process: the job's CPU seconds
    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(job.get("torch_threads", 1)))
    run_dir = Path(job["run_dir"])
    if run_dir.exists():  # left by an interrupted attempt: this job starts over
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    sc = load_scenario_text(job["scenario"]["text"], job["scenario"]["source"])
    approach = get_approach(job["approach"])
    protocol = Protocol(**job["protocol"])
    ev = Evaluator(sc, job["opponent"], job["side"], job["seed"], protocol)
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_win_rate": -1.0}
    eval_s = 0.0

    def on_budget(budget: int, snap: Snapshot) -> None:
        nonlocal eval_s
        t = time.perf_counter()
        val = ev.run(snap.policy, "validation").win_rate
        if val >= best["val_win_rate"]:  # ties: the later, more trained, policy
            best.update(
                val_win_rate=val,
                budget=int(budget),
                counters=dict(snap.counters),
                tests={name: ev.run(snap.policy, name) for name in ev.report_sets},
            )
        for name, res in best["tests"].items():
            rows.append(_row(job, budget, name, res, best, snap.counters, val, approach.axis))
        eval_s += time.perf_counter() - t

    tracker = BudgetTracker(list(job["budgets"]), approach.axis, on_budget)
    ctx = JobContext(
        scenario=sc,
        opponent=job["opponent"],
        side=job["side"],
        seed=int(job["seed"]),
        budgets=list(job["budgets"]),
        options=dict(job["options"]),
        run_dir=run_dir,
        offer=tracker.offer,
        demonstrator=job.get("demonstrator"),
        demo_cache=Path(job["demo_cache"]) if job.get("demo_cache") else None,
        demo_record_steps=int(job.get("demo_record_steps", 0)),
    )
    try:
        out = dict(approach.train(ctx))
        tracker.finish()
    finally:
        torch.set_num_threads(threads_before)
    if not rows:
        raise RuntimeError(f"job {job['id']} ({job['approach']}) offered no policy to evaluate")
    wall = time.perf_counter() - t0
    train_wall = float(out.get("wall_s", 0.0))
    env_steps = int(out.get("env_steps", 0))
    result = {
        "env_steps": env_steps,  # everything the learner consumed, past the last budget too
        "demo_steps": int(out.get("demo_steps", 0)),
        "record_env_steps": int(out.get("record_env_steps", 0)),
        "train_wall_s": round(train_wall, 3),
        "steps_per_s": round(env_steps / train_wall, 1) if train_wall > 0 else None,
        "eval_s": round(eval_s, 3),
        "job_wall_s": round(wall, 3),
        "job_cpu_s": round(time.process_time() - cpu0, 3),
        "short_budgets": tracker.short,
        "primary_eval_set": ev.primary,
        "host": platform.node(),
        "pid": os.getpid(),
    }
    for key in ("demos", "test_accuracy", "bc_wall_s"):  # what imitation approaches add
        if key in out:
            result[key] = out[key]
    return {"job_id": job["id"], "job": public_job(job), "rows": rows, "result": result}


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    """The job as recorded: its identity, without the scenario text and the local folder."""
    out = {k: v for k, v in job.items() if k not in ("run_dir", "demo_cache")}
    out["scenario"] = {k: v for k, v in job["scenario"].items() if k != "text"}
    return out


__all__ = ["TIMING_FIELDS", "public_job", "run_job"]
