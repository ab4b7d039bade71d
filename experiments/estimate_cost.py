"""Estimate what a sweep will cost from a small probe sweep that has finished.

The probe (the ``probe`` preset, ``experiments/data_volume/probe.toml``: the full preset's
approaches and scenarios, one seed, its two smallest budgets per axis, the same evaluation
episodes) measures, per approach and scenario, the CPU seconds of training per unit of data
and of evaluation per budget point; this script scales them to the target sweep's jobs.
Training costs scale with the largest budget (RL, GA, BC-then-PPO: one run to the largest
budget) or with the sum of the budgets (BC and DAgger fit every budget afresh); evaluation
with the number of budget points and the episodes per point. CPU seconds are split between
training and evaluation in proportion to the job's wall time in each, so a loaded machine
slows both alike. It is an extrapolation over orders of magnitude: treat it as the order of
the cost, not a schedule.

Usage::

    python experiments/data_volume.py --preset probe --executor process --out runs/probe
    python experiments/estimate_cost.py runs/probe --preset full
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import read_json
from cgfsim.lab.approaches import get_approach
from cgfsim.lab.spec import load_sweep
from cgfsim.lab.store import JobStore
from cgfsim.sim.errors import CgfsimError

PRESETS_DIR = Path(__file__).resolve().parent / "data_volume"


def data_units(approach: str, budgets: list[int]) -> float:
    """Data a job trains on: every budget afresh (BC, DAgger) or once to the largest."""
    return float(sum(budgets) if get_approach(approach).family == "BC" else budgets[-1])


def probe_rates(folder: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(approach, scenario) -> CPU s per unit of data (train) and per budget point (eval)."""
    acc: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    resolved = folder / "sweep.json"  # the jobs of the probe as last run (not older versions)
    ids = set(read_json(resolved)["job_ids"]) if resolved.is_file() else None
    for rec in JobStore(folder).records():
        if ids is not None and rec["job_id"] not in ids:
            continue
        job, res = rec["job"], rec["result"]
        wall = max(float(res["job_wall_s"]), 1e-9)
        cpu = float(res["job_cpu_s"])
        eval_cpu = cpu * float(res["eval_s"]) / wall
        a = acc[(job["approach"], job["scenario"]["name"])]
        a["train_cpu"] += cpu - eval_cpu
        a["units"] += data_units(job["approach"], list(job["budgets"]))
        a["eval_cpu"] += eval_cpu
        a["points"] += len(job["budgets"])
        a["episodes"] = float(job["protocol"]["test_episodes"])
    if not acc:
        raise CgfsimError(f"{folder}: no finished jobs in results.jsonl (run the probe first)")
    return {
        k: {
            "train_per_unit": v["train_cpu"] / v["units"],
            "eval_per_point": v["eval_cpu"] / v["points"],
            "episodes": v["episodes"],
        }
        for k, v in acc.items()
    }


def estimate(probe: Path, sweep: Path) -> dict[str, Any]:
    rates = probe_rates(probe)
    spec = load_sweep(sweep)
    per: dict[tuple[str, str], float] = defaultdict(float)
    missing = set()
    for sc in spec.scenarios:
        for a in spec.approaches:
            r = rates.get((a, sc.name))
            if r is None:
                missing.add((a, sc.name))
                continue
            budgets = list(spec.budgets_for(a))
            scale = spec.protocol.test_episodes / r["episodes"]
            job = r["train_per_unit"] * data_units(a, budgets)
            job += r["eval_per_point"] * len(budgets) * scale
            per[(a, sc.name)] += job * len(spec.seeds)
    if missing:
        names = ", ".join(f"{a} on {s}" for a, s in sorted(missing))
        raise CgfsimError(f"{probe}: the probe has no jobs for {names}")
    jobs = len(spec.scenarios) * len(spec.seeds) * len(spec.approaches)
    return {"per": dict(per), "total_cpu_s": sum(per.values()), "jobs": jobs}


def duration(s: float) -> str:
    if s < 600:
        return f"{s:.0f} s"
    if s < 3 * 3600:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", help="a finished probe sweep folder (results.jsonl)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--preset", default="full")
    which.add_argument("--sweep", help="a sweep TOML file instead of a preset")
    ap.add_argument("--cores", type=int, default=2, help="cores to divide the CPU time by")
    args = ap.parse_args(argv)
    try:
        sweep = Path(args.sweep) if args.sweep else PRESETS_DIR / f"{args.preset}.toml"
        if not sweep.is_file():
            raise CgfsimError(f"no sweep file {sweep}")
        if args.cores < 1:
            raise CgfsimError(f"--cores must be >= 1, got {args.cores}")
        out = estimate(Path(args.probe), sweep)
    except CgfsimError as e:
        print(f"estimate_cost: error: {e}", file=sys.stderr)
        return 2
    print("| approach | scenario | CPU (all seeds) |\n|---|---|---|")
    for (a, s), cpu in sorted(out["per"].items(), key=lambda kv: -kv[1]):
        print(f"| {get_approach(a).label} | {s} | {duration(cpu)} |")
    total = out["total_cpu_s"]
    print(
        f"\n{sweep.name}: {out['jobs']} jobs, about {duration(total)} of CPU: "
        f"{duration(total / args.cores)} of wall time on {args.cores} idle cores "
        f"(from the probe {args.probe})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
