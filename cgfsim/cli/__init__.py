"""The ``cgfsim`` command, one module per command group.

Each module in :data:`GROUPS` has ``register(sub)``, which adds its
sub-commands to the parser; a command is a function ``(args) -> exit code``.
Heavy imports (torch, SB3, DEAP) happen inside the commands, so ``cgfsim
--help`` stays fast. Bad input of any kind ends with one line on stderr and
exit code 2, never a traceback: every user-facing error derives from
:class:`~cgfsim.sim.errors.CgfsimError`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cgfsim.cli._args import Parser
from cgfsim.sim.errors import CgfsimError

#: Command groups, in the order ``cgfsim --help`` lists them.
GROUPS = ("sim", "agents", "demos", "calibrate", "export", "lab", "tune", "explain")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="cgfsim", description="Learn CGF behaviour on batched grid-combat simulations.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        importlib.import_module(f"cgfsim.cli.{group}").register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad flag (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    try:
        return int(args.func(args))
    except CgfsimError as e:
        print(f"cgfsim: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cgfsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
