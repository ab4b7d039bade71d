"""BC-MLP, BC-LSTM and DAgger-MLP at several demonstration budgets on one scenario.

Records one demonstration dataset (the recording throughput is measured
here), then for each budget trains behaviour cloning on nested prefixes of
its train/validation splits and DAgger with the same number of expert labels,
and evaluates every learner, greedy over valid actions, on held-out
``test``-split worlds beside the demonstrator on the same worlds; accuracy is
every learner's on the dataset's test split (the demonstrator's own states)::

    python experiments/imitation_table.py --scenario duel --demonstrator assault \\
        --opponent retreat --episodes 4000 --budgets 500,2000,8000,30000 --eval-episodes 1000

Writes ``table.md``, ``rows.csv`` and ``rows.json`` into
``runs/imitation/<timestamp>-<scenario>/`` (the dataset goes under the Minari
root of that folder, so nothing lands in the home folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

HP = {"epochs": 100, "patience": 10, "lr": 3e-3}


def test_accuracy(policy_dir: str, dataset: str = "cgfsim/imitation-v0") -> float:
    """Imitation accuracy of a checkpoint on the dataset's test split (as BC reports it)."""
    from cgfsim.agents import supervised as S
    from cgfsim.agents.checkpoints import load_checkpoint
    from cgfsim.agents.demos import load_split

    test = load_split(dataset, "test")
    S.clean_labels(test)
    return S.evaluate_loss(load_checkpoint(policy_dir)[0], test)[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="duel")
    p.add_argument("--demonstrator", default="assault")
    p.add_argument("--opponent", default="retreat")
    p.add_argument("--episodes", type=int, default=4000, help="episodes recorded")
    p.add_argument("--budgets", default="500,2000,8000,30000", help="demonstration steps")
    p.add_argument("--eval-episodes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learners", default="bc-mlp,bc-lstm,dagger-mlp")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    from cgfsim.agents.runs import make_run_dir, write_csv_rows, write_json

    out = Path(args.out) if args.out else make_run_dir("runs", "imitation", args.scenario)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str(out / "minari")
    import torch

    torch.set_num_threads(1)
    from cgfsim.agents.bc import train_bc
    from cgfsim.agents.dagger import train_dagger
    from cgfsim.agents.demos import record_demos

    budgets = [int(b) for b in args.budgets.split(",")]
    learners = args.learners.split(",")
    info = record_demos(
        args.scenario,
        args.demonstrator,
        args.opponent,
        episodes=args.episodes,
        seed=args.seed,
        dataset_id="cgfsim/imitation-v0",
        progress=False,
    )
    print(
        f"recorded {info['episodes']} episodes, {info['transitions']} transitions in "
        f"{info['wall_s']:.1f} s: {info['transitions_per_s']:.0f} transitions/s "
        f"(collection alone {info['transitions'] / info['recording']['collect_s']:.0f}/s); "
        f"demonstrator win rate {info['demonstrator_win_rate']:.3f}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for budget in budgets:
        for learner in learners:
            t0 = time.perf_counter()
            run = out / f"{learner}-{budget}"
            common = dict(
                seed=args.seed,
                out_dir=run,
                eval_episodes=args.eval_episodes,
                progress=False,
                verbose=False,
            )
            if learner.startswith("bc-"):
                core = learner.split("-")[1]
                hp = {
                    **HP,
                    "batch_size": 64 if core == "mlp" else 4,
                }  # ~64-80 transitions either way
                r = train_bc(
                    "cgfsim/imitation-v0", policy=core, hparams=hp, max_demo_steps=budget, **common
                )
                episodes, acc = r["demo_episodes"], r["test_accuracy"]
                demo_win = r["demonstrator_test_win_rate"]
            else:
                hp = {**HP, "batch_size": 64, "iterations": 5}
                r = train_dagger(
                    args.scenario,
                    args.demonstrator,
                    args.opponent,
                    labels=budget,
                    hparams=hp,
                    **common,
                )
                episodes, acc = None, r["val_accuracy"]
            row = {
                "learner": learner,
                "budget": budget,
                "demo_steps": r["demo_steps"],
                "demo_episodes": episodes,
                "env_steps": r["env_steps"],
                "accuracy": round(acc, 4),
                "win_rate": r["win_rate"],
                "win_ci": [round(r["eval"]["win_ci_low"], 3), round(r["eval"]["win_ci_high"], 3)],
                "demonstrator_test_win_rate": demo_win,
                "train_s": r["wall_s"],
                "total_s": round(time.perf_counter() - t0, 1),
            }
            rows.append(row)
            print(row, flush=True)
            write_json(out / "rows.json", {"recording": info, "rows": rows})
    write_csv_rows(out / "rows.csv", [{**r, "win_ci": r["win_ci"]} for r in rows])
    lines = [
        f"{info['scenario']}: {args.demonstrator} (demonstrator) vs {args.opponent}, "
        f"{args.eval_episodes} test-split episodes per point, greedy over valid actions; "
        f"demonstrator on the same worlds: {demo_win:.3f}",
        "",
        "| learner | demo steps | demo episodes | env steps | test accuracy | win rate [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['learner']} | {r['demo_steps']} | {r['demo_episodes'] or '-'} | "
            f"{r['env_steps']} | {r['accuracy']:.3f} | "
            f"{r['win_rate']:.3f} [{r['win_ci'][0]:.2f}, {r['win_ci'][1]:.2f}] |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
