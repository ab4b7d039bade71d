"""DAgger against behaviour cloning at the same label budget on Traps, one row per seed.

Traps (``experiments/traps.toml``) is built to show compounding error: the
``advance`` doctrine walks past dead-end pockets that open towards the start, so
its demonstrations never show a way out of one. Per seed this records 60
demonstration episodes (half train, a quarter validation), trains BC on the first
``--budget`` labels of them (training plus validation) and DAgger with the same
number of expert labels (4 rounds, beta 1, 0.5, 0.25, 0.125, learner rounds rolling
out 4 ticks per label), both for a fixed 150 epochs, and plays both greedily on
``test``-split worlds. The settings are those of
``tests/agents/test_bc.py::test_dagger_beats_bc_at_the_same_label_budget``::

    python experiments/dagger_traps.py --seeds 0-9

Writes ``table.md`` and ``rows.json`` into ``runs/dagger-traps/<timestamp>/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).resolve().parent / "traps.toml"
#: Fixed-length training for both learners: DAgger's first rounds hold a few dozen
#: labels, too few for early stopping to pick an epoch.
HP: dict[str, Any] = {
    "epochs": 150,
    "patience": 150,
    "restore_best": False,
    "lr": 0.01,
    "batch_size": 32,
    "hidden": [64, 64],
}
DAGGER = {"iterations": 4, "oversample": 4.0}


def seeds_arg(text: str) -> list[int]:
    """``0-9`` or ``0,3,5``."""
    if "-" in text:
        lo, hi = text.split("-", 1)
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def run_seed(seed: int, budget: int, eval_episodes: int, out: Path) -> dict[str, Any]:
    from cgfsim.agents.bc import train_bc
    from cgfsim.agents.dagger import train_dagger
    from cgfsim.agents.demos import record_demos

    did = f"cgfsim/traps-s{seed}-v0"
    record_demos(
        SCENARIO,
        "advance",
        "hold",
        episodes=60,
        seed=seed,
        dataset_id=did,
        fractions=(0.5, 0.25, 0.25),
        progress=False,
    )
    quiet = {"progress": False, "verbose": False, "tensorboard": False}
    bc = train_bc(
        did,
        seed=seed,
        out_dir=out / f"bc-s{seed}",
        hparams=HP,
        max_demo_steps=budget,
        eval_episodes=eval_episodes,
        **quiet,
    )
    dg = train_dagger(
        SCENARIO,
        "advance",
        "hold",
        labels=budget,
        seed=seed,
        out_dir=out / f"dagger-s{seed}",
        hparams={**HP, **DAGGER},
        eval_episodes=eval_episodes,
        **quiet,
    )
    return {
        "seed": seed,
        "bc_labels": bc["demo_steps"],
        "bc_test_accuracy": round(bc["test_accuracy"], 3),
        "bc_win_rate": bc["win_rate"],
        "dagger_labels": dg["demo_steps"],
        "dagger_env_steps": dg["env_steps"],
        "dagger_win_rates": [r["win_rate"] for r in dg["iterations"]],
        "dagger_win_rate": dg["win_rate"],
        "expert_win_rate": bc["demonstrator_test_win_rate"],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| seed | BC labels | BC test accuracy | BC win rate | DAgger labels | DAgger env steps "
        "| DAgger win rate by round | DAgger win rate | DAgger - BC |",
        "|-----:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        by_round = ", ".join(f"{w:.2f}" for w in r["dagger_win_rates"])
        lines.append(
            f"| {r['seed']} | {r['bc_labels']} | {r['bc_test_accuracy']:.3f} "
            f"| {r['bc_win_rate']:.2f} | {r['dagger_labels']} | {r['dagger_env_steps']} "
            f"| {by_round} | {r['dagger_win_rate']:.2f} "
            f"| {r['dagger_win_rate'] - r['bc_win_rate']:+.2f} |"
        )
    n = len(rows)
    bc = sum(r["bc_win_rate"] for r in rows) / n
    dg = sum(r["dagger_win_rate"] for r in rows) / n
    lines.append(f"| mean | | | {bc:.3f} | | | | {dg:.3f} | {dg - bc:+.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-9"))
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--eval-episodes", type=int, default=100)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    import torch

    from cgfsim.agents.runs import atomic_write_text, write_json

    torch.set_num_threads(1)
    out = a.out or Path("runs") / "dagger-traps" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str((out / "minari").resolve())
    rows = []
    for seed in a.seeds:
        rows.append(run_seed(seed, a.budget, a.eval_episodes, out))
        r = rows[-1]
        print(
            f"seed {seed}: BC {r['bc_win_rate']:.2f} DAgger {r['dagger_win_rate']:.2f}", flush=True
        )
    write_json(out / "rows.json", rows)
    atomic_write_text(out / "table.md", table(rows))
    print(table(rows), end="")


if __name__ == "__main__":
    main()
