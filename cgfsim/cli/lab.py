"""``cgfsim lab run SWEEP.toml`` and ``cgfsim lab report DIR``.

``run`` checks the sweep file and the executor (an unreachable Ray address
included) before it creates the output folder or starts a job, runs every
unfinished job, and writes the report; rerun it with the same ``--out`` to
resume. ``report`` only recomputes the CSVs, plots and ``report.md`` from a
folder's results. :func:`add_run_args` and :func:`run_from_args` are shared with
``experiments/data_volume.py``, so both entrances behave alike.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A
from cgfsim.sim.errors import CgfsimError


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The executor and output options of a sweep run."""
    p.add_argument("--out", type=A.out_dir, help="output folder (an existing one is resumed)")
    p.add_argument(
        "--executor",
        default="serial",
        help="serial | process | ray (default serial)",
    )
    p.add_argument(
        "--workers",
        type=A.count,
        default=None,
        help="jobs at once for process/ray (default: every core)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (host:port, ray://host:port or auto); default: a local Ray",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-job lines")


def run_from_args(
    sweep: str | Path, args: argparse.Namespace, default_root: Path, argv: Sequence[str]
) -> int:
    """Check everything, then run the sweep into ``--out`` or ``default_root/<timestamp>``."""
    import time

    from cgfsim.lab.executors import make_executor
    from cgfsim.lab.spec import load_sweep

    spec = load_sweep(sweep)  # bad input: one line, exit 2, before any folder exists
    if args.workers is not None and args.workers < 1:
        raise CgfsimError(f"--workers must be >= 1, got {args.workers}")
    executor = make_executor(args.executor, args.workers, args.address, args.quiet)
    if args.out:
        folder = Path(args.out)
        if folder.exists() and not folder.is_dir():
            raise CgfsimError(f"--out {folder} is a file, not a folder")
    else:
        folder = default_root / time.strftime("%Y%m%d-%H%M%S")
    from cgfsim.lab.sweep import run_sweep

    res = run_sweep(
        spec,
        folder,
        executor,
        quiet=args.quiet,
        sweep_text=Path(sweep).read_text(encoding="utf-8"),
        command=list(argv),
    )
    print(res["report"]["summary_table"])
    print()
    print(
        f"{res['ran']} jobs run, {res['skipped']} resumed, {res['failed']} failed, "
        f"{res['wall_s']:.0f} s"
    )
    print(f"report: {res['report']['report']}")
    if res["failed"]:
        print(
            f"{res['failed']} job(s) failed; rerun the same command to retry them", file=sys.stderr
        )
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    argv = ["cgfsim", "lab", "run", str(args.sweep), *_flags(args)]
    return run_from_args(args.sweep, args, Path("runs") / "lab", argv)


def _flags(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for name in ("out", "executor", "workers", "address"):
        v = getattr(args, name)
        if v is not None:
            out += [f"--{name}", str(v)]
    return out + (["--quiet"] if args.quiet else [])


def cmd_report(args: argparse.Namespace) -> int:
    from cgfsim.lab.report import write_report

    folder = Path(args.folder)
    if not (folder / "sweep.json").is_file() or not (folder / "targets.json").is_file():
        raise CgfsimError(f"{folder}: not a sweep folder (no sweep.json and targets.json)")
    res = write_report(folder)
    print(res["summary_table"])
    print()
    print(f"report: {res['report']}")
    return 0


def register(sub: Any) -> None:
    """Add ``lab run`` and ``lab report`` to the ``cgfsim`` sub-command parser."""
    lab = sub.add_parser(
        "lab",
        help="sweeps of approaches x seeds x data budgets, with statistics and reports",
        description="Run a sweep (approaches x scenarios x seeds x data budgets) serially, in "
        "a local process pool or on Ray, resumably; report samples-to-reliability, IQM win "
        "rates with stratified bootstrap intervals and plots.",
    )
    lsub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    s = lsub.add_parser("run", help="run (or resume) a sweep and write its report")
    s.add_argument("sweep", help="sweep TOML file (see experiments/data_volume/*.toml)")
    add_run_args(s)
    s.set_defaults(func=cmd_run)
    s = lsub.add_parser("report", help="rewrite a sweep folder's CSVs, plots and report.md")
    s.add_argument("folder", help="a sweep output folder")
    s.set_defaults(func=cmd_report)
