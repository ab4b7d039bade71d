"""The headline experiment: how much data each approach needs before its agent is reliable.

A thin entrance to the lab (:mod:`cgfsim.lab`): it runs a preset sweep of
``experiments/data_volume/<preset>.toml`` (or any sweep file) into
``runs/data_volume/<timestamp>/`` and prints the summary table and the report's
path. The same sweep runs with ``cgfsim lab run``; this script only adds the
presets and the output location.

Presets (every one with all eight approaches unless stated: PPO-MLP, GA-MLP,
RecurrentPPO-LSTM, GA-LSTM on env steps; BC-MLP, BC-LSTM, DAgger-MLP on
demonstration steps; BC-then-PPO on both):

- ``quick`` (``make demo``): 3 seeds, Duel against ``retreat``, 320 to 400 CPU seconds;
  the targets come from Duel's calibration;
- ``full``: 5 seeds, Duel, Skirmish and RandomField (held-out maps) against
  ``retreat``, budgets over three orders of magnitude on every axis, 1,000 test
  episodes per point: about 69 CPU hours (``experiments/estimate_cost.py``), resumable;
- ``probe``: the full preset's jobs with one seed and their two smallest budgets, what
  ``experiments/estimate_cost.py`` scales to estimate the full preset's cost;
- ``maps``: PPO-MLP and GA-MLP on RandomField against ``random``, judged on
  held-out maps.

Usage::

    python experiments/data_volume.py --preset quick [--executor process] [--out DIR]
    python experiments/data_volume.py --preset full --executor ray --address HOST:6379
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cgfsim.cli.lab import add_run_args, run_from_args
from cgfsim.sim.errors import CgfsimError

PRESETS_DIR = Path(__file__).resolve().parent / "data_volume"
OUT_ROOT = Path("runs") / "data_volume"


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--preset", default="quick", help=f"one of {', '.join(presets())}")
    which.add_argument("--sweep", help="a sweep TOML file instead of a preset")
    add_run_args(ap)
    args = ap.parse_args(argv)
    try:
        if args.sweep:
            sweep = Path(args.sweep)
        else:
            sweep = PRESETS_DIR / f"{args.preset}.toml"
            if not sweep.is_file():
                raise CgfsimError(
                    f"unknown --preset {args.preset!r}; expected one of {', '.join(presets())}"
                )
        return run_from_args(sweep, args, OUT_ROOT, ["python", "experiments/data_volume.py", *argv])
    except CgfsimError as e:
        print(f"data_volume: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
