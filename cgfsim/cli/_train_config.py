"""Flags and config files of ``cgfsim train``: defaults, types, combinations, ``--config``.

Kept apart from the commands so that every way a training run is described
(flags, a ``--config`` TOML from ``cgfsim tune``, ``--resume`` of a run folder)
is checked by the same code, before any run folder exists.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A
from cgfsim.sim.errors import CgfsimError

ALGOS = ("ppo", "a2c", "rppo", "maskppo", "ga", "cmaes", "bc", "dagger")
#: Defaults of the ``train`` flags a ``--config`` file may set (flag > file > default).
TRAIN_DEFAULTS: dict[str, Any] = {
    "algo": None,
    "obs": None,
    "policy": "mlp",
    "scenario": None,
    "opponent": None,
    "steps": 100_000,
    "seed": 0,
    "side": "blue",
    "eval_episodes": 500,
    "test_episodes": 1000,
    "threads": None,
    "dataset": None,
    "root": None,
    "demo_steps": None,
    "expert": None,
    "init_from": None,
    "league": None,
    "final_episodes": None,
}
#: The argparse types of those flags: a value from a ``--config`` file passes the same checks.
TRAIN_TYPES: dict[str, Any] = {
    "steps": A.count,
    "seed": A.seed,
    "eval_episodes": A.nonneg,
    "test_episodes": A.nonneg,
    "threads": A.threads,
    "demo_steps": A.count,
    "final_episodes": A.nonneg,
}
CONFIG_TABLES = ("train", "hparams")
RL_ALGOS = ("ppo", "a2c", "rppo", "maskppo")
OBS = ("vector", "grid", "entities")
POLICIES = ("mlp", "lstm")


def set_threads(n: int | None) -> None:
    """Torch threads, chosen deliberately: env (numpy) and network share the cores."""
    import torch

    torch.set_num_threads(max(1, int(n or 1)))


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values are TOML literals (``0.1``, ``[64, 64]``, ``true``) or text."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise CgfsimError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw.strip()
    return out


def check_combo(algo: str, obs: str, policy: str) -> str:
    """Validate algo x obs x policy before anything heavy runs; returns the canonical algo."""
    a = algo.lower()
    if a not in ALGOS:
        raise CgfsimError(f"unknown --algo {algo!r}; expected one of {', '.join(ALGOS)}")
    if obs not in OBS:
        raise CgfsimError(f"unknown --obs {obs!r}; expected one of {', '.join(OBS)}")
    if policy not in POLICIES:
        raise CgfsimError(f"unknown --policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if a in ("ga", "cmaes"):
        if obs != "vector":
            raise CgfsimError(f"--algo {a} supports --obs vector only (got {obs})")
        return a
    if a in ("bc", "dagger"):
        return a
    if policy == "lstm" and a in ("a2c", "maskppo"):
        raise CgfsimError(f"--algo {a} has no lstm policy; use --algo rppo (or ppo) with lstm")
    if a == "rppo" and policy != "lstm":
        raise CgfsimError("--algo rppo trains lstm policies; add --policy lstm")
    return a


# ------------------------------------------------------------------ train


def check_hparams(algo: str, policy: str, obs: str, scenario: str, hp: dict[str, Any]) -> None:
    """Fail on unknown hyperparameters now, not after the run folder exists."""
    if algo in ("bc", "dagger"):
        from cgfsim.agents import supervised

        extra: dict[str, Any] | None = None
        if algo == "dagger":
            from cgfsim.agents.dagger import EXTRA

            extra = EXTRA
        supervised.resolve_hparams(hp, policy, extra)
        return
    if algo in ("ga", "cmaes"):
        from cgfsim.agents.ga import resolve_hparams

        resolve_hparams(hp, scenario)
        return
    from cgfsim.agents import rl

    a = rl.resolve_algo(algo, policy)
    rl.split_hparams(a, rl.resolve_hparams(a, scenario, hp), obs)


def check_flags(algo: str, args: argparse.Namespace) -> None:
    """Flags that belong to other learners are an error, not silently ignored."""
    if args.dataset is not None and algo not in ("bc", "dagger"):
        raise CgfsimError(f"--dataset is for --algo bc or dagger, not {algo}")
    if algo == "bc" and args.dataset is None:
        raise CgfsimError("--algo bc needs --dataset (a Minari dataset id or folder)")
    if args.init_from is not None and algo not in RL_ALGOS:
        raise CgfsimError(
            f"--init-from starts an RL run (--algo {', '.join(RL_ALGOS)}), not {algo}"
        )
    if args.demo_steps is not None and algo not in ("bc", "dagger"):
        raise CgfsimError(f"--demo-steps is for --algo bc or dagger, not {algo}")
    if args.expert is not None and algo != "dagger":
        raise CgfsimError("--expert is for --algo dagger")


#: Flags --resume refuses outright: the run's config.json decides them.
NOT_WITH_RESUME = (
    "out",
    "set",
    "league",
    "final_episodes",
    "threads",
    "dataset",
    "root",
    "demo_steps",
    "expert",
    "init_from",
)


def apply_config(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the flags not given on the command line from ``--config FILE`` (its ``[train]``
    table), then from :data:`TRAIN_DEFAULTS`; returns the file's ``[hparams]`` (``--set``
    overrides them). A ``best.toml`` written by ``cgfsim tune`` is such a file."""
    cfg: dict[str, Any] = {}
    hparams: dict[str, Any] = {}
    if args.config is not None:
        path = Path(args.config)
        try:
            cfg = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise CgfsimError(f"--config {path}: cannot read ({e.strerror})") from None
        except tomllib.TOMLDecodeError as e:
            raise CgfsimError(f"--config {path}: invalid TOML: {e}") from None
        bad = sorted(set(cfg) - set(CONFIG_TABLES))
        if bad:
            raise CgfsimError(
                f"--config {path}: {bad[0]}: unknown table; expected [train], [hparams]"
            )
        train, hparams = cfg.get("train", {}), cfg.get("hparams", {})
        if not isinstance(train, dict) or not isinstance(hparams, dict):
            raise CgfsimError(f"--config {path}: [train] and [hparams] must be tables")
        unknown = sorted(set(train) - set(TRAIN_DEFAULTS))
        if unknown:
            raise CgfsimError(
                f"--config {path}: train.{unknown[0]}: unknown key; expected one of "
                f"{', '.join(TRAIN_DEFAULTS)}"
            )
        for key, check in TRAIN_TYPES.items():
            if key in train:
                v = train[key]
                try:
                    if isinstance(v, bool) or not isinstance(v, int):
                        raise argparse.ArgumentTypeError(f"expected an integer, got {v!r}")
                    check(str(v))
                except argparse.ArgumentTypeError as e:
                    raise CgfsimError(f"--config {path}: train.{key}: {e}") from None
        if train.get("side", "blue") not in ("blue", "red"):
            raise CgfsimError(f"--config {path}: train.side: expected blue or red")
        cfg = train
    for key, default in TRAIN_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, cfg.get(key, default))
    if args.algo is None:
        raise CgfsimError("--algo is required (or a --config file with train.algo, or --resume)")
    return dict(hparams)
