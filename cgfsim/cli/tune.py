"""``cgfsim tune SPACE.toml``: a hyperparameter study on Optuna (grid, random, TPE; pruning).

The space, the output folder, the storage and the executor (an unreachable Ray
address or storage URL included) are checked before any folder or trial exists.
Rerun the same command with the same ``--out`` to resume. :func:`add_tune_args`
and :func:`run_from_args` are shared with ``experiments/tune.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A


def add_tune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        help="study folder (default runs/tune/<timestamp>-<name>); "
        "an existing study folder is resumed",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="sqlite (a file in the study folder; default for one worker), journal (Optuna's "
        "journal file there; default for several), journal:PATH, or an Optuna storage URL "
        "such as postgresql://user@host/db for workers on many machines",
    )
    p.add_argument("--executor", default="serial", help="serial | process | ray (default serial)")
    p.add_argument(
        "--workers", type=A.count, default=None, help="parallel workers for process/ray (default 2)"
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (host:port, ray://host:port or auto); default a local Ray",
    )
    p.add_argument(
        "--fail-running",
        action="store_true",
        help="mark every trial still RUNNING in the storage as failed first (use when workers "
        "on other machines died; trials of dead local processes are found by themselves)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-trial lines or table")


def study_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`cgfsim.lab.tune.run_study` keywords of the flags of :func:`add_tune_args`."""
    return {
        "storage": args.storage,
        "executor": args.executor,
        "workers": args.workers,
        "address": args.address,
        "quiet": args.quiet,
        "fail_running": args.fail_running,
    }


def run_from_args(space: str | Path, args: argparse.Namespace, argv: Sequence[str]) -> int:
    from cgfsim.lab.tune import run_study

    s = run_study(space, out=args.out, command=list(argv), **study_kwargs(args))
    if s["errors"]:
        import sys

        for e in s["errors"]:
            print(f"cgfsim: {e}", file=sys.stderr)
        print("rerun the same command to resume the study", file=sys.stderr)
        return 1
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    argv = ["cgfsim", "tune", str(args.space)]
    for name in ("out", "storage", "executor", "workers", "address"):
        v = getattr(args, name)
        if v is not None:
            argv += [f"--{name}", str(v)]
    return run_from_args(args.space, args, argv)


def register(sub: Any) -> None:
    s = sub.add_parser(
        "tune",
        help="hyperparameter search on Optuna: grid (with a sample fraction), random, TPE",
        description="Run or resume a hyperparameter study of a search space (TOML): trials "
        "scored on validation data, weak ones pruned on their intermediate scores, the best "
        "re-scored once on test data. Writes trials.csv/md (ranked), best.toml (for "
        "`cgfsim train --config`), best.json, plots/ and report.md into the study folder.",
    )
    s.add_argument("space", help="search space TOML (see experiments/tune/*.toml)")
    add_tune_args(s)
    s.set_defaults(func=cmd_tune)
