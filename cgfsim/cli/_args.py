"""The command line's one validation layer: argparse types with ranges, and one-line errors.

Every flag that takes a number, a seed or an output path is declared with a
type from here, so a bad value is refused by argparse before any work starts
(nothing is loaded, trained or written), with one line naming the flag and
what was expected, and exit code 2 — the same contract as every other bad
input (:class:`~cgfsim.sim.errors.CgfsimError`).

==================  ===============================================================
type                accepts
==================  ===============================================================
``count``           an integer >= 1 (episodes, steps, worlds, samples...)
``nonneg``          an integer >= 0 (e.g. ``--eval-episodes 0`` turns evaluation off)
``index``           an integer >= 0 that picks an item (a recorded world...)
``seed``            a training seed, 0..2**24-1: it indexes the key splits
                    (:mod:`cgfsim.sim.splits`), so runs of different seeds never share
                    worlds
``world_key``       a raw world key, 0..2**62: world i of a run gets key + i
``threads``         1..256
``out_file``        a file that can be written: not a folder, its folder exists or can
                    be created, and a probe file can be written there now
``out_dir``         a folder that can be created or written
``in_path``         an existing file or folder (read later)
==================  ===============================================================
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

MAX_SEED = 2**24 - 1
MAX_KEY = 2**62
MAX_COUNT = 10**12


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"cgfsim: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _int(text: str, what: str) -> int:
    try:
        return int(text.replace("_", ""), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _ranged(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        v = _int(text, what)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return v

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


count = _ranged(1, MAX_COUNT, "an integer >= 1")
nonneg = _ranged(0, MAX_COUNT, "an integer >= 0")
index = _ranged(0, MAX_COUNT, "an index >= 0")
seed = _ranged(0, MAX_SEED, f"a seed in 0..{MAX_SEED}")
world_key = _ranged(0, MAX_KEY, "a world key in 0..2**62")
threads = _ranged(1, 256, "a thread count in 1..256")


def fraction(text: str) -> float:
    """A number in [0, 1]."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return v


def _writable_ancestor(path: Path) -> None:
    """Raise unless the nearest existing ancestor of ``path`` is a folder we can write in."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{parent} is not a folder")
    try:  # permissions alone do not tell (root, read-only mounts): probe
        fd, tmp = tempfile.mkstemp(prefix=".cgfsim-probe.", dir=parent)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot write in {parent} ({e.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def out_file(text: str) -> Path:
    """A file path that can be written now (checked with a probe, nothing is left behind)."""
    p = Path(text)
    if not text or p.is_dir() or text.endswith(os.sep):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    if p.exists() and not p.is_file():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a regular file")
    _writable_ancestor(p)
    return p


def out_dir(text: str) -> Path:
    """A folder that exists and is writable, or can be created."""
    p = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("expected a folder name")
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    _writable_ancestor(p / "probe")
    return p


def in_path(text: str) -> Path:
    """An existing file or folder."""
    p = Path(text)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return p


def check_output(path: str | Path, flag: str) -> Path:
    """:func:`out_file` for a path that is only known after parsing, with the flag named."""
    from cgfsim.sim.errors import CgfsimError

    try:
        return out_file(str(path))
    except argparse.ArgumentTypeError as e:
        raise CgfsimError(f"{flag} {path}: {e}") from None
