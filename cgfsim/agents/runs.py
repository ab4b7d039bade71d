"""Run folders and crash-safe writes: ``runs/<experiment>/<timestamp>-<tag>/``.

Whole files are written atomically (temp file in the same folder, fsync,
``os.replace``) so a killed run never leaves a half-written config or
checkpoint; logs that grow (JSONL) are appended line by line with flush +
fsync, and readers skip a torn last line. No torch here: the lab imports it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

CURVE_JSONL = "curve.jsonl"
CURVE_CSV = "curve.csv"


def _slug(text: str) -> str:
    """File-name-safe version of a tag or experiment name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.")
    return s or "run"


def make_run_dir(root: str | os.PathLike[str], experiment: str, tag: str = "run") -> Path:
    """Create and return a fresh ``root/<experiment>/<YYYYmmdd-HHMMSS>-<tag>[-k]/``.

    Two runs started in the same second get ``-1``, ``-2``... suffixes rather
    than sharing (and overwriting) a folder.
    """
    parent = Path(root) / _slug(experiment)
    parent.mkdir(parents=True, exist_ok=True)
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(tag)}"
    for k in range(10_000):
        path = parent / (base if k == 0 else f"{base}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"could not create a run folder under {parent}")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return asdict(o)
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def to_json(obj: Any, indent: int | None = 2) -> str:
    """JSON text of ``obj``; numpy scalars/arrays, paths and dataclasses are converted."""
    return json.dumps(obj, indent=indent, default=_json_default, allow_nan=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (trailing newline)."""
    return atomic_write_text(path, to_json(obj) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def append_jsonl(path: str | os.PathLike[str], row: Mapping[str, Any] | Any) -> None:
    """Append one JSON line and fsync, so a finished row survives a crash right after."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = to_json(row, indent=None) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn (unparsable) line from an interrupted write is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def write_csv_rows(
    path: str | os.PathLike[str],
    rows: Iterable[Mapping[str, Any]],
    fieldnames: Sequence[str] | None = None,
) -> Path:
    """Atomically write ``rows`` as CSV; columns default to the union of keys, first seen first."""
    rows = list(rows)
    if fieldnames is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        fieldnames = list(seen)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fieldnames), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _json_default(v) if isinstance(v, np.generic) else v for k, v in r.items()})
    return atomic_write_text(path, buf.getvalue())


@dataclass
class CurveRow:
    """One point of a learning curve: win rate after consuming some data."""

    approach: str  # e.g. "ppo-mlp", "rppo-lstm", "ga-mlp", "bc-lstm"
    seed: int
    env_steps: int  # interaction consumed so far (world-steps)
    win_rate: float
    ci_low: float  # Wilson interval of the win rate
    ci_high: float
    wall_s: float
    demo_steps: int = 0  # demonstrations consumed (BC)


CURVE_FIELDS = tuple(f.name for f in dataclasses.fields(CurveRow))


def append_curve_row(run_dir: str | os.PathLike[str], row: CurveRow | Mapping[str, Any]) -> None:
    """Append to ``curve.jsonl`` (durable) and rewrite ``curve.csv`` from it (atomic)."""
    run_dir = Path(run_dir)
    d = asdict(row) if isinstance(row, CurveRow) else dict(row)
    append_jsonl(run_dir / CURVE_JSONL, d)
    rows = read_jsonl(run_dir / CURVE_JSONL)
    extra = [k for r in rows for k in r if k not in CURVE_FIELDS]
    write_csv_rows(run_dir / CURVE_CSV, rows, list(CURVE_FIELDS) + list(dict.fromkeys(extra)))


def read_curve(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return read_jsonl(Path(run_dir) / CURVE_JSONL)


@dataclass
class DataAccount:
    """The data a learner consumed, so approaches can share one axis."""

    env_steps: int = 0  # world-steps of interaction (SB3's num_timesteps)
    demo_steps: int = 0  # demonstration transitions used for training
    wall_s: float = 0.0

    def add(self, env_steps: int = 0, demo_steps: int = 0, wall_s: float = 0.0) -> DataAccount:
        self.env_steps += int(env_steps)
        self.demo_steps += int(demo_steps)
        self.wall_s += float(wall_s)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: ``hook(account, make_policy)``: a learner offers the lab (cgfsim.lab.protocol.BudgetTracker)
#: its data so far and a function returning a copy of its current CgfPolicy, at every natural
#: checkpoint (PPO update, GA generation, BC epoch).
BudgetHook = Callable[[DataAccount, Callable[[], Any]], None]


#: How every learner's held-out evaluations act (see cgfsim.agents.evaluation._use_mask).
EVAL_ACTION_MODE = "greedy over valid actions"


def run_config(
    algo: str,
    scenario: str,
    opponent: Any,
    obs: str,
    policy: str,
    side: str,
    steps: int,
    seed: int,
    hparams: Mapping[str, Any],
    eval_episodes: int,
) -> dict[str, Any]:
    """The resolved config every learner writes to ``config.json``, in one shape."""
    return {
        "algo": algo,
        "scenario": scenario,
        "opponent": opponent,
        "obs": obs,
        "policy": policy,
        "side": side,
        "steps": steps,
        "seed": seed,
        "hparams": dict(hparams),
        "eval_episodes": eval_episodes,
        "eval_action_mode": EVAL_ACTION_MODE,
    }
