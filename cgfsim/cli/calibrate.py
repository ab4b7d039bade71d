"""``cgfsim calibrate SCENARIO``: the doctrine round robin, mirror and best-known scores.

See :mod:`cgfsim.agents.calibration`. Prints the calibration table; ``--json``
writes it (atomically) for experiments to read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A
from cgfsim.sim.errors import CgfsimError


def cmd_calibrate(args: argparse.Namespace) -> int:
    from cgfsim.envs._common import get_scenario
    from cgfsim.sim.doctrines import DOCTRINES
    from cgfsim.sim.splits import MAX_SEED

    if args.episodes < 1:
        raise CgfsimError(f"--episodes must be >= 1, got {args.episodes}")
    if not 0 <= args.seed <= MAX_SEED:
        raise CgfsimError(f"--seed must be in 0..{MAX_SEED}, got {args.seed}")
    players = None
    if args.players:
        players = [p.strip() for p in args.players.split(",") if p.strip()]
        bad = [p for p in players if p not in DOCTRINES]
        if bad:
            raise CgfsimError(
                f"--players: unknown doctrine {bad[0]!r}; expected some of {', '.join(DOCTRINES)}"
            )
        if len(players) < 2:
            raise CgfsimError("--players needs at least two doctrines")
    from cgfsim.sim.probes import PROBES

    probes = {}
    for p in (args.probes or "").split(","):
        if p.strip():
            if p.strip() not in PROBES:
                raise CgfsimError(
                    f"--probes: unknown probe {p.strip()!r}; expected some of {', '.join(PROBES)}"
                )
            probes[p.strip()] = PROBES[p.strip()]
    extra = [p.strip() for p in (args.extra or "").split(",") if p.strip()]
    for p in extra:
        if not Path(p).is_dir():
            raise CgfsimError(f"--extra: {p!r} is not a checkpoint folder")
    if args.json:
        parent = Path(args.json).parent
        if not parent.is_dir():
            raise CgfsimError(f"--json: folder {str(parent)!r} does not exist")
    get_scenario(args.scenario)  # a bad scenario fails here, before any work

    from cgfsim.agents.calibration import calibrate
    from cgfsim.agents.runs import atomic_write_text

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    cal = calibrate(args.scenario, args.episodes, args.seed, players, extra, probes, say)
    print(cal.table())
    if args.json:
        atomic_write_text(args.json, cal.to_json())
    return 0


def register(sub: Any) -> None:
    s = sub.add_parser(
        "calibrate",
        help="doctrine round robin, mirror and best-known scores of a scenario",
        description=(
            "Play every doctrine against every other (both sides unless the scenario is "
            "symmetric) on held-out test keys, rate them (Bradley-Terry Elo), play each "
            "doctrine's mirror match and report the best-known score against each doctrine."
        ),
    )
    s.add_argument("scenario", help="built-in name or TOML path")
    s.add_argument(
        "--episodes", type=A.count, default=1000, help="per pair and side (default 1000)"
    )
    s.add_argument("--seed", type=A.seed, default=0, help="test-key seed (default 0)")
    s.add_argument("--players", help="comma-separated doctrines (default: all)")
    s.add_argument("--extra", help="comma-separated checkpoint folders that join the table")
    s.add_argument(
        "--probes",
        help="comma-separated counter-scripts (cgfsim.sim.probes) to try on each doctrine",
    )
    s.add_argument("--json", type=A.out_file, help="write the calibration JSON here")
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s.set_defaults(func=cmd_calibrate)
