"""Bias and variance of behaviour cloning: error against model capacity and against data size.

One behaviour-cloning task (default: the ``flank`` doctrine against ``assault`` on
Duel). One dataset is recorded; its validation and test splits stay fixed while
the training set is a prefix of its train split. Every model trains with the
project's supervised loop (:func:`cgfsim.agents.supervised.fit`) for a fixed number
of epochs; the **last epoch's** weights are measured (no early stopping, so
over-fitting is visible), and the epoch early stopping would have restored is
recorded beside them. Over several seeds:

- **capacity**: a linear model (no hidden layer), MLPs from 4 to 512x512x512 units
  and an LSTM, on a small training set (``--capacity-episodes``): training,
  validation and test error (1 - accuracy over decisions) and loss against the
  number of parameters, the capacity with the lowest validation error marked;
- **data**: the chosen capacity on training sets of ``--sizes`` episodes (log
  scale): the same errors against data size;
- beside each, the win rate of every trained model on test-split worlds (greedy
  over valid actions), since the lowest imitation error need not play best.

Writes ``results.csv``, ``results.json``, ``plots/capacity.png``, ``plots/data.png``
and ``report.md`` (the findings in a few sentences) into
``runs/bias_variance/<timestamp>/``::

    python experiments/bias_variance.py                       # the README's figures
    python experiments/bias_variance.py --quick               # a minute, for a smoke test
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: name -> (core, hidden layers); the linear model has no hidden layer.
CAPACITIES: dict[str, tuple[str, list[int]]] = {
    "linear": ("mlp", []),
    "mlp-4": ("mlp", [4]),
    "mlp-16": ("mlp", [16]),
    "mlp-64": ("mlp", [64]),
    "mlp-256": ("mlp", [256]),
    "mlp-64x64": ("mlp", [64, 64]),
    "mlp-256x256": ("mlp", [256, 256]),
    "mlp-512x512x512": ("mlp", [512, 512, 512]),
    "lstm-64": ("lstm", [64]),
}


def train_one(
    name: str,
    train: list[Any],
    val: list[Any],
    test: list[Any],
    meta: dict[str, Any],
    seed: int,
    args: argparse.Namespace,
    sc_test: Any,
) -> dict[str, Any]:
    """Train one model (fixed epochs) and measure its last and its early-stopped epoch."""
    from cgfsim.agents import supervised as S
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.networks import CgfPolicy, build_policy
    from cgfsim.sim.splits import key_base

    core, hidden = CAPACITIES[name]
    hp = S.resolve_hparams(
        {
            "hidden": hidden,
            "epochs": args.epochs,
            "patience": args.epochs,  # never stop: the last epoch is measured
            "lr": args.lr,
            "batch_size": 64 if core == "mlp" else 4,
            "lstm_hidden": 64,
        },
        core,
    )
    spec = S.policy_spec(
        meta["obs"], meta["obs_shape"], meta["n_units"], meta["n_actions"], core, hp
    )
    net = build_policy(spec, seed=seed)
    t0 = time.perf_counter()
    fit = S.fit(net, train, val, hp, seed)
    train_s = time.perf_counter() - t0
    early = {"val": S.evaluate_loss(net, val), "test": S.evaluate_loss(net, test)}
    last = CgfPolicy(spec, ortho_init=False)
    last.load_state_dict(fit.final_state)
    last.eval()
    m = {
        split: S.evaluate_loss(last, data)
        for split, data in (("train", train), ("val", val), ("test", test))
    }
    row: dict[str, Any] = {
        "model": name,
        "core": core,
        "parameters": int(sum(p.numel() for p in last.parameters())),
        "seed": seed,
        "train_episodes": len(train),
        "train_steps": int(sum(len(d) for d in train)),
        "epochs": args.epochs,
        "train_s": round(train_s, 2),
        "best_epoch": fit.best_epoch,
    }
    for split, (loss, acc, _) in m.items():
        row[f"{split}_loss"], row[f"{split}_error"] = loss, 1.0 - acc
    for split, (loss, acc, _) in early.items():
        row[f"early_{split}_loss"], row[f"early_{split}_error"] = loss, 1.0 - acc
    if args.test_episodes > 0:
        r = evaluate(
            last,
            sc_test,
            args.opponent,
            args.test_episodes,
            side=meta["side"],
            seed=key_base("test", seed),
        )
        row.update(win_rate=r.win_rate, win_ci_low=r.win_ci[0], win_ci_high=r.win_ci[1])
    return row


def summarise(rows: list[dict[str, Any]], key: str, x: str) -> list[dict[str, Any]]:
    """Mean, min and max over seeds of every measured column, per value of ``key``."""
    out = []
    for k in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == k]
        s: dict[str, Any] = {key: k, x: group[0][x], "seeds": len(group)}
        for col in group[0]:
            if col.endswith(("_error", "_loss")) or col == "win_rate":
                v = np.array([r[col] for r in group], float)
                s[col], s[f"{col}_min"], s[f"{col}_max"] = v.mean(), v.min(), v.max()
                s[f"{col}_se"] = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0
        out.append(s)
    return out


def plot(
    path: Path,
    summary: list[dict[str, Any]],
    x: str,
    xlabel: str,
    mark: Any,
    key: str,
    title: str,
    demo_win: float | None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cgfsim.agents.runs import atomic_write_bytes

    summary = sorted(summary, key=lambda s: s[x])  # lines join neighbours on the x axis
    xs = np.array([s[x] for s in summary], float)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, what in ((axes[0], "error"), (axes[1], "loss")):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange"), ("test", "tab:green")):
            col = f"{split}_{what}"
            y = np.array([s[col] for s in summary])
            ax.plot(xs, y, "o-", color=colour, label={"val": "validation"}.get(split, split))
            ax.fill_between(
                xs,
                [s[f"{col}_min"] for s in summary],
                [s[f"{col}_max"] for s in summary],
                color=colour,
                alpha=0.15,
            )
        ax.plot(
            xs,
            [s[f"early_val_{what}"] for s in summary],
            "--",
            color="tab:orange",
            lw=1,
            label="validation, early-stopped epoch",
        )
        ax.set_ylabel(f"imitation {what}" + (" (1 - accuracy)" if what == "error" else ""))
    if "win_rate" in summary[0]:
        ax = axes[2]
        y = np.array([s["win_rate"] for s in summary])
        ax.plot(xs, y, "o-", color="tab:red", label="clone (last epoch)")
        lo = [s["win_rate_min"] for s in summary]
        hi = [s["win_rate_max"] for s in summary]
        ax.fill_between(xs, lo, hi, color="tab:red", alpha=0.15)
        if demo_win is not None:
            ax.axhline(demo_win, color="black", ls=":", lw=1, label="demonstrator")
        ax.set_ylabel("win rate on test-split worlds")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        for s in summary:
            if s[key] == mark:
                ax.axvline(s[x], color="grey", ls="--", lw=1)
        ax.legend(fontsize=8)
    if key == "model":
        for s in summary:
            axes[0].annotate(s["model"], (s[x], s["val_error"]), fontsize=6, rotation=30)
    fig.suptitle(title + " (mean over seeds; bands: min to max)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plateau(summary: list[dict[str, Any]], col: str = "val_error") -> dict[str, Any]:
    """The smallest data size whose mean validation error is within one standard error (over
    seeds) of the lowest mean: beyond it more demonstrations stop helping measurably."""
    best = min(summary, key=lambda s: s[col])
    bar = best[col] + best[f"{col}_se"]
    return next(s for s in summary if s[col] <= bar)


def report(doc: dict[str, Any]) -> str:
    cap, data = doc["capacity"], doc["data"]
    chosen = next(s for s in cap if s["model"] == doc["chosen"])
    lin = next(s for s in cap if s["model"] == "linear")
    big = max((s for s in cap if s["core"] == "mlp"), key=lambda s: s["parameters"])
    by_loss = min(cap, key=lambda s: s["val_loss"])
    largest = max(s["train_episodes"] for s in data)
    if doc["plateau_episodes"] == largest:
        flat = (
            f"it is still falling at the largest size, {largest} episodes: no plateau within "
            "the sizes measured (record more to find it)"
        )
    else:
        flat = (
            f"beyond **{doc['plateau_episodes']} episodes** ({doc['plateau_steps']:,} "
            "transitions) more demonstrations stop helping (mean validation error within one "
            "standard error of the lowest)"
        )
    lines = [
        f"# Bias and variance of behaviour cloning: {doc['task']}",
        "",
        f"Recorded {doc['episodes']} episodes; validation ({doc['val_steps']} steps) and test "
        f"({doc['test_steps']} steps) splits fixed; {doc['seeds']} seeds per point; "
        f"{doc['epochs']} epochs, last epoch measured; win rates over {doc['test_episodes']} "
        f"test-split episodes per model (greedy over valid actions).",
        "",
        "## What the curves show",
        "",
        f"- **Capacity** (training sets of {doc['capacity_episodes']} episodes): the linear model "
        f"under-fits (training error {lin['train_error']:.3f}, validation "
        f"{lin['val_error']:.3f}); validation error is lowest for **{doc['chosen']}** "
        f"({chosen['parameters']:,} parameters, validation error {chosen['val_error']:.3f}, "
        f"test {chosen['test_error']:.3f}); the largest "
        f"MLP, {big['model']} ({big['parameters']:,} parameters), reaches training error "
        f"{big['train_error']:.3f} with validation error {big['val_error']:.3f}. Validation "
        f"loss is lowest for {by_loss['model']} ({by_loss['val_loss']:.3f}); the largest MLP's "
        f"is {big['val_loss']:.3f}"
        + (
            " - over-fitting: it memorises the training episodes and grows over-confident on "
            "new ones, which the loss shows before the error does."
            if big["val_loss"] > by_loss["val_loss"] * 1.1
            else "."
        ),
        f"- **Win rate against capacity**: best for {doc['best_win_capacity']} "
        f"({doc['best_win_capacity_rate']:.3f}), against "
        f"{chosen.get('win_rate', float('nan')):.3f} for the capacity validation chose; the "
        f"demonstrator wins "
        f"{doc['demonstrator_test_win_rate']:.3f} of the same worlds.",
        f"- **Data** ({doc['chosen']}): validation error falls from "
        f"{data[0]['val_error']:.3f} at {data[0]['train_episodes']} episodes to "
        f"{min(s['val_error'] for s in data):.3f}; {flat}. Win rate: "
        + ", ".join(f"{s['train_episodes']}: {s['win_rate']:.3f}" for s in data if "win_rate" in s)
        + ".",
        "",
        "![capacity](plots/capacity.png)",
        "",
        "![data](plots/data.png)",
        "",
        "| model | parameters | train error | validation error | test error | validation loss "
        "| win rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in cap:
        lines.append(
            f"| {s['model']} | {s['parameters']:,} | {s['train_error']:.3f} | "
            f"{s['val_error']:.3f} | {s['test_error']:.3f} | {s['val_loss']:.3f} | "
            f"{s.get('win_rate', float('nan')):.3f} |"
        )
    lines += [
        "",
        "| train episodes | transitions | train error | validation error | test error | win rate |",
        "|---|---|---|---|---|---|",
    ]
    for s in data:
        lines.append(
            f"| {s['train_episodes']} | {s['train_steps']:,} | {s['train_error']:.3f} | "
            f"{s['val_error']:.3f} | {s['test_error']:.3f} | "
            f"{s.get('win_rate', float('nan')):.3f} |"
        )
    lines += [
        "",
        f"Wall time {doc['wall_s']:.0f} s, CPU time {doc['cpu_s']:.0f} s (one process, torch "
        f"threads 1); load average {doc['loadavg']} at the end.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="duel")
    p.add_argument("--demonstrator", default="flank")
    p.add_argument("--opponent", default="assault")
    p.add_argument("--episodes", type=int, default=2000, help="episodes recorded")
    p.add_argument(
        "--capacity-episodes", type=int, default=100, help="training set of the capacity sweep"
    )
    p.add_argument("--sizes", default="12,25,50,100,200,400,800,1600", help="training episodes")
    p.add_argument("--models", default=",".join(CAPACITIES))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--test-episodes", type=int, default=1000)
    p.add_argument("--quick", action="store_true", help="a smoke test: tiny everything")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.episodes, args.capacity_episodes, args.sizes = 120, 30, "12,25,50"
        args.models, args.seeds, args.epochs, args.test_episodes = (
            "linear,mlp-16,mlp-256,lstm-64",
            2,
            5,
            50,
        )
    sizes = [int(s) for s in args.sizes.split(",")]
    models = args.models.split(",")
    bad = [m for m in models if m not in CAPACITIES]
    if bad or args.seeds < 1 or args.epochs < 1 or not sizes:
        p.error(f"unknown model {bad[0]!r}" if bad else "seeds, epochs and sizes must be >= 1")

    from cgfsim.agents.runs import make_run_dir, write_csv_rows, write_json

    out = Path(args.out) if args.out else make_run_dir("runs", "bias_variance", args.scenario)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str(out / "minari")
    import torch

    torch.set_num_threads(1)
    from cgfsim.agents import supervised as S
    from cgfsim.agents.bc import dataset_scenario
    from cgfsim.agents.demo_store import open_dataset
    from cgfsim.agents.demos import load_split, record_demos
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.sim.splits import key_base, map_pool

    t0, cpu0 = time.perf_counter(), time.process_time()
    did = "cgfsim/bias-variance-v0"
    if not (out / "minari" / did).exists():
        record_demos(
            args.scenario,
            args.demonstrator,
            args.opponent,
            episodes=args.episodes,
            dataset_id=did,
            progress=False,
        )
    ds = open_dataset(did)
    meta = ds.meta
    train_all, val, test = (load_split(ds, s) for s in ("train", "validation", "test"))
    for d in (train_all, val, test):
        S.clean_labels(d)
    if max([*sizes, args.capacity_episodes]) > len(train_all):
        p.error(f"the train split has {len(train_all)} episodes; record more (--episodes)")
    sc_test: Any = map_pool(dataset_scenario(ds), "test")
    demo_win = None
    if args.test_episodes:
        demo = evaluate(
            args.demonstrator,
            sc_test,
            args.opponent,
            args.test_episodes,
            side=meta["side"],
            seed=key_base("test", 0),
        )
        demo_win = demo.win_rate
    rows: list[dict[str, Any]] = []

    def run(sweep: str, name: str, n: int) -> None:
        for seed in range(args.seeds):
            r = train_one(name, train_all[:n], val, test, meta, seed, args, sc_test)
            r["sweep"] = sweep
            rows.append(r)
            print(
                f"{sweep} {name} {n} episodes seed {seed}: train {r['train_error']:.3f} "
                f"val {r['val_error']:.3f} test {r['test_error']:.3f} win {r.get('win_rate')} "
                f"({r['train_s']:.0f} s)",
                flush=True,
            )
            write_csv_rows(out / "results.csv", rows)

    for name in models:
        run("capacity", name, args.capacity_episodes)
    cap = summarise([r for r in rows if r["sweep"] == "capacity"], "model", "parameters")
    chosen = min(cap, key=lambda s: s["val_error"])["model"]
    for n in sizes:
        run("data", chosen, n)
    data = summarise([r for r in rows if r["sweep"] == "data"], "train_episodes", "train_episodes")
    for s in data:
        s["train_steps"] = int(sum(len(d) for d in train_all[: s["train_episodes"]]))
    for s in cap:
        s["core"] = CAPACITIES[s["model"]][0]
    flat = plateau(data)
    best_win = max(cap, key=lambda s: s.get("win_rate", -1.0))
    task = f"{args.demonstrator} against {args.opponent} on {meta['scenario']}"
    doc = {
        "task": task,
        "dataset": str(ds.path),
        "episodes": args.episodes,
        "val_steps": int(sum(map(len, val))),
        "test_steps": int(sum(map(len, test))),
        "seeds": args.seeds,
        "epochs": args.epochs,
        "test_episodes": args.test_episodes,
        "capacity_episodes": args.capacity_episodes,
        "chosen": chosen,
        "plateau_episodes": flat["train_episodes"],
        "plateau_steps": flat["train_steps"],
        "best_win_capacity": best_win["model"],
        "best_win_capacity_rate": best_win.get("win_rate", float("nan")),
        "demonstrator_test_win_rate": demo_win,
        "capacity": cap,
        "data": data,
        "rows": rows,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "loadavg": [round(x, 1) for x in os.getloadavg()],
        "command": [
            "python",
            "experiments/bias_variance.py",
            *(argv if argv is not None else sys.argv[1:]),
        ],
    }
    write_json(out / "results.json", doc)
    title = f"Capacity: {task}, {args.capacity_episodes} training episodes"
    plot(
        out / "plots" / "capacity.png",
        cap,
        "parameters",
        "parameters (log scale)",
        chosen,
        "model",
        title,
        demo_win,
    )
    title = f"Data size: {task}, {chosen}"
    plot(
        out / "plots" / "data.png",
        data,
        "train_episodes",
        "training episodes (log scale)",
        flat["train_episodes"],
        "train_episodes",
        title,
        demo_win,
    )
    text = report(doc)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
