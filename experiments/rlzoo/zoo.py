"""RL Baselines3 Zoo's command line, with the cgfsim ids and MaskablePPO (``--algo ppo_mask``).

The Zoo trains PPO, A2C and RecurrentPPO (``ppo_lstm``) on the cgfsim ids with
its own ``python -m rl_zoo3.train ... --gym-packages cgfsim``; this launcher
only adds what the Zoo lacks: sb3-contrib's MaskablePPO as ``ppo_mask`` (with
PPO's Optuna sampler for ``-optimize``). Usage, from the repository root::

    python experiments/rlzoo/zoo.py train --algo ppo_mask --env cgfsim/Duel-v0 \\
        -conf experiments/rlzoo/ppo_mask.py -f runs/zoo --seed 0
    python experiments/rlzoo/zoo.py enjoy --algo ppo_mask --env cgfsim/Duel-v0 -f runs/zoo
    python experiments/rlzoo/zoo.py train --algo ppo --env cgfsim/Duel-v0 \\
        -conf experiments/rlzoo/ppo.py -optimize --n-trials 20 --n-jobs 1 -f runs/zoo
"""

from __future__ import annotations

import cgfsim  # noqa: F401  (registers the cgfsim/... ids)


def register_maskable_ppo() -> None:
    """Add MaskablePPO to the Zoo's algorithm table as ``ppo_mask`` (idempotent)."""
    from rl_zoo3 import ALGOS
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    from sb3_contrib import MaskablePPO

    ALGOS.setdefault("ppo_mask", MaskablePPO)
    HYPERPARAMS_SAMPLER.setdefault("ppo_mask", HYPERPARAMS_SAMPLER["ppo"])
    HYPERPARAMS_CONVERTER.setdefault("ppo_mask", HYPERPARAMS_CONVERTER["ppo"])


def main() -> None:
    """``zoo.py train|enjoy ARGS``: the Zoo's own ``train()`` / ``enjoy()`` with ARGS.

    (``rl_zoo3.cli`` would do the same, but it imports the Zoo's plotting, which
    needs seaborn, a package the Zoo does not depend on.)
    """
    import sys

    scripts = ("train", "enjoy")
    if len(sys.argv) < 2 or sys.argv[1] not in scripts:
        sys.exit(f"usage: zoo.py {{{','.join(scripts)}}} [rl_zoo3 arguments]")
    register_maskable_ppo()
    script = sys.argv.pop(1)
    if script == "train":
        from rl_zoo3.train import train

        train()
    else:
        from rl_zoo3.enjoy import enjoy

        enjoy()


if __name__ == "__main__":
    main()
