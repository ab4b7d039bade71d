"""From a sweep folder's rows to the numbers a report states (no plotting, no writing).

Every statistic uses the *primary* evaluation set of a scenario (held-out maps
on random-map scenarios, test worlds otherwise) and the nominal budgets on the
x axis, each approach on its own data axis (env steps, demonstration steps, or
both); the data the reported policy actually used (at most the budget) is in
``results.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.runs import read_json, read_jsonl
from cgfsim.lab import stats
from cgfsim.lab.store import JobStore

CI_REPS = 2000
#: The data axes in words, for reports.
AXIS_WORDS = {
    "env_steps": "env steps",
    "demo_steps": "demo steps",
    "total_steps": "demo + env steps",
}


@dataclass
class Curves:
    """One scenario x approach: per seed (rows) and budget (columns) win rates and bounds."""

    scenario: str
    approach: str
    budgets: list[int]
    seeds: list[int]
    win: np.ndarray  # (seeds, budgets)
    low: np.ndarray  # Wilson lower bounds
    steps_per_s: float | None
    train_wall_s: float
    iqm: list[stats.Interval] = field(default_factory=list)

    @property
    def final(self) -> stats.Interval:
        return self.iqm[-1]


@dataclass
class Analysis:
    spec: dict[str, Any]
    targets: dict[str, Any]
    rows: list[dict[str, Any]]
    records: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    curves: dict[tuple[str, str], Curves]
    missing: int  # jobs of the spec without a record yet

    def budgets_of(self, approach: str) -> list[int]:
        """The budgets of ``approach`` (on its own data axis)."""
        per = self.spec.get("approach_budgets")
        if per and approach in per:
            return [int(b) for b in per[approach]]
        return [int(b) for b in self.spec["budgets"]]  # a sweep of round 1: one list

    def axis_of(self, approach: str) -> str:
        axes = self.spec.get("approach_axes") or {}
        return str(axes.get(approach, "env_steps"))

    def axes(self) -> list[str]:
        """The data axes of the sweep's approaches, in first-use order."""
        return list(dict.fromkeys(self.axis_of(a) for a in self.approaches()))

    @property
    def all_budgets(self) -> list[int]:
        return sorted({b for a in self.approaches() for b in self.budgets_of(a)})

    def scenarios(self) -> list[str]:
        return [s["name"] for s in self.spec["scenarios"]]

    def approaches(self) -> list[str]:
        return list(self.spec["approaches"])

    def target_list(self, scenario: str) -> list[dict[str, Any]]:
        return list(self.targets["scenarios"][scenario]["targets"])

    def reliability(self, scenario: str, approach: str, target: float) -> dict[str, Any]:
        """Samples-to-reliability of one approach for one target, over seeds."""
        c = self.curves[(scenario, approach)]
        per_seed = stats.samples_to_reliability(c.budgets, c.low, target)
        iv = stats.median_interval(per_seed)
        return {
            "per_seed": per_seed.tolist(),
            "reached": int(np.isfinite(per_seed).sum()),
            "seeds": len(per_seed),
            "median": iv.point,
            "low": iv.low,
            "high": iv.high,
            "coverage": iv.confidence,
        }


def _store_records(folder: Path, spec: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Records of the jobs the current spec defines (a changed spec leaves old lines unused)."""
    ids = set(spec["job_ids"])
    keep = [r for r in JobStore(folder).records() if r["job_id"] in ids]
    return keep, len(ids) - len(keep)


def analyse(folder: str | Path, seed: int = 0) -> Analysis:
    folder = Path(folder)
    spec = read_json(folder / "sweep.json")
    targets = read_json(folder / "targets.json")
    records, missing = _store_records(folder, spec)
    rows = [row for r in records for row in r["rows"]]
    an = Analysis(spec, targets, rows, records, read_jsonl(folder / "sessions.jsonl"), {}, missing)
    curves = an.curves
    for sc in [s["name"] for s in spec["scenarios"]]:
        for a in spec["approaches"]:
            budgets = an.budgets_of(a)
            recs = [
                r
                for r in records
                if r["job"]["scenario"]["name"] == sc and r["job"]["approach"] == a
            ]
            if not recs:
                continue
            recs.sort(key=lambda r: r["job"]["seed"])
            win = np.full((len(recs), len(budgets)), np.nan)
            low = np.full_like(win, np.nan)
            for i, r in enumerate(recs):
                primary = r["result"]["primary_eval_set"]
                for row in r["rows"]:
                    if row["eval_set"] == primary and row["budget"] in budgets:
                        k = budgets.index(row["budget"])
                        win[i, k], low[i, k] = row["win_rate"], row["ci_low"]
            sps = [r["result"].get("steps_per_s") for r in recs]
            sps_ok = [float(s) for s in sps if s]
            c = Curves(
                sc,
                a,
                budgets,
                [int(r["job"]["seed"]) for r in recs],
                win,
                np.nan_to_num(low, nan=-1.0),
                float(np.median(sps_ok)) if sps_ok else None,
                float(np.sum([r["result"]["train_wall_s"] for r in recs])),
            )
            c.iqm = [
                stats.iqm_interval(win[:, k], reps=CI_REPS, seed=seed + k)
                for k in range(len(budgets))
            ]
            curves[(sc, a)] = c
    return an


def fmt_steps(x: float) -> str:
    """16384 -> '16.4k'; inf -> 'not reached'."""
    if not math.isfinite(x):
        return "not reached"
    if x >= 1e6:
        return f"{x / 1e6:.3g}M"
    if x >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.0f}"


__all__ = ["AXIS_WORDS", "Analysis", "Curves", "analyse", "fmt_steps"]
