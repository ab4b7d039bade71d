"""The report's three figures (matplotlib, Agg backend, written atomically as PNG).

- ``win_rate_vs_data.png``: IQM test win rate over seeds against the data budget
  (log axis; each approach on its own data axis, marked by the line style: solid
  env steps, dashed demo steps, dash-dot both), with the 95% stratified bootstrap
  band, one line per approach and the reliability targets as grey lines; one
  panel per scenario.
- ``samples_to_reliability.png``: per target, the median samples-to-reliability
  of each approach with its interval over seeds; hatched bars reaching the top
  mark "not reached within budget".
- ``performance_profile.png``: at the largest budget, the fraction of runs whose
  win rate exceeds tau, with bootstrap bands.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.lab import stats
from cgfsim.lab.analysis import AXIS_WORDS, Analysis, fmt_steps

#: Line style per data axis in the win-rate plot.
AXIS_STYLE = {"env_steps": "-", "demo_steps": "--", "total_steps": "-."}


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def win_rate_vs_data(an: Analysis, path: Path, labels: dict[str, str]) -> None:
    plt = _plt()
    scen = an.scenarios()
    fig, axes = plt.subplots(1, len(scen), figsize=(7 * len(scen), 4.4), squeeze=False)
    for ax, sc in zip(axes[0], scen, strict=True):
        for k, a in enumerate(an.approaches()):
            c = an.curves.get((sc, a))
            if c is None:
                continue
            x = np.array(c.budgets, float)
            axis = an.axis_of(a)
            ax.plot(
                x,
                [i.point for i in c.iqm],
                marker="o",
                ls=AXIS_STYLE.get(axis, "-"),
                color=f"C{k % 10}",
                label=f"{labels[a]} ({len(c.seeds)}; {AXIS_WORDS.get(axis, axis)})",
            )
            ax.fill_between(
                x, [i.low for i in c.iqm], [i.high for i in c.iqm], alpha=0.15, color=f"C{k % 10}"
            )
        for k, t in enumerate(an.target_list(sc)):
            ax.axhline(
                t["value"],
                ls=(":", (0, (1, 3)), (0, (5, 5)))[k % 3],
                lw=0.9,
                color="grey",
                label=f"target {t['name']} {t['value']:.3f}",
            )
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("data on each approach's axis (log)")
        ax.set_ylabel("test win rate, IQM over seeds")
        ax.set_title(f"{sc} vs {an.spec['opponent']}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def samples_to_reliability(an: Analysis, path: Path, labels: dict[str, str]) -> None:
    plt = _plt()
    panels = [(sc, t) for sc in an.scenarios() for t in an.target_list(sc)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    top = max(an.all_budgets) * 1.6
    for ax, (sc, t) in zip(axes[0], panels, strict=True):
        names: list[str] = []
        xs = 0
        for a in an.approaches():
            if (sc, a) not in an.curves:
                continue
            r = an.reliability(sc, a, t["value"])
            reached = math.isfinite(r["median"])
            h = r["median"] if reached else top
            ax.bar(
                xs,
                h,
                color=f"C{len(names)}",
                alpha=0.8 if reached else 0.25,
                hatch=None if reached else "//",
            )
            if reached:
                hi = r["high"] if math.isfinite(r["high"]) else top
                ax.errorbar(xs, h, yerr=[[h - r["low"]], [hi - h]], color="black", capsize=4)
            ax.annotate(
                f"{fmt_steps(r['median'])}\n{r['reached']}/{r['seeds']} seeds",
                (xs, h),
                ha="center",
                va="bottom",
                fontsize=7,
            )
            names.append(labels[a])
            xs += 1
        ax.set_yscale("log")
        ax.set_ylim(min(an.all_budgets) / 2, top * 2)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("data to reliability (median over seeds)")
        state = "" if t["reachable"] else " (unreachable)"
        ax.set_title(f"{sc}: {t['name']} >= {t['value']:.3f}{state}", fontsize=9)
        ax.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    _save(fig, path)


def performance_profile(an: Analysis, path: Path, labels: dict[str, str]) -> None:
    plt = _plt()
    taus = np.linspace(0, 1, 101)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for a in an.approaches():
        cs = [an.curves[(sc, a)] for sc in an.scenarios() if (sc, a) in an.curves]
        if not cs or len({len(c.seeds) for c in cs}) != 1:
            continue  # a stratified profile needs the same runs per scenario
        scores = np.stack([c.win[:, -1] for c in cs], axis=1)
        prof, lo, hi = stats.performance_profile(scores, taus, reps=500)
        ax.plot(taus, prof, label=labels[a])
        ax.fill_between(taus, lo, hi, alpha=0.2)
    ax.set_xlabel("win rate tau")
    ax.set_ylabel("fraction of runs with win rate > tau")
    ax.set_title("performance profile at each approach's largest budget")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def write_plots(an: Analysis, folder: Path, labels: dict[str, str]) -> list[Path]:
    out = folder / "plots"
    paths = [
        out / "win_rate_vs_data.png",
        out / "samples_to_reliability.png",
        out / "performance_profile.png",
    ]
    win_rate_vs_data(an, paths[0], labels)
    samples_to_reliability(an, paths[1], labels)
    performance_profile(an, paths[2], labels)
    return paths


__all__ = ["write_plots"]
