"""Win rate over env steps for RL and GA learners on one scenario, several seeds.

Trains every approach (``ppo-mlp``, ``rppo-lstm``, ``ga-mlp``, ``ga-lstm``;
also ``a2c-mlp``, ``maskppo-mlp``) for each seed and evaluates it at fixed
data budgets on held-out worlds (keys never used in training), greedy over
valid actions. Writes into the output folder:

- ``runs.jsonl``: one line per finished (approach, seed) run, appended as it
  finishes, so an interrupted sweep resumes where it stopped;
- ``curves.csv``: every evaluation row (approach, seed, env_steps, win rate, CI);
- ``report.md``: win rate at each budget (mean and range over seeds) and each
  learner's training throughput in env-steps/s;
- ``curves.png``: mean win rate with the min-max band over seeds.

Usage::

    python experiments/learning_curves.py --out runs/learning_curves/duel \\
        --scenario duel --opponent random --seeds 0,1,2 --budget 400000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.runs import append_jsonl, atomic_write_text, write_csv_rows
from cgfsim.sim.errors import CgfsimError

APPROACHES = {  # name -> (trainer, algo, policy)
    "ppo-mlp": ("rl", "ppo", "mlp"),
    "rppo-lstm": ("rl", "rppo", "lstm"),
    "a2c-mlp": ("rl", "a2c", "mlp"),
    "maskppo-mlp": ("rl", "maskppo", "mlp"),
    "ga-mlp": ("ga", "ga", "mlp"),
    "ga-lstm": ("ga", "ga", "lstm"),
}
EVAL_SEED = 10**7  # held-out worlds: training keys are small


def train_one(
    approach: str, args: argparse.Namespace, seed: int, budgets: list[int], out: Path
) -> dict[str, Any]:
    kind, algo, policy = APPROACHES[approach]
    common = dict(
        scenario=args.scenario,
        opponent=args.opponent,
        obs="vector",
        policy=policy,
        steps=args.budget,
        seed=seed,
        out_dir=out / "runs" / f"{approach}-s{seed}",
        eval_at=budgets,
        eval_episodes=args.episodes,
        eval_seed=EVAL_SEED,
        progress=False,
        tensorboard=False,
    )
    if kind == "rl":
        from cgfsim.agents.rl import train_rl

        res = train_rl(algo, **common)  # type: ignore[arg-type]
    else:
        from cgfsim.agents.ga import train_ga

        res = train_ga(**common)  # type: ignore[arg-type]
    return {
        "approach": approach,
        "seed": seed,
        "env_steps": res["env_steps"],
        "steps_per_s": res["steps_per_s"],
        "wall_s": res["wall_s"],
        "curve": res["curve"],
    }


def at_budgets(curve: list[dict[str, Any]], budgets: list[int]) -> list[float]:
    """Win rate of the first evaluation at or past each budget (nan if none)."""
    out = []
    for b in budgets:
        rows = [r for r in curve if r["env_steps"] >= b]
        out.append(float(rows[0]["win_rate"]) if rows else float("nan"))
    return out


def report(runs: list[dict[str, Any]], budgets: list[int], args: argparse.Namespace) -> str:
    approaches = [a for a in APPROACHES if any(r["approach"] == a for r in runs)]
    head = "| approach | seeds | " + " | ".join(f"{b // 1000}k" for b in budgets)
    lines = [
        f"# Learning curves: {args.scenario} vs {args.opponent}",
        "",
        f"Win rate on {args.episodes} held-out episodes (world keys from {EVAL_SEED}), greedy "
        "over valid actions, at each data budget (env steps of interaction): mean over seeds "
        "[min, max]. Throughput is training env-steps/s on this machine (evaluation "
        "excluded).",
        "",
        head + " | env-steps/s |",
        "|" + "---|" * (len(budgets) + 3),
    ]
    for a in approaches:
        rs = [r for r in runs if r["approach"] == a]
        w = np.array([at_budgets(r["curve"], budgets) for r in rs])
        cells = []
        for k in range(len(budgets)):
            col = w[:, k][~np.isnan(w[:, k])]
            cells.append(
                f"{col.mean():.2f} [{col.min():.2f}, {col.max():.2f}]" if col.size else "-"
            )
        sps = np.mean([r["steps_per_s"] for r in rs])
        lines.append(f"| {a} | {len(rs)} | " + " | ".join(cells) + f" | {sps:,.0f} |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict[str, Any]], budgets: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for a in APPROACHES:
        rs = [r for r in runs if r["approach"] == a]
        if not rs:
            continue
        w = np.array([at_budgets(r["curve"], budgets) for r in rs])
        x = np.array(budgets) / 1000
        ax.plot(x, np.nanmean(w, 0), marker="o", label=f"{a} ({len(rs)} seeds)")
        ax.fill_between(x, np.nanmin(w, 0), np.nanmax(w, 0), alpha=0.2)
    ax.set_xlabel("env steps (thousands)")
    ax.set_ylabel("win rate (greedy, valid actions)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/learning_curves/default", help="output folder")
    ap.add_argument("--scenario", default="duel")
    ap.add_argument("--opponent", default="random")
    ap.add_argument("--approaches", default="ppo-mlp,rppo-lstm,ga-mlp,ga-lstm")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget", type=int, default=400_000, help="env steps per run")
    ap.add_argument("--points", type=int, default=8, help="evaluation budgets per run")
    ap.add_argument("--episodes", type=int, default=200, help="evaluation episodes")
    args = ap.parse_args(argv)
    try:
        approaches = [a.strip() for a in args.approaches.split(",") if a.strip()]
        for a in approaches:
            if a not in APPROACHES:
                raise CgfsimError(
                    f"unknown approach {a!r}; expected one of {', '.join(APPROACHES)}"
                )
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        print(
            f"learning_curves: error: --seeds must be integers, got {args.seeds!r}", file=sys.stderr
        )
        return 2
    except CgfsimError as e:
        print(f"learning_curves: error: {e}", file=sys.stderr)
        return 2
    budgets = [round(args.budget * (k + 1) / args.points) for k in range(args.points)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done_path = out / "runs.jsonl"
    runs = (
        [json.loads(ln) for ln in done_path.read_text().splitlines()] if done_path.exists() else []
    )
    done = {(r["approach"], r["seed"]) for r in runs}
    for a in approaches:
        for s in seeds:
            if (a, s) in done:
                print(f"{a} seed {s}: done earlier, skipped")
                continue
            try:
                r = train_one(a, args, s, budgets, out)
            except CgfsimError as e:
                print(f"learning_curves: error: {e}", file=sys.stderr)
                return 2
            append_jsonl(done_path, r)  # finished work is never lost
            runs.append(r)
            last = r["curve"][-1]["win_rate"] if r["curve"] else float("nan")
            print(
                f"{a} seed {s}: {r['env_steps']} steps, {r['steps_per_s']:,.0f} steps/s, "
                f"final win rate {last:.3f}",
                flush=True,
            )
    rows = [
        {
            k: row[k]
            for k in ("approach", "seed", "env_steps", "win_rate", "ci_low", "ci_high", "wall_s")
        }
        for r in runs
        for row in r["curve"]
    ]
    write_csv_rows(out / "curves.csv", rows)
    atomic_write_text(out / "report.md", report(runs, budgets, args))
    plot(runs, budgets, out / "curves.png", f"{args.scenario} vs {args.opponent}")
    print((out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
