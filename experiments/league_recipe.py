"""League training vs single-opponent training, evaluated against every doctrine.

For each approach and seed, trains ONE run to the largest budget and keeps a
checkpoint at every budget on the way (the recipe's schedules do not depend on
the total budget, so the checkpoint at 500k is what a 500k run would give).
Then every checkpoint plays every doctrine, greedy over valid actions, on
``--episodes`` test-split worlds each (``cgfsim.sim.splits``; held-out maps on
random-map scenarios). No checkpoint is selected: each budget reports the
policy trained on exactly that much data.

Approaches (``--approaches``):

- ``league``: the RL learner (``--algo``, default ppo, masked) with ``--league``
  (default ``doctrines,self``: all doctrines and snapshots of itself, PFSP);
- ``single``: the same learner and recipe against one ``--opponent`` (default assault);
- ``single-unmasked``: ``single`` with ``masked=false`` (the pre-issue-7 regime).

Writes into ``--out`` (resumable: finished runs and evaluations are skipped):

- ``runs/<approach>-s<seed>/``: the run folders (``at-<steps>/`` checkpoints);
- ``evals.jsonl``: one line per (approach, seed, budget, doctrine);
- ``report.md``: win rate per doctrine at each budget, mean [min, max] over seeds,
  with env steps, training minutes and env-steps/s.

Usage::

    python experiments/league_recipe.py --scenario duel --out runs/league_recipe/duel \\
        --seeds 0,1,2 --budgets 250000,500000,1000000,2000000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cgfsim.agents.runs import append_jsonl, atomic_write_text, read_json, read_jsonl
from cgfsim.sim.doctrines import DOCTRINES
from cgfsim.sim.errors import CgfsimError

APPROACHES = ("league", "single", "single-unmasked")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="duel")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budgets", default="250000,500000,1000000,2000000")
    p.add_argument("--approaches", default="league,single")
    p.add_argument("--algo", default="ppo")
    p.add_argument("--opponent", default="assault", help="the single approach's opponent")
    p.add_argument("--league", default="doctrines,self", help="the league approach's league")
    p.add_argument("--episodes", type=int, default=1000, help="per doctrine and checkpoint")
    p.add_argument("--split", default="test", help="evaluation keys: test, or validation (tuning)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter override")
    p.add_argument("--train-only", action="store_true", help="skip the evaluations")
    return p.parse_args(argv)


def _train(args: argparse.Namespace, approach: str, seed: int, budgets: list[int]) -> Path:
    from cgfsim.agents.rl import train_rl
    from cgfsim.cli.agents import parse_sets

    run = Path(args.out) / "runs" / f"{approach}-s{seed}"
    if (run / "result.json").is_file():
        return run
    if run.exists():  # an interrupted run: start it again from scratch
        import shutil

        shutil.rmtree(run)
    hp = parse_sets(args.set)
    if approach == "single-unmasked":
        hp["masked"] = False
    train_rl(
        args.algo,
        args.scenario,
        args.opponent if approach != "league" else None,
        steps=budgets[-1],
        seed=seed,
        out_dir=run,
        hparams=hp,
        eval_episodes=0,
        progress=False,
        tensorboard=False,
        league=args.league if approach == "league" else None,
        save_at=budgets,
    )
    return run


def _evaluate(args: argparse.Namespace, approach: str, seed: int, run: Path) -> None:
    from cgfsim.agents.checkpoints import read_spec
    from cgfsim.agents.league import evaluate_vs_doctrines

    path = Path(args.out) / "evals.jsonl"
    done = {(r["approach"], r["seed"], r["budget"], r["opponent"]) for r in read_jsonl(path)}
    for ck in sorted(run.glob("at-*"), key=lambda p: int(p.name[3:])):
        meta = read_spec(ck)[1]
        budget = int(ck.name[3:])
        todo = [d for d in DOCTRINES if (approach, seed, budget, d) not in done]
        if not todo:
            continue
        for r in evaluate_vs_doctrines(
            ck, args.scenario, todo, args.episodes, seed, split=args.split
        ):
            row = {"approach": approach, "seed": seed, "budget": budget, "split": args.split}
            row.update(env_steps=meta["env_steps"], wall_s=meta.get("wall_s"))
            d = r.to_dict()
            row.update({k: d[k] for k in ("opponent", "episodes", "wins", "draws", "losses")})
            row.update({k: d[k] for k in ("win_rate", "win_ci_low", "win_ci_high", "draw_rate")})
            append_jsonl(path, row)


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    v = np.asarray(values)
    return f"{v.mean():.2f} [{v.min():.2f}, {v.max():.2f}]"


def report(out: Path, scenario: str) -> str:
    rows = read_jsonl(out / "evals.jsonl")
    lines = [f"# League vs single-opponent training on {scenario}", ""]
    if not rows:
        return "\n".join([*lines, "no evaluations yet"])
    split = rows[0]["split"]
    n_eps = sorted({r["episodes"] for r in rows})
    lines += [
        f"Win rate against each doctrine, greedy over valid actions, {n_eps} {split}-split "
        "episodes per doctrine, checkpoint and seed; mean [min, max] over seeds. No checkpoint "
        "selection: each budget is the policy trained on exactly that many env steps.",
        "",
    ]
    docs = [d for d in DOCTRINES if any(r["opponent"] == d for r in rows)]
    lines.append("| approach | env steps | seeds | minutes | " + " | ".join(docs) + " | min |")
    lines.append("|---" * (len(docs) + 5) + "|")
    keys = sorted({(r["approach"], r["budget"]) for r in rows})
    for approach, budget in keys:
        sel = [r for r in rows if r["approach"] == approach and r["budget"] == budget]
        seeds = sorted({r["seed"] for r in sel})
        mins = [r["wall_s"] / 60 for r in sel if r["opponent"] == docs[0] and r["wall_s"]]
        per = [_cell([r["win_rate"] for r in sel if r["opponent"] == d]) for d in docs]
        worst = [min(r["win_rate"] for r in sel if r["seed"] == s) for s in seeds]
        lines.append(
            f"| {approach} | {budget:,} | {len(seeds)} | {np.mean(mins):.1f} | "
            + " | ".join(per)
            + f" | {_cell(worst)} |"
        )
    lines += ["", "Training throughput (env-steps/s per run, loaded machine):", ""]
    for res in sorted((out / "runs").glob("*/result.json")):
        r = read_json(res)
        lines.append(f"- {res.parent.name}: {r['steps_per_s']:.0f} env-steps/s, {r['env_steps']:,}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        budgets = sorted({int(b) for b in args.budgets.split(",") if b.strip()})
        approaches = [a.strip() for a in args.approaches.split(",") if a.strip()]
        bad = sorted(set(approaches) - set(APPROACHES))
        if bad or not seeds or not budgets or budgets[0] < 1:
            raise CgfsimError(
                f"approaches must be among {APPROACHES} (got {bad}); seeds and budgets non-empty"
            )
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            for approach in approaches:
                run = _train(args, approach, seed, budgets)
                if not args.train_only:
                    _evaluate(args, approach, seed, run)
                atomic_write_text(out / "report.md", report(out, args.scenario))
    except CgfsimError as e:
        print(f"league_recipe: error: {e}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
