"""A sweep folder's ``results.csv``, ``summary.csv``, plots and ``report.md``.

``report.md`` gives the answer in plain words first (how much data each approach
needed to become reliable against the evaluation opponent), then the tables and
plots, the protocol with the definition of samples-to-reliability, the machine
and the wall time. Everything is recomputed from ``results.jsonl`` (``cgfsim lab
report DIR`` does only this), so a partly finished sweep reports what it has.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import atomic_write_text, write_csv_rows
from cgfsim.lab import stats
from cgfsim.lab.analysis import Analysis, analyse, fmt_steps
from cgfsim.lab.protocol import MIN_REPORTED_EPISODES


def _labels(an: Analysis) -> dict[str, str]:
    from cgfsim.lab.approaches import REGISTRY

    return {a: REGISTRY[a].label if a in REGISTRY else a for a in an.approaches()}


def summary_rows(an: Analysis) -> list[dict[str, Any]]:
    """One row per scenario x approach x target (samples-to-reliability; final IQM)."""
    out = []
    for sc in an.scenarios():
        for a in an.approaches():
            c = an.curves.get((sc, a))
            if c is None:
                continue
            for t in an.target_list(sc):
                r = an.reliability(sc, a, t["value"])
                out.append(
                    {
                        "scenario": sc,
                        "approach": a,
                        "target": t["name"],
                        "target_win_rate": round(t["value"], 4),
                        "target_reachable": t["reachable"],
                        "seeds": r["seeds"],
                        "seeds_reached": r["reached"],
                        "samples_to_reliability": r["median"],
                        "interval_low": r["low"],
                        "interval_high": r["high"],
                        "interval_coverage": round(r["coverage"], 4),
                        "final_budget": c.budgets[-1],
                        "final_iqm_win_rate": round(c.final.point, 4),
                        "final_iqm_low": round(c.final.low, 4),
                        "final_iqm_high": round(c.final.high, 4),
                        "train_steps_per_s": c.steps_per_s,
                    }
                )
    return out


def _answer(an: Analysis, labels: dict[str, str]) -> list[str]:
    """The result in plain words, per scenario and target."""
    lines = []
    top = fmt_steps(max(an.budgets))
    for sc in an.scenarios():
        tg = an.targets["scenarios"][sc]
        best = next(d for d in tg["doctrines"] if d["doctrine"] == tg["best_doctrine"])
        opp = an.spec["opponent"]
        lines.append(
            f"**{sc} vs {opp}.** The best doctrine against `{opp}` is "
            f"`{tg['best_doctrine']}`, winning {best['win_rate']:.3f} "
            f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] of {best['episodes']} test episodes."
        )
        have = [a for a in an.approaches() if (sc, a) in an.curves]
        for t in an.target_list(sc):
            reached, missed = [], []
            for a in have:
                r = an.reliability(sc, a, t["value"])
                if math.isfinite(r["median"]):
                    hi = fmt_steps(r["high"]) if math.isfinite(r["high"]) else "not reached"
                    reached.append(
                        (
                            r["median"],
                            f"{labels[a]} needed {fmt_steps(r['median'])} "
                            f"({r['reached']}/{r['seeds']} seeds got there; interval "
                            f"[{fmt_steps(r['low'])}, {hi}])",
                        )
                    )
                else:
                    missed.append(f"{labels[a]} ({r['reached']}/{r['seeds']})")
            what = {
                "parity": "be reliably at parity with it",
                "exceed": "reliably exceed it",
            }.get(t["name"], f"reach target {t['name']}")
            text = f"- To {what} (test win-rate lower bound >= {t['value']:.3f}): "
            reached.sort()
            if reached:
                text += "; ".join(x for _, x in reached) + ". "
            if missed:
                text += (
                    f"Not within {top} (seeds that got there in brackets): {', '.join(missed)}. "
                )
            if not reached:
                lead = max(have, key=lambda a: an.curves[(sc, a)].final.point)
                c = an.curves[(sc, lead)]
                text += (
                    f"No approach got there; the closest at {top} was {labels[lead]}, "
                    f"IQM win rate {c.final.fmt(3)} over {len(c.seeds)} seeds. "
                )
            if not t["reachable"]:
                text += (
                    "This target cannot be shown with the sweep's test episodes (it is above "
                    f"the best possible lower bound, {tg['max_provable']:.3f}). "
                )
            lines.append(text.rstrip())
        lines.append("")
    return lines


def _curve_table(an: Analysis, labels: dict[str, str]) -> list[str]:
    out = []
    for sc in an.scenarios():
        head = (
            "| approach | seeds | " + " | ".join(fmt_steps(b) for b in an.budgets) + " | steps/s |"
        )
        out += [f"**{sc}**", "", head, "|" + "---|" * (len(an.budgets) + 3)]
        for a in an.approaches():
            c = an.curves.get((sc, a))
            if c is None:
                continue
            cells = " | ".join(i.fmt(2) for i in c.iqm)
            sps = f"{c.steps_per_s:,.0f}" if c.steps_per_s else "-"
            out.append(f"| {labels[a]} | {len(c.seeds)} | {cells} | {sps} |")
        out.append("")
    return out


def _summary_table(rows: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    out = [
        "| scenario | approach | target | samples-to-reliability | interval (coverage) | "
        "seeds reached | final IQM win rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        hi = fmt_steps(r["interval_high"])
        out.append(
            f"| {r['scenario']} | {labels.get(r['approach'], r['approach'])} | {r['target']} "
            f"({r['target_win_rate']:.3f}) | {fmt_steps(r['samples_to_reliability'])} | "
            f"[{fmt_steps(r['interval_low'])}, {hi}] ({r['interval_coverage']:.0%}) | "
            f"{r['seeds_reached']}/{r['seeds']} | {r['final_iqm_win_rate']:.3f} "
            f"[{r['final_iqm_low']:.3f}, {r['final_iqm_high']:.3f}] |"
        )
    return out


def _improvement(an: Analysis, labels: dict[str, str]) -> list[str]:
    names = [a for a in an.approaches() if all((sc, a) in an.curves for sc in an.scenarios())]
    if len(names) < 2:
        return []
    scores: dict[str, list[list[float]]] = {}
    for a in names:
        cs = [an.curves[(sc, a)] for sc in an.scenarios()]
        if len({len(c.seeds) for c in cs}) != 1:
            return []
        scores[a] = [[float(c.win[i, -1]) for c in cs] for i in range(len(cs[0].seeds))]
    out = [
        f"P(row beats column) at {fmt_steps(an.budgets[-1])}, a random seed against a random "
        "seed, per scenario then averaged (Mann-Whitney), 95% stratified bootstrap interval:",
        "",
        "| | " + " | ".join(labels[a] for a in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for x in names:
        cells = []
        for y in names:
            if x == y:
                cells.append("-")
            else:
                iv = stats.improvement_interval(scores[x], scores[y], reps=1000)
                cells.append(iv.fmt(2))
        out.append(f"| {labels[x]} | " + " | ".join(cells) + " |")
    return out


def _protocol(an: Analysis) -> list[str]:
    p = an.spec["evaluation"]
    small = p["test_episodes"] < MIN_REPORTED_EPISODES
    random_maps = [
        s["name"]
        for s in an.spec["scenarios"]
        if any(r["eval_set"] == "test_maps" for r in an.rows if r["scenario"] == s["name"])
    ]
    lines = [
        f"- Opponent `{an.spec['opponent']}`; the agent plays {an.spec['side']}. Seeds "
        f"{an.spec['seeds']}; budgets {an.spec['budgets']} on each approach's data axis (env "
        "steps for RL and GA, every fitness step counting).",
        f"- Worlds: training on the `train` split keys of each seed, checkpoint selection on "
        f"`validation` keys ({p['validation_episodes']} episodes per budget), reported points on "
        f"`test` keys ({p['test_episodes']} episodes each), all from `cgfsim.sim.splits`: "
        "disjoint by construction and across seeds.",
        "- Acting: greedy over valid actions; the first complete episode of every world counts.",
        "- Budgets: each job trains once to the largest budget. The point at budget b is the "
        "policy selected on validation worlds among the snapshots taken at budgets <= b; a "
        "snapshot is the learner's last policy whose data did not exceed b (PPO: after an "
        "update; GA: after a generation), so no approach is credited with data it had not "
        "used. The data it actually used is in `results.csv` (`env_steps`), no interpolation.",
        "- Win-rate intervals per point: Wilson 95%. Over seeds: the interquartile mean (IQM) "
        "with a 95% stratified bootstrap percentile interval (Agarwal et al. 2021; 2,000 "
        "resamples).",
        "- **Samples-to-reliability**: a seed is reliable at budget b when the lower bound of its "
        "test win-rate interval is at least the target; its samples-to-reliability is the "
        "smallest budget at which that first holds, or 'not reached' within the largest budget. "
        "Over seeds: the median (the budget by which half the seeds were reliable) with the "
        "distribution-free order-statistic interval for the median; its coverage, stated "
        "beside it, is below 95% with fewer than 6 seeds ([min, max] over 3 seeds covers 75%).",
        "- Targets: the best doctrine against the opponent (every candidate doctrine plays the "
        "agent's side on test worlds, as many episodes as an agent point): parity = its "
        "win-rate lower bound (with equal episode counts: the agent won at least as many test "
        "episodes as the doctrine), exceed = its upper bound (better beyond both intervals).",
    ]
    if random_maps:
        lines.append(
            f"- Random-map scenarios ({', '.join(random_maps)}): validation on the validation "
            "map pool; every point is also measured on the held-out test map pool "
            "(`eval_set = test_maps`, maps never seen in training), which the statistics use."
        )
    if small:
        lines.append(
            f"- **Below the protocol's minimum**: {p['test_episodes']} test episodes per point "
            f"(the protocol asks for at least {MIN_REPORTED_EPISODES}); intervals are wider."
        )
    return lines


def _machine(an: Analysis) -> list[str]:
    if not an.sessions:
        return []
    m = an.sessions[-1]["machine"]
    lines = [
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python "
        f"{m['python']}, numpy {m['numpy']}, torch {m['torch']}.",
    ]
    for s in an.sessions:
        load = ""
        if s.get("load_start") is not None:
            loaded = max(s["load_start"], s["load_end"] or 0) > 0.5 * m["cores"]
            load = (
                f"; load average {s['load_start']:.1f} at start, {s['load_end']:.1f} at end"
                f" ({'loaded machine' if loaded else 'quiet machine'})"
            )
        lines.append(
            f"- Run of {s['started']}: executor `{s['executor']}` with {s['workers']} "
            f"worker(s), {s['jobs_run']} jobs run, {s['jobs_skipped']} resumed, "
            f"{s['jobs_failed']} failed, wall time {s['wall_s']:.0f} s{load}."
        )
        if s.get("command"):
            lines.append(f"  Command: `{' '.join(s['command'])}`")
    total = sum(r["result"]["job_wall_s"] for r in an.records)
    lines.append(f"- Summed job time (training + evaluation, all jobs): {total:.0f} s.")
    return lines


def write_report(folder: str | Path) -> dict[str, Any]:
    """Write results.csv, summary.csv, plots/ and report.md; returns paths and the table."""
    from cgfsim.lab.plots import write_plots

    folder = Path(folder)
    an = analyse(folder)
    labels = _labels(an)
    rows = sorted(
        an.rows, key=lambda r: (r["scenario"], r["approach"], r["seed"], r["budget"], r["eval_set"])
    )
    write_csv_rows(folder / "results.csv", rows)
    summ = summary_rows(an)
    write_csv_rows(folder / "summary.csv", summ)
    plots = write_plots(an, folder, labels) if an.curves else []
    table = _summary_table(summ, labels)
    name = an.spec["name"]
    md = [f"# {name}: how much data before the agent is reliable?", ""]
    if an.spec.get("description"):
        md += [an.spec["description"], ""]
    if an.missing:
        md += [
            f"**Partial**: {an.missing} of {len(an.spec['job_ids'])} jobs have no results "
            "yet; rerun the same command to finish them.",
            "",
        ]
    md += ["## Answer", "", *_answer(an, labels)]
    md += ["## Samples to reliability", "", *table, ""]
    md += ["## Test win rate at every budget (IQM over seeds [95% CI])", ""]
    md += _curve_table(an, labels)
    imp = _improvement(an, labels)
    if imp:
        md += ["## Probability of improvement", "", *imp, ""]
    md += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    md += ["## Targets", ""]
    for sc in an.scenarios():
        tg = an.targets["scenarios"][sc]
        md += [
            f"**{sc}**: {tg['episodes']} episodes per doctrine on {tg['worlds']}.",
            "",
            "| doctrine | win rate [95% CI] | draw | loss |",
            "|---|---|---|---|",
        ]
        for d in tg["doctrines"]:
            md.append(
                f"| {d['doctrine']} | {d['win_rate']:.3f} [{d['ci_low']:.3f}, "
                f"{d['ci_high']:.3f}] | {d['draw_rate']:.3f} | {d['loss_rate']:.3f} |"
            )
        md.append("")
        for t in tg["targets"]:
            ok = "" if t["reachable"] else " — unreachable with the sweep's test episodes"
            md.append(f"- `{t['name']}` = {t['value']:.3f}: {t['description']}{ok}")
        md.append("")
    md += ["## Protocol", "", *_protocol(an), ""]
    md += ["## Machine and wall time", "", *_machine(an), ""]
    md += [
        "Files: `results.csv` (every evaluation row), `summary.csv`, `sweep.json` "
        "(resolved config), `targets.json`, `results.jsonl` (the job store).",
        "",
    ]
    report = folder / "report.md"
    atomic_write_text(report, "\n".join(md))
    return {
        "report": str(report),
        "summary_table": "\n".join(table),
        "plots": [str(p) for p in plots],
        "missing": an.missing,
    }


__all__ = ["summary_rows", "write_report"]
