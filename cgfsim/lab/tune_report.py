"""What a study leaves in its folder: the ranked table, the best configuration, plots, a report.

- ``trials.csv`` / ``trials.md``: every trial ranked (tfruns' ``ls_runs`` view):
  its parameters, its validation scores, state (complete, pruned at which report,
  failed), wall time; the test figures only on the chosen trial's row;
- ``best.toml``: the chosen trial as a file ``cgfsim train --config best.toml``
  accepts (the learner, its data or scenario, every hyperparameter);
- ``best.json``: the chosen trial and its test figures, measured ONCE, on the
  dataset's test split and on test-split worlds (held-out maps for random-map
  scenarios); a later report reuses them;
- ``plots/history.png``, ``plots/importances.png``, ``plots/parallel.png``: Optuna's
  matplotlib optimisation history, parameter importances (fANOVA) and parallel
  coordinates;
- ``report.md``: the study in a few lines, the best configuration and the table's top.
"""

from __future__ import annotations

import io
import json
import math
import tomllib
import warnings
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import atomic_write_bytes, atomic_write_text, read_json, write_csv_rows
from cgfsim.agents.runs import write_json as _write_json
from cgfsim.lab.tune_space import space_from_text

BEST_TOML = "best.toml"
BEST_JSON = "best.json"
TOP = 20


# --------------------------------------------------------------------------- TOML


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def toml_text(tables: dict[str, dict[str, Any]], header: str = "") -> str:
    """Tables of scalars, lists and inline tables as TOML (None values are left out);
    checked by reading the text back."""
    lines = [f"# {h}" for h in header.splitlines()] + ([""] if header else [])
    for name, table in tables.items():
        lines.append(f"[{name}]")
        for k, v in table.items():
            if v is not None:
                lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    text = "\n".join(lines)
    back = tomllib.loads(text)
    want = {n: {k: v for k, v in t.items() if v is not None} for n, t in tables.items()}
    if json.dumps(back, sort_keys=True) != json.dumps(want, sort_keys=True, default=list):
        raise ValueError("the TOML writer did not round-trip")
    return text


# --------------------------------------------------------------------------- rows


def _study(doc: dict[str, Any]) -> Any:
    import optuna

    from cgfsim.lab.tune import _quiet_optuna, open_storage

    _quiet_optuna()
    return optuna.load_study(study_name=doc["study_name"], storage=open_storage(doc["storage"]))


def trial_rows(study: Any, metric: str, direction: str) -> list[dict[str, Any]]:
    """Every trial with its parameters, scores and state, best first: complete trials by
    their metric, then pruned ones by their last report (shown as their metric), then the
    rest."""
    from optuna.trial import TrialState

    sign = 1.0 if direction == "minimize" else -1.0
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        last = max(t.intermediate_values) if t.intermediate_values else None
        value = t.value if t.state == TrialState.COMPLETE else None
        if value is None and last is not None:
            shown = t.intermediate_values[last]
        else:
            shown = value
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                **{f"param_{k}": v for k, v in t.params.items()},
                metric: shown,  # a pruned trial: its last report
                "reports": len(t.intermediate_values),
                "pruned_at": last if t.state == TrialState.PRUNED else None,
                **{
                    k: t.user_attrs.get(k)
                    for k in ("val_loss", "val_accuracy", "val_win_rate", "best_epoch")
                    if k != metric and k in t.user_attrs
                },
                "env_steps": t.user_attrs.get("env_steps"),
                "demo_steps": t.user_attrs.get("demo_steps"),
                "wall_s": t.user_attrs.get("wall_s"),
                "policy_dir": t.user_attrs.get("policy_dir"),
                "note": t.user_attrs.get("note"),
                "_key": (
                    {"complete": 0, "pruned": 1}.get(t.state.name.lower(), 2),
                    sign * shown if shown is not None and math.isfinite(shown) else math.inf,
                    t.number,
                ),
            }
        )
    rows.sort(key=lambda r: r["_key"])
    for rank, r in enumerate(rows, 1):
        r.pop("_key")
        r["rank"] = rank
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def markdown_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "| " + " | ".join(c.removeprefix("param_") for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def table_columns(rows: list[dict[str, Any]], metric: str, names: list[str]) -> list[str]:
    """Rank, trial, state, the parameters in the space's order, the metric, the other scores
    present (the test figures: the chosen trial's only), pruned-at and wall time."""
    params = [f"param_{n}" for n in names if any(f"param_{n}" in r for r in rows)]
    scores = ("val_loss", "val_accuracy", "val_win_rate", "test_loss", "test_accuracy")
    extra = [
        k
        for k in (*scores, "test_win_rate")
        if k != metric and any(r.get(k) is not None for r in rows)
    ]
    tail = [k for k in ("pruned_at", "wall_s") if any(r.get(k) is not None for r in rows)]
    return ["rank", "trial", "state", *params, metric, *extra, *tail]


# --------------------------------------------------------------------------- best


def best_config(doc: dict[str, Any], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``[train]`` and ``[hparams]`` tables of ``cgfsim train --config`` for a trial."""
    space = space_from_text(
        (Path(doc["folder"]) / "space.toml").read_text(encoding="utf-8"), doc["space"]["source"]
    )
    task = doc["task_resolved"]
    train: dict[str, Any] = {"algo": task["learner"], "policy": task["policy"]}
    if space.family == "bc":
        train.update(dataset=task["dataset"], opponent=task.get("opponent"))
        train["eval_episodes"] = task["test_episodes"]  # BC plays its test worlds after training
    else:
        train.update(
            scenario=task["scenario"],
            opponent=task["opponent"],
            obs=task["obs"],
            steps=task["steps"],
            eval_episodes=task["val_episodes"],
            test_episodes=task["test_episodes"],
        )
    train.update(side=task["side"], seed=task["seed"])
    return {"train": train, "hparams": space.hparams(params)}


def rescore(doc: dict[str, Any], trial: Any) -> dict[str, Any]:
    """The chosen trial's test figures: test-split loss and accuracy (BC) and its win rate
    on test-split worlds (held-out maps on random-map scenarios), measured once."""
    from cgfsim.agents.checkpoints import load_checkpoint
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.envs._common import get_scenario
    from cgfsim.sim.splits import key_base, map_pool

    task = doc["task_resolved"]
    folder = Path(doc["folder"])
    policy_dir = folder / trial.user_attrs["policy_dir"]
    net = load_checkpoint(policy_dir)[0]
    out: dict[str, Any] = {"policy_dir": str(policy_dir)}
    if task["learner"] == "bc":
        from cgfsim.agents import supervised as S
        from cgfsim.agents.bc import dataset_scenario
        from cgfsim.agents.demo_store import open_dataset
        from cgfsim.agents.demos import load_split

        ds = open_dataset(task["dataset"])
        test = load_split(ds, "test")
        S.clean_labels(test)
        loss, acc, decisions = S.evaluate_loss(net, test)
        out.update(test_loss=loss, test_accuracy=acc, test_decisions=decisions)
        sc = dataset_scenario(ds)
    else:
        sc = get_scenario(task["scenario"])
    if task["test_episodes"] > 0 and task.get("opponent") is not None:
        sc_test: Any = map_pool(sc, "test")
        r = evaluate(
            net,
            sc_test,
            task["opponent"],
            task["test_episodes"],
            side=task["side"],
            seed=key_base("test", task["seed"]),
        )
        out.update(
            test_win_rate=r.win_rate,
            test_win_ci=list(r.win_ci),
            test_episodes=r.episodes,
            test_action_mode="greedy over valid actions" if r.masked else r.action_mode,
        )
    return out


# --------------------------------------------------------------------------- plots


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_plots(study: Any, folder: Path) -> dict[str, str]:
    """Optuna's matplotlib plots; a plot that cannot be drawn (too few trials, one value per
    parameter) is named with the reason instead."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna.visualization.matplotlib as V

    plots = folder / "plots"
    out: dict[str, str] = {}
    for name, fn in (
        ("history", V.plot_optimization_history),
        ("importances", V.plot_param_importances),
        ("parallel", V.plot_parallel_coordinate),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax: Any = fn(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(9, 5)
            _save(fig, plots / f"{name}.png")
            out[name] = f"plots/{name}.png"
        except Exception as e:
            out[name] = f"not drawn: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}"
    return out


# --------------------------------------------------------------------------- finish


def finish_study(folder: str | Path, quiet: bool = False) -> dict[str, Any]:
    """Rank the trials, re-score the chosen one on test data (once), write every output."""
    from optuna.trial import TrialState

    folder = Path(folder)
    doc = read_json(folder / "tune.json")
    doc["folder"] = str(folder)
    sp = doc["space"]
    metric, direction = sp["metric"], sp["direction"]
    study = _study(doc)
    rows = trial_rows(study, metric, direction)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    states = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "fail")}
    best: dict[str, Any] | None = None
    if complete:
        bt = study.best_trial
        prior = read_json(folder / BEST_JSON) if (folder / BEST_JSON).is_file() else None
        if prior is not None and prior.get("trial") == bt.number:
            test = prior["test"]
        else:
            test = rescore(doc, bt)
        cfg = best_config(doc, bt.params)
        best = {
            "trial": bt.number,
            "params": bt.params,
            metric: bt.value,
            "validation": {
                k: bt.user_attrs.get(k) for k in ("val_loss", "val_accuracy", "val_win_rate")
            },
            "test": test,
            "config": cfg,
            "selected_on": f"{metric} ({direction}) on validation data",
        }
        _write_json(folder / BEST_JSON, best)
        header = (
            f"cgfsim train --config {BEST_TOML}: trial {bt.number} of study {doc['study_name']} "
            f"({sp['strategy']}), chosen on validation {metric} {bt.value:.4f}\n"
            + "; ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float))
        )
        atomic_write_text(folder / BEST_TOML, toml_text(cfg, header))
        for r in rows:
            if r["trial"] == bt.number:
                for k in ("test_loss", "test_accuracy", "test_win_rate"):
                    r[k] = test.get(k)
    write_csv_rows(folder / "trials.csv", rows)
    cols = table_columns(rows, metric, list(sp["params"]))
    table = markdown_table(rows, cols)
    atomic_write_text(folder / "trials.md", table + "\n")
    plots = write_plots(study, folder)
    runs = doc.get("runs", [])
    done = [r for r in runs if r.get("wall_s") is not None]  # a killed run never wrote its time
    wall = sum(r["wall_s"] for r in done)
    cpu = sum(r.get("cpu_s") or 0.0 for r in done)
    params = [c for c in cols if c.startswith("param_")]
    distinct = len({tuple(repr(r.get(p)) for p in params) for r in rows if r["state"] != "fail"})
    summary = {
        "folder": str(folder),
        "study": doc["study_name"],
        "strategy": sp["strategy"],
        "planned_trials": sp["trials"],
        "combinations": sp.get("combinations"),
        "trials": len(rows),
        "distinct": distinct,
        **states,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "runs": len(runs),
        "killed_runs": len(runs) - len(done),
        "best": best,
        "plots": plots,
        "table": markdown_table(rows[:TOP], cols),
    }
    _write_json(folder / "summary.json", {k: v for k, v in summary.items() if k != "table"})
    atomic_write_text(folder / "report.md", _report(doc, summary))
    if not quiet:
        print(summary["table"])
        if len(rows) > TOP:
            print(f"... {len(rows) - TOP} more rows in {folder / 'trials.md'}")
        print(_summary_line(summary, metric))
    return summary


def _summary_line(s: dict[str, Any], metric: str) -> str:
    line = (
        f"{s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned, {s['fail']} "
        f"failed; {s['distinct']} distinct) in {s['wall_s']:.0f} s wall, "
        f"{s['cpu_s']:.0f} s CPU of the workers"
        + (f" (+ {s['killed_runs']} killed run(s), time unknown)" if s["killed_runs"] else "")
    )
    b = s["best"]
    if b is None:
        return line + "; no trial completed"
    t = b["test"]
    line += f"; best: trial {b['trial']} {metric} {b[metric]:.4f} {b['params']}"
    if "test_accuracy" in t:
        line += f"; test split accuracy {t['test_accuracy']:.4f}"
    if "test_win_rate" in t:
        lo, hi = t["test_win_ci"]
        line += f"; test worlds win rate {t['test_win_rate']:.3f} [{lo:.3f}, {hi:.3f}]"
    return line + f"\nbest configuration: {Path(s['folder']) / BEST_TOML}"


def _report(doc: dict[str, Any], s: dict[str, Any]) -> str:
    sp = doc["space"]
    metric = sp["metric"]
    task = doc["task_resolved"]
    lines = [
        f"# Study {doc['study_name']}",
        "",
        f"{sp['strategy']} search"
        + (
            f" over {sp['combinations']} combinations at sample {sp['sample']:g}"
            if sp["strategy"] == "grid"
            else ""
        )
        + f", {sp['trials']} planned trials, objective {metric} ({sp['direction']}) on "
        f"validation data, pruner {sp['pruner']}. Learner {task['learner']}-{task['policy']}"
        + (f" on {task.get('dataset')}" if task["learner"] == "bc" else f" on {task['scenario']}")
        + f"; storage `{doc['storage']}`.",
        "",
        _summary_line(s, metric),
        "",
        "Parameters: " + ", ".join(f"{k} {v}" for k, v in sp["params"].items()) + ".",
        "",
    ]
    for r in doc.get("runs", []):
        if r.get("wall_s") is None:
            lines.append(
                f"- run started {r['started']}: killed, {r['workers']} worker(s) "
                f"({r['executor']}), load average {r['loadavg_start']} at its start"
            )
            continue
        lines.append(
            f"- run started {r['started']}: {r['trials_run']} trials in {r['wall_s']:.0f} s "
            f"wall, {r.get('cpu_s') or 0:.0f} s CPU, {r['workers']} worker(s) ({r['executor']}), "
            f"load average {r['loadavg_start']} -> {r['loadavg_end']}"
            + (f"; errors: {r['errors']}" if r["errors"] else "")
        )
    b = s["best"]
    if b is not None:
        lines += [
            "",
            "## Best configuration (`best.toml`)",
            "",
            "```toml",
            toml_text(b["config"]).strip(),
            "```",
            "",
            "Test figures (measured once, on the chosen trial only): "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in b["test"].items() if k != "policy_dir"),
        ]
    lines += ["", "## Plots", ""]
    for name, where in s["plots"].items():
        lines.append(f"![{name}]({where})" if where.endswith(".png") else f"- {name}: {where}")
    lines += ["", f"## Trials (top {TOP}; all in `trials.md`, `trials.csv`)", "", s["table"], ""]
    return "\n".join(lines)


__all__ = ["finish_study", "markdown_table", "toml_text", "trial_rows"]
