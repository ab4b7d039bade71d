"""The prose sections of a sweep's ``report.md``: demonstrations, protocol, machine."""

from __future__ import annotations

from typing import Any

from cgfsim.lab.analysis import AXIS_WORDS, Analysis
from cgfsim.lab.protocol import MIN_REPORTED_EPISODES


def demos_section(an: Analysis, labels: dict[str, str]) -> list[str]:
    """The demonstration datasets the imitation approaches used, with what recording cost."""
    sets: dict[str, dict[str, Any]] = {}
    dagger = set()
    for rec in an.records:
        job, res = rec["job"], rec["result"]
        d = res.get("demos")
        if d is None:
            if "demonstrator" in job:
                dagger.add((labels.get(job["approach"], job["approach"]), job["demonstrator"]))
            continue
        entry = sets.setdefault(
            d["dataset_id"],
            {**d, "scenario": job["scenario"]["name"], "seed": job["seed"], "users": []},
        )
        entry["users"].append(labels.get(job["approach"], job["approach"]))
        if d.get("recorded"):
            entry["recorded_by"] = labels.get(job["approach"], job["approach"])
    if not sets and not dagger:
        return []
    lines = []
    if sets:
        lines += [
            "Recorded once per scenario and seed on `demo`-split worlds (never trained, "
            "validated or tested on), by the first job that needed them, and reused by the "
            "others (cached in `demos/`). Every recorded transition is one env step of the "
            "demonstrator; BC learns from the train + validation splits (90% of the episodes, by "
            "world key).",
            "",
            "| scenario | seed | demonstrator | episodes | transitions (= recording env steps) "
            "| train + validation | recording wall s | demonstrator win rate | used by |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for e in sorted(sets.values(), key=lambda e: (e["scenario"], e["seed"])):
            wall = e.get("recording_wall_s")
            win = e.get("demonstrator_win_rate")
            lines.append(
                f"| {e['scenario']} | {e['seed']} | `{e['demonstrator']}` | {e['episodes']:,} | "
                f"{e['recording_env_steps']:,} | {e['usable_steps']:,} | "
                f"{'-' if wall is None else f'{wall:.1f}'} | "
                f"{'-' if win is None else f'{win:.3f}'} | {', '.join(sorted(set(e['users'])))} |"
            )
        lines.append("")
    for label, expert in sorted(dagger):
        lines.append(
            f"{label} queries `{expert}` as its expert in the states its own rollouts visit "
            "(`train`-split worlds): its labels are its demo steps, its rollouts its env steps "
            "(`results.csv`)."
        )
    return lines


def protocol_section(an: Analysis, labels: dict[str, str]) -> list[str]:
    p = an.spec["evaluation"]
    small = p["test_episodes"] < MIN_REPORTED_EPISODES
    random_maps = [
        s["name"]
        for s in an.spec["scenarios"]
        if any(r["eval_set"] == "test_maps" for r in an.rows if r["scenario"] == s["name"])
    ]
    by_axis = {x: [a for a in an.approaches() if an.axis_of(a) == x] for x in an.axes()}
    budgets = "; ".join(
        f"{AXIS_WORDS[x]} {an.budgets_of(names[0])} ({', '.join(labels[a] for a in names)})"
        for x, names in by_axis.items()
    )
    lines = [
        f"- Opponent `{an.spec['opponent']}`; the agent plays {an.spec['side']}. Seeds "
        f"{an.spec['seeds']}. Budgets on each approach's data axis: {budgets}. Env steps count "
        "every step of interaction (RL rollouts, every GA fitness step, DAgger's rollouts); "
        "demo steps count expert labels (BC's train + validation transitions, DAgger's "
        "labels); BC-then-PPO counts both.",
        f"- Worlds: training on the `train` split keys of each seed, checkpoint selection on "
        f"`validation` keys ({p['validation_episodes']} episodes per budget), reported points on "
        f"`test` keys ({p['test_episodes']} episodes each), demonstrations on `demo` keys, all "
        "from `cgfsim.sim.splits`: disjoint by construction and across seeds.",
        "- Acting: greedy over valid actions; the first complete episode of every world counts.",
        "- Budgets: each job trains once to its largest budget. The point at budget b is the "
        "policy selected on validation worlds among the snapshots taken at budgets <= b; a "
        "snapshot is the learner's last policy whose data did not exceed b (PPO: after an "
        "update; GA: after a generation), so no approach is credited with data it had not "
        "used. The data it actually used is in `results.csv`, no interpolation. Imitation "
        "learners fit each budget afresh, because the budget is their training set: BC on "
        "nested prefixes of one dataset (train and validation splits in proportion, early "
        "stopping on validation loss), DAgger one run per label budget (its iterations share "
        "that budget). BC-then-PPO clones on its first budget's demonstrations, then PPO "
        "fine-tunes the clone; the clone is its first snapshot.",
        "- Win-rate intervals per point: Wilson 95%. Over seeds: the interquartile mean (IQM) "
        "with a 95% stratified bootstrap percentile interval (Agarwal et al. 2021; 2,000 "
        "resamples).",
        "- **Samples-to-reliability**: a seed is reliable at budget b when the lower bound of its "
        "test win-rate interval is at least the target; its samples-to-reliability is the "
        "smallest budget at which that first holds, or 'not reached' within the largest budget. "
        "Over seeds: the median (the budget by which half the seeds were reliable) with the "
        "distribution-free order-statistic interval for the median; its coverage is below 95% "
        "with fewer than 6 seeds ([min, max] over 3 seeds covers 75%, over 5 seeds 94%).",
        "- Targets: the doctrines' records against the opponent from the agent's side (the "
        "scenario's calibration where it ships one, else a live round robin on test worlds). "
        "mirror = the lower bound of the opponent's win rate against itself (a first "
        "competence: as good against it as it is); parity = the best doctrine's win-rate lower "
        "bound (with equal episode counts: the agent won at least as many test episodes as "
        "the doctrine); exceed = its upper bound (better beyond both intervals).",
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


def machine_section(an: Analysis) -> list[str]:
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
        cpu = s.get("cpu_s")
        lines.append(
            f"- Run of {s['started']}: executor `{s['executor']}` with {s['workers']} "
            f"worker(s), {s['jobs_run']} jobs run, {s['jobs_skipped']} resumed, "
            f"{s['jobs_failed']} failed, wall time {s['wall_s']:.0f} s"
            + (f", CPU time {cpu:.0f} s (driver and workers)" if cpu is not None else "")
            + f"{load}."
        )
        if s.get("command"):
            lines.append(f"  Command: `{' '.join(s['command'])}`")
    total = sum(r["result"]["job_wall_s"] for r in an.records)
    cpu_jobs = [r["result"].get("job_cpu_s") for r in an.records]
    line = f"- Summed job time (training + evaluation, all jobs): {total:.0f} s wall"
    if all(c is not None for c in cpu_jobs):
        line += f", {sum(cpu_jobs):.0f} s CPU"
    lines.append(line + ".")
    return lines


__all__ = ["demos_section", "machine_section", "protocol_section"]
