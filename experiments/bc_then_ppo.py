"""BC alone, BC then PPO (old and new fine-tuning settings) and PPO from scratch on Duel.

Per seed: records ``--episodes`` episodes of ``assault`` against ``retreat``, clones
them (BC-MLP, default settings), then for every env-step budget fine-tunes the clone
with PPO under the fine-tuning defaults (:mod:`cgfsim.agents.finetune`: critic
warm-up, learning rate 3e-4, no entropy bonus), under Duel's plain PPO settings with
a fresh critic (the behaviour before), and trains PPO from scratch. Every policy is
played greedily on the same ``--eval-episodes`` ``test``-split worlds::

    python experiments/bc_then_ppo.py --seeds 0,1,2 --budgets 8192,16384,49152

Writes ``table.md`` and ``rows.json`` into ``runs/bc-then-ppo/<timestamp>/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any


def plain() -> dict[str, Any]:
    """Duel's own PPO learning rate and entropy, no warm-up: what ``--init-from`` did before."""
    from cgfsim.agents.rl import resolve_hparams

    hp = resolve_hparams("ppo", "Duel", None)
    return {"critic_warmup": 0, "learning_rate": hp["learning_rate"], "ent_coef": hp["ent_coef"]}


OPPONENT = "retreat"


def ints(text: str) -> list[int]:
    return [int(s) for s in text.split(",")]


def run_seed(seed: int, budgets: list[int], episodes: int, n_eval: int, out: Path) -> list[dict]:
    from cgfsim.agents.bc import train_bc
    from cgfsim.agents.demos import record_demos
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.rl import train_rl
    from cgfsim.sim.splits import key_base

    did = f"cgfsim/bc-then-ppo-s{seed}-v0"
    record_demos(
        "duel", "assault", OPPONENT, episodes=episodes, seed=seed, dataset_id=did, progress=False
    )
    bc = train_bc(
        did,
        seed=seed,
        out_dir=out / f"bc-s{seed}",
        eval_episodes=0,
        progress=False,
        verbose=False,
        tensorboard=False,
    )
    test = key_base("test", seed)

    def win(policy_dir: str) -> float:
        return evaluate(policy_dir, "duel", OPPONENT, n_eval, seed=test).win_rate

    clone = win(bc["policy_dir"])
    rows = []
    for steps in budgets:
        row: dict[str, Any] = {
            "seed": seed,
            "demo_steps": bc["demo_steps"],
            "env_steps": steps,
            "bc": clone,
        }
        for name, init, hp in (
            ("bc_then_ppo", True, {}),
            ("bc_then_ppo_plain", True, plain()),
            ("ppo", False, {}),
        ):
            r = train_rl(
                "ppo",
                "duel",
                OPPONENT,
                steps=steps,
                seed=seed,
                out_dir=out / f"{name}-s{seed}-{steps}",
                hparams=hp,
                eval_episodes=0,
                progress=False,
                tensorboard=False,
                init_from=bc["policy_dir"] if init else None,
            )
            row[name] = win(r["final_dir"])
        rows.append(row)
        print(row, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    cols = ("bc", "bc_then_ppo", "bc_then_ppo_plain", "ppo")
    lines = [
        "| env steps | seeds | BC alone | BC then PPO (fine-tuning defaults) "
        "| BC then PPO (plain PPO settings) | PPO from scratch |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for steps in sorted({r["env_steps"] for r in rows}):
        rs = [r for r in rows if r["env_steps"] == steps]
        cells = []
        for c in cols:
            vals = [r[c] for r in rs]
            cells.append(f"{sum(vals) / len(vals):.3f} ({min(vals):.3f}-{max(vals):.3f})")
        lines.append(f"| {steps:,} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=ints, default=[0, 1, 2])
    p.add_argument("--budgets", type=ints, default=[8192, 16384, 49152])
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--eval-episodes", type=int, default=400)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    import torch

    from cgfsim.agents.runs import atomic_write_text, write_json

    torch.set_num_threads(1)
    out = a.out or Path("runs") / "bc-then-ppo" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str((out / "minari").resolve())
    rows = [
        r for seed in a.seeds for r in run_seed(seed, a.budgets, a.episodes, a.eval_episodes, out)
    ]
    write_json(out / "rows.json", rows)
    atomic_write_text(out / "table.md", table(rows))
    print(table(rows), end="")


if __name__ == "__main__":
    main()
