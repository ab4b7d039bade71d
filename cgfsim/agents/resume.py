"""Resume points of killed training runs: ``cgfsim train --resume RUN_DIR``.

A learner that can resume (SB3 learners, the GA and CMA-ES) keeps one *resume
point* in ``RUN_DIR/resume/``:

==================  ===========================================================
file                holds
==================  ===========================================================
``rl-<N>.zip``      RL: SB3's model at N env steps (``model.save``: a pickle,
                    trusted-only, like ``sb3_model.zip``)
``ga-<G>.npz``      GA: the next generation's genomes, the hall of fame (genomes
                    and fitness); CMA-ES: the strategy's centroid, covariance and
                    its eigendecomposition (two dense N x N float64 matrices:
                    about 16 N^2 bytes), paths and step size
``state.json``      the commit record: which file, env steps, the learner's
                    counters (best win rate and its steps, remaining budgets,
                    wall time), for the GA also the Logbook and the RNG states
                    (Python ``random``, numpy ``RandomState`` and ``Generator``)
``scenario.toml``   the scenario's text, so a resume never depends on the file
                    the run was started from
==================  ===========================================================

The data file is written under a temp name and renamed into place; then
``state.json`` (atomically) names it; only then are older data files removed.
A kill at any point leaves the previous complete point readable. RL writes a
point after every evaluation budget and at the end, the GA after every
generation. On resume, curve rows past the point are dropped (no duplicates)
and the run continues to its original total (or to ``--steps``, which may
extend a finished run). No torch here: SB3 models are only asked to ``save``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.runs import (
    CURVE_CSV,
    CURVE_FIELDS,
    CURVE_JSONL,
    atomic_write_text,
    read_json,
    read_jsonl,
    to_json,
    write_csv_rows,
    write_json,
)
from cgfsim.sim.errors import CgfsimError

RESUME_DIR = "resume"
STATE_FILE = "state.json"
SCENARIO_FILE = "scenario.toml"
VERSION = 1
RL_ALGOS = ("ppo", "a2c", "maskable_ppo", "recurrent_ppo")
GA_ALGOS = ("ga", "cmaes")
#: config.json keys a resumed run takes over (the CLI refuses flags that contradict them).
CONFIG_KEYS = ("algo", "scenario", "opponent", "obs", "policy", "side", "seed", "eval_episodes")
#: state.json keys each kind of resume point must hold (beside version, kind, file, env_steps).
STATE_KEYS = {
    "rl": ("best_win_rate", "best_steps"),
    "ga": (
        *("generation", "executed", "wall_s", "eval_s"),
        *("best_win_rate", "best_steps", "rng", "logbook"),
    ),
}
#: The moving parts of DEAP's ``cma.Strategy`` (``BD = B * diagD`` is recomputed, not stored).
CMA_KEYS = ("centroid", "sigma", "pc", "ps", "C", "diagD", "B", "cond", "update_count")


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def save_point(
    run_dir: str | os.PathLike[str],
    name: str,
    write: Callable[[Path], None],
    state: dict[str, Any],
    scenario_text: str,
) -> Path:
    """Write ``resume/<name>`` with ``write(temp_path)``, then commit it in ``state.json``."""
    d = Path(run_dir) / RESUME_DIR
    d.mkdir(parents=True, exist_ok=True)
    if not (d / SCENARIO_FILE).exists():
        atomic_write_text(d / SCENARIO_FILE, scenario_text)
    tmp = d / f".tmp-{name}"  # keeps the suffix: model.save would otherwise add ".zip"
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, d / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_json(d / STATE_FILE, {"version": VERSION, "file": name, **state})
    for p in d.iterdir():  # older points and temp files a kill left behind
        if p.name not in (name, STATE_FILE, SCENARIO_FILE):
            p.unlink(missing_ok=True)
    return d / name


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """``model.save`` to a temp file beside ``path``, fsync, rename: never a torn zip."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        model.save(str(tmp))
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def truncate_curve(run_dir: str | os.PathLike[str], env_steps: int) -> list[dict[str, Any]]:
    """Keep the curve rows at or before ``env_steps`` (those of the resume point); returns them."""
    run_dir = Path(run_dir)
    rows = [r for r in read_jsonl(run_dir / CURVE_JSONL) if int(r["env_steps"]) <= env_steps]
    text = "".join(to_json(r, indent=None) + "\n" for r in rows)
    atomic_write_text(run_dir / CURVE_JSONL, text)
    extra = [k for r in rows for k in r if k not in CURVE_FIELDS]
    write_csv_rows(run_dir / CURVE_CSV, rows, list(CURVE_FIELDS) + list(dict.fromkeys(extra)))
    return rows


# ------------------------------------------------------------------ opening a run


@dataclass
class ResumePoint:
    """A run folder's last complete resume point, checked, and the total to train to."""

    run_dir: Path
    config: dict[str, Any]
    state: dict[str, Any]
    file: Path  # the model zip (RL) or the npz (GA)
    scenario_text: str
    total_steps: int

    @property
    def env_steps(self) -> int:
        return int(self.state["env_steps"])


def open_run(run_dir: str | os.PathLike[str], steps: int | None = None) -> ResumePoint:
    """Check ``run_dir`` can resume (one-line errors; nothing is written) and read its point.

    ``steps``: the new total (must exceed the env steps done); default the run's own
    total. A finished run resumes only with a larger ``steps`` (it is then extended).
    """
    d = Path(run_dir)
    where = f"--resume {d}"
    if not d.is_dir():
        raise CgfsimError(f"{where}: no such run folder")
    try:
        config = read_json(d / "config.json")
    except (OSError, ValueError):
        raise CgfsimError(f"{where}: not a run folder (no readable config.json)") from None
    keys = (*CONFIG_KEYS, "steps", "hparams")
    if (
        not isinstance(config, dict)
        or not all(k in config for k in keys)
        or not isinstance(config["hparams"], dict)
    ):
        raise CgfsimError(f"{where}: config.json is not a cgfsim train config")
    algo = config["algo"]
    if algo in ("bc", "dagger"):
        raise CgfsimError(
            f"{where}: {algo} runs cannot resume (they keep no resume point); start it again"
        )
    if algo not in (*RL_ALGOS, *GA_ALGOS):
        raise CgfsimError(f"{where}: unknown algo {algo!r} in config.json")
    if config.get("league") is not None:
        raise CgfsimError(f"{where}: a league run cannot resume (its snapshots are not saved)")
    rd = d / RESUME_DIR
    try:
        state = read_json(rd / STATE_FILE)
        text = (rd / SCENARIO_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError):
        raise CgfsimError(
            f"{where}: no resume point (killed before its first evaluation budget or "
            "generation, or made before --resume existed)"
        ) from None
    kind = "rl" if algo in RL_ALGOS else "ga"
    name = str(state.get("file", "")) if isinstance(state, dict) else ""
    file = rd / name
    if (
        not isinstance(state, dict)
        or state.get("version") != VERSION
        or state.get("kind") != kind
        or not isinstance(state.get("env_steps"), int)
        or not all(k in state for k in STATE_KEYS[kind])
        or Path(name).name != name
        or not file.is_file()
    ):
        raise CgfsimError(f"{where}: resume/{STATE_FILE} is not a {kind} resume point of cgfsim")
    done = int(state["env_steps"])
    finished = (d / "result.json").exists()
    if steps is None:
        if finished:
            raise CgfsimError(
                f"{where}: the run is finished ({done} env steps); give --steps larger than "
                f"{done} to extend it"
            )
        total = int(config["steps"])
    else:
        total = int(steps)
        if total <= done:
            raise CgfsimError(
                f"--steps {total}: the run has already trained on {done} env steps; give more "
                "to extend it (or drop --steps)"
            )
    return ResumePoint(d, config, state, file, text, total)


def check_flags(point: ResumePoint, given: dict[str, Any]) -> None:
    """Refuse flags that contradict the run's ``config.json`` (equal ones are fine)."""
    for key, value in given.items():
        have = point.config.get(key)
        if value is not None and value != have:
            flag = "--" + key.replace("_", "-")
            raise CgfsimError(
                f"{flag} {value}: the run in {point.run_dir} has {key} {have!r}; --resume takes "
                "the run's settings (only --steps may change, to extend it)"
            )


def resume_run(
    point: ResumePoint, progress: bool = True, tensorboard: bool = True
) -> dict[str, Any]:
    """Continue a run from ``point`` to ``point.total_steps``; returns the learner's result."""
    c = point.config
    (point.run_dir / "result.json").unlink(missing_ok=True)  # unfinished again until it ends
    rows = truncate_curve(point.run_dir, point.env_steps)
    state = {**point.state, **_best_past_point(point)}
    common: dict[str, Any] = dict(
        obs=c["obs"],
        policy=c["policy"],
        seed=int(c["seed"]),
        out_dir=point.run_dir,
        side=c["side"],
        hparams=dict(c["hparams"]),
        eval_episodes=int(c["eval_episodes"]),
        progress=progress,
        tensorboard=tensorboard,
        resume_point={**state, "file": str(point.file), "curve": rows},
    )
    if point.total_steps == int(c["steps"]):  # the budgets still to come, as planned
        common["eval_at"] = [int(b) for b in point.state.get("budgets", [])] or [point.total_steps]
    if c["algo"] in GA_ALGOS:
        from cgfsim.agents.ga import train_ga

        return train_ga(
            point.scenario_text, c["opponent"], steps=point.total_steps, method=c["algo"], **common
        )
    from cgfsim.agents.rl import train_rl

    return train_rl(
        c["algo"],
        point.scenario_text,
        c["opponent"],
        steps=point.total_steps - point.env_steps,
        resume=point.file,
        **common,
    )


def _best_past_point(point: ResumePoint) -> dict[str, Any]:
    """The best checkpoint's figures when it was saved after the point (a kill in between).

    ``best/`` is replaced before the next point is committed; the resumed run then
    keeps that checkpoint as its best (its curve row is dropped with the others).
    """
    from cgfsim.agents.checkpoints import read_spec

    try:
        meta = read_spec(point.run_dir / "best")[1]
    except (CgfsimError, OSError, ValueError):
        return {}
    n, win = meta.get("env_steps"), meta.get("win_rate")
    if not isinstance(n, int) or not isinstance(win, int | float) or n <= point.env_steps:
        return {}
    return {"best_win_rate": float(win), "best_steps": n}


# ------------------------------------------------------------------ GA state


def rng_state(rng: np.random.Generator, rstate: list[Any]) -> dict[str, Any]:
    """JSON of the GA's RNGs: numpy Generator, Python ``random`` and numpy ``RandomState``."""
    version, keys, gauss = rstate[0]
    name, mt, pos, has_gauss, cached = rstate[1]
    return {
        "generator": rng.bit_generator.state,
        "python": [version, list(keys), gauss],
        "numpy": [name, np.asarray(mt).tolist(), int(pos), int(has_gauss), float(cached)],
    }


def restore_rng(saved: dict[str, Any], rng: np.random.Generator, rstate: list[Any]) -> None:
    """Put :func:`rng_state`'s states back (``rng`` in place, ``rstate`` items replaced)."""
    rng.bit_generator.state = saved["generator"]
    version, keys, gauss = saved["python"]
    rstate[0] = (int(version), tuple(int(k) for k in keys), gauss)
    name, mt, pos, has_gauss, cached = saved["numpy"]
    rstate[1] = (str(name), np.asarray(mt, np.uint32), int(pos), int(has_gauss), float(cached))
    random.Random().setstate(rstate[0])  # a bad state fails here, not mid-run


def save_ga_point(
    run_dir: Path,
    scenario_text: str,
    population: list[Any],
    hof: Any,
    strategy: Any,
    state: dict[str, Any],
) -> None:
    """The GA's resume point after a generation (``state``: counters, logbook, RNG states)."""
    arrays: dict[str, np.ndarray] = {}
    if strategy is None:
        arrays["population"] = np.stack([np.asarray(p, np.float32) for p in population])
    else:
        arrays.update({f"cma_{k}": np.asarray(getattr(strategy, k)) for k in CMA_KEYS})
    if len(hof):
        arrays["hof"] = np.stack([np.asarray(p, np.float32) for p in hof])
        arrays["hof_fitness"] = np.array([p.fitness.values[0] for p in hof], np.float64)

    def write(path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    name = f"ga-{state['generation']}.npz"
    save_point(run_dir, name, write, {"kind": "ga", **state}, scenario_text)


def load_ga_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of a GA resume point (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise CgfsimError(f"{path}: not a GA resume point ({e})") from None


def restore_strategy(strategy: Any, arrays: dict[str, np.ndarray]) -> None:
    """Set a fresh ``cma.Strategy``'s moving parts to the saved ones."""
    for k in CMA_KEYS:
        v = arrays[f"cma_{k}"]
        setattr(strategy, k, v.item() if v.ndim == 0 else v)
    strategy.BD = strategy.B * strategy.diagD  # as cma.Strategy.update computes it


__all__ = [
    "RESUME_DIR",
    "ResumePoint",
    "check_flags",
    "open_run",
    "restore_rng",
    "restore_strategy",
    "resume_run",
    "rng_state",
    "save_ga_point",
    "save_model",
    "save_point",
    "truncate_curve",
]
