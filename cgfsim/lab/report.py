"""A sweep folder's ``results.csv``, ``summary.csv``, plots and ``report.md``.

``report.md`` gives the answer in plain words first (how much data each approach
needed to become reliable against the evaluation opponent), then the tables and
plots, the targets and where they came from, the demonstrations, the protocol
with the definition of samples-to-reliability, the machine and the wall time.
Everything is recomputed from ``results.jsonl`` (``cgfsim lab report DIR`` does
only this), so a partly finished sweep reports what it has. The prose sections
are in :mod:`cgfsim.lab.report_text`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import atomic_write_text, write_csv_rows
from cgfsim.lab import stats
from cgfsim.lab.analysis import AXIS_WORDS, Analysis, analyse, fmt_steps
from cgfsim.lab.report_text import demos_section, machine_section, protocol_section


def labels_of(an: Analysis) -> dict[str, str]:
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
                        "axis": an.axis_of(a),
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


def _data(x: float, axis: str) -> str:
    return "not reached" if not math.isfinite(x) else f"{fmt_steps(x)} {AXIS_WORDS[axis]}"


def _answer(an: Analysis, labels: dict[str, str]) -> list[str]:
    """The result in plain words, per scenario and target."""
    lines = []
    for sc in an.scenarios():
        tg = an.targets["scenarios"][sc]
        best = next(d for d in tg["doctrines"] if d["doctrine"] == tg["best_doctrine"])
        opp = an.spec["opponent"]
        lines.append(
            f"**{sc} vs {opp}.** The best doctrine against `{opp}` is "
            f"`{tg['best_doctrine']}`, winning {best['win_rate']:.3f} "
            f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] of {best['episodes']} test episodes "
            f"as {tg['side']}; source: {tg['source_note']}."
        )
        who = sorted(
            {
                r["job"]["demonstrator"]
                for r in an.records
                if "demonstrator" in r["job"] and r["job"]["scenario"]["name"] == sc
            }
        )
        if who:
            lines[-1] += (
                f" The imitation approaches learn from `{'`, `'.join(who)}` (demonstrations "
                "recorded on worlds of their own, or queried as DAgger's expert)."
            )
        have = [a for a in an.approaches() if (sc, a) in an.curves]
        for t in an.target_list(sc):
            reached, missed = [], []
            for a in have:
                r = an.reliability(sc, a, t["value"])
                axis = an.axis_of(a)
                if math.isfinite(r["median"]):
                    reached.append(
                        (
                            r["median"],
                            f"{labels[a]} needed {_data(r['median'], axis)} "
                            f"({r['reached']}/{r['seeds']} seeds got there; interval "
                            f"[{fmt_steps(r['low'])}, {fmt_steps(r['high'])}])",
                        )
                    )
                else:
                    top = fmt_steps(an.budgets_of(a)[-1])
                    missed.append(f"{labels[a]} ({r['reached']}/{r['seeds']} within {top})")
            what = {
                "mirror": f"reliably beat `{opp}` as often as it beats itself",
                "parity": "be reliably at parity with the best doctrine",
                "exceed": "reliably exceed the best doctrine",
            }.get(t["name"], f"reach target {t['name']}")
            text = f"- To {what} (test win-rate lower bound >= {t['value']:.3f}): "
            reached.sort()
            if reached:
                text += "; ".join(x for _, x in reached) + ". "
            if missed:
                text += f"Not reached by the median seed: {', '.join(missed)}. "
            if not reached:
                lead = max(have, key=lambda a: an.curves[(sc, a)].final.point)
                c = an.curves[(sc, lead)]
                text += (
                    f"No approach got there; the closest was {labels[lead]}, IQM win rate "
                    f"{c.final.fmt(3)} over {len(c.seeds)} seeds at "
                    f"{_data(c.budgets[-1], an.axis_of(lead))}. "
                )
            if not t["reachable"]:
                text += (
                    "This target cannot be shown with the sweep's test episodes (it is above "
                    f"the best possible lower bound, {tg['max_provable']:.3f}). "
                )
            lines.append(text.rstrip())
        lines.append("")
    return lines


def _cell(r: dict[str, Any]) -> str:
    if not math.isfinite(r["samples_to_reliability"]):
        return f"not reached ({r['seeds_reached']}/{r['seeds']})"
    return (
        f"{fmt_steps(r['samples_to_reliability'])} [{fmt_steps(r['interval_low'])}, "
        f"{fmt_steps(r['interval_high'])}] ({r['seeds_reached']}/{r['seeds']})"
    )


def summary_table(rows: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    """One line per scenario x approach, one column per target: median samples-to-reliability
    [interval over seeds] (seeds that got there), then the final IQM win rate."""
    targets = list(dict.fromkeys((r["target"], r["target_win_rate"]) for r in rows))
    multi = len({r["scenario"] for r in rows}) > 1
    names = list(dict.fromkeys(t for t, _ in targets))
    head = ["scenario"] if multi else []
    head += ["approach", "data"]
    if multi:
        head += names
    else:
        head += [f"{t} ({v:.3f})" for t, v in targets]
    head.append("final IQM win rate")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["scenario"], r["approach"]), {})[r["target"]] = r
    for (sc, a), per in by.items():
        first = next(iter(per.values()))
        cells = [sc] if multi else []
        cells += [labels.get(a, a), AXIS_WORDS.get(first["axis"], first["axis"])]
        cells += [_cell(per[t]) if t in per else "-" for t in names]
        cells.append(
            f"{first['final_iqm_win_rate']:.3f} [{first['final_iqm_low']:.3f}, "
            f"{first['final_iqm_high']:.3f}] at {fmt_steps(first['final_budget'])}"
        )
        out.append("| " + " | ".join(cells) + " |")
    return out


def _curve_table(an: Analysis, labels: dict[str, str]) -> list[str]:
    out = []
    for sc in an.scenarios():
        for axis in an.axes():
            names = [a for a in an.approaches() if an.axis_of(a) == axis and (sc, a) in an.curves]
            if not names:
                continue
            budgets = sorted({b for a in names for b in an.budgets_of(a)})
            head = f"| approach | seeds | {' | '.join(fmt_steps(b) for b in budgets)} | steps/s |"
            out += [f"**{sc}**, {AXIS_WORDS[axis]}:", "", head, "|" + "---|" * (len(budgets) + 3)]
            for a in names:
                c = an.curves[(sc, a)]
                cells = [
                    c.iqm[c.budgets.index(b)].fmt(2) if b in c.budgets else "-" for b in budgets
                ]
                sps = f"{c.steps_per_s:,.0f}" if c.steps_per_s else "-"
                out.append(f"| {labels[a]} | {len(c.seeds)} | {' | '.join(cells)} | {sps} |")
            out.append("")
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
        "P(row beats column) at each approach's largest budget, a random seed against a "
        "random seed, per scenario then averaged (Mann-Whitney), 95% stratified bootstrap "
        "interval:",
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


def _targets(an: Analysis) -> list[str]:
    md: list[str] = []
    for sc in an.scenarios():
        tg = an.targets["scenarios"][sc]
        md += [
            f"**{sc}**: from {tg['source_note']}; {tg['episodes']} episodes per doctrine as "
            f"{tg['side']} against `{tg['opponent']}` on {tg['worlds']}.",
            "",
            "| doctrine | win rate [95% CI] | draw | loss |",
            "|---|---|---|---|",
        ]
        for d in tg["doctrines"]:
            name = d["doctrine"] + (" (mirror)" if d.get("mirror") else "")
            md.append(
                f"| {name} | {d['win_rate']:.3f} [{d['ci_low']:.3f}, "
                f"{d['ci_high']:.3f}] | {d['draw_rate']:.3f} | {d['loss_rate']:.3f} |"
            )
        md.append("")
        m = tg.get("mirror")
        if m:
            md += [
                f"Mirror score: `{tg['opponent']}` against itself wins {m['win_rate']:.3f} "
                f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}] as {tg['side']} (the side advantage).",
                "",
            ]
        for t in tg["targets"]:
            ok = "" if t["reachable"] else " — unreachable with the sweep's test episodes"
            md.append(f"- `{t['name']}` = {t['value']:.3f}: {t['description']}{ok}")
        md.append("")
    return md


def write_report(folder: str | Path) -> dict[str, Any]:
    """Write results.csv, summary.csv, plots/ and report.md; returns paths and the table."""
    from cgfsim.lab.plots import write_plots

    folder = Path(folder)
    an = analyse(folder)
    labels = labels_of(an)
    rows = sorted(
        an.rows, key=lambda r: (r["scenario"], r["approach"], r["seed"], r["budget"], r["eval_set"])
    )
    write_csv_rows(folder / "results.csv", rows)
    summ = summary_rows(an)
    write_csv_rows(folder / "summary.csv", summ)
    plots = write_plots(an, folder, labels) if an.curves else []
    table = summary_table(summ, labels) if summ else ["(no finished jobs yet)"]
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
    md += [
        "## Samples to reliability",
        "",
        "Median over seeds of the data at which a seed's test win-rate lower bound first "
        "reached the target [distribution-free interval] (seeds that got there); a seed that "
        "never did counts as infinite.",
        "",
        *table,
        "",
    ]
    md += ["## Test win rate at every budget (IQM over seeds [95% CI])", ""]
    md += _curve_table(an, labels)
    imp = _improvement(an, labels)
    if imp:
        md += ["## Probability of improvement", "", *imp, ""]
    md += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    md += ["## Targets", "", *_targets(an)]
    demos = demos_section(an, labels)
    if demos:
        md += ["## Demonstrations", "", *demos, ""]
    md += ["## Protocol", "", *protocol_section(an, labels), ""]
    md += ["## Machine and wall time", "", *machine_section(an), ""]
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


__all__ = ["labels_of", "summary_rows", "summary_table", "write_report"]
