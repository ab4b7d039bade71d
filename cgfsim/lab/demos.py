"""Demonstrations for the lab's imitation approaches: recorded once, reused by every job.

A sweep's BC-MLP, BC-LSTM and BC-then-PPO jobs of one (scenario, seed) learn from
the same dataset: the demonstrator (the doctrine that does best against the
evaluation opponent) playing the sweep's side against that opponent on the
``demo``-split world keys of the seed (:func:`cgfsim.agents.demos.record_demos`),
never on training, validation or test worlds. The dataset is recorded by the first
job that needs it and reused by the others, in any process:

- its id is a hash of everything that makes it (scenario text, demonstrator,
  opponent, side, observation mode, seed, episode count, split rule, format), so
  a cached dataset is exactly the one a job would record;
- recording writes into a hidden temp folder renamed into place when complete
  (:func:`cgfsim.agents.demo_store.write_dataset`): a dataset in the cache is
  whole, and when two processes record it at once the first rename wins and the
  other adopts that dataset;
- an advisory lock per dataset (``fcntl.flock``, where the OS has it) makes the
  other jobs of a machine wait for the recording instead of repeating it.

The episode count is a function of the job alone (no matter which job records
first): a pilot of the demonstrator on the first 256 of those worlds gives the mean
episode length, and enough episodes are recorded for the train and validation
splits (80% + 10% of the episodes, by world key) to hold the demonstration steps the
sweep asks for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cgfsim.sim.errors import CgfsimError

#: Worlds the pilot plays to estimate the demonstrator's episode length.
PILOT_EPISODES = 256
#: Train + validation share of a recorded dataset (cgfsim.agents.demos.DEFAULT_FRACTIONS).
USABLE = 0.9
NAMESPACE = "lab"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # not on a POSIX system: atomic renames still keep datasets whole
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def mean_episode_length(
    scenario: Any, demonstrator: str, opponent: str, side: str, seed: int
) -> float:
    """The demonstrator's mean episode length on the first worlds it will be recorded on."""
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.sim.splits import key_base

    r = evaluate(
        demonstrator, scenario, opponent, PILOT_EPISODES, side=side, seed=key_base("demo", seed)
    )
    return float(r.mean_length)


def episodes_for(steps: int, mean_length: float) -> int:
    """Episodes whose train + validation splits should hold ``steps`` transitions."""
    return math.ceil(steps / (USABLE * max(mean_length, 1.0)) * 1.05) + 8


def dataset_key(
    scenario: Any,
    demonstrator: str,
    opponent: str,
    side: str,
    obs: str,
    seed: int,
    episodes: int,
) -> tuple[str, dict[str, Any]]:
    """``(dataset id, what makes the dataset)``: the id is a hash of the latter."""
    from cgfsim.agents.demo_store import FORMAT, VERSION
    from cgfsim.agents.demos import DEFAULT_FRACTIONS, engine_version

    ident = {
        "scenario_sha256": hashlib.sha256(scenario.text.encode("utf-8")).hexdigest(),
        "demonstrator": demonstrator,
        "opponent": opponent,
        "side": side,
        "obs": obs,
        "seed": int(seed),
        "key_split": "demo",
        "episodes": int(episodes),
        "epsilon": 0.0,
        "fractions": list(DEFAULT_FRACTIONS),
        "split_seed": 0,
        "format": FORMAT,
        "version": VERSION,
        "engine_version": engine_version(),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() else "_" for c in scenario.name.lower())
    return f"{NAMESPACE}/{slug}-{demonstrator}-vs-{opponent}-s{seed}-{digest}-v0", ident


def usable_steps(info: dict[str, Any]) -> int:
    """Transitions in a dataset's train and validation splits (what BC learns from)."""
    sizes = info.get("splits", {})
    return int(sum(sizes.get(k, {}).get("transitions", 0) for k in ("train", "validation")))


def _open(dataset_id: str, root: Path) -> dict[str, Any] | None:
    """The dataset's info if a whole dataset of that id is in the cache, else ``None``."""
    from cgfsim.agents.demo_store import DatasetError
    from cgfsim.agents.demos import dataset_info

    if not (root / dataset_id).exists():
        return None
    try:
        return dataset_info(dataset_id, root)
    except DatasetError:
        return None


def _record_or_adopt(
    scenario: Any,
    demonstrator: str,
    opponent: str,
    side: str,
    obs: str,
    seed: int,
    episodes: int,
    dataset_id: str,
    root: Path,
) -> tuple[dict[str, Any], bool]:
    """``(info, recorded here)``: record the dataset, or adopt the one another process
    renamed into place first."""
    from cgfsim.agents.demo_store import DatasetError
    from cgfsim.agents.demos import record_demos

    with _locked(root / ".locks" / (dataset_id.replace("/", "__") + ".lock")):
        info = _open(dataset_id, root)
        if info is not None:
            return info, False
        try:
            record_demos(
                scenario,
                demonstrator,
                opponent=opponent,
                episodes=episodes,
                obs=obs,
                side=side,
                seed=seed,
                dataset_id=dataset_id,
                root=root,
                progress=False,
            )
        except (DatasetError, OSError) as e:  # lost the race: the winner's dataset is whole
            info = _open(dataset_id, root)
            if info is None:
                raise CgfsimError(f"recording demonstrations {dataset_id}: {e}") from e
            return info, False
        info = _open(dataset_id, root)
        if info is None:
            raise CgfsimError(f"demonstrations {dataset_id} were recorded but do not open")
        return info, True


def cached_demos(
    scenario: Any,
    demonstrator: str,
    opponent: str,
    side: str,
    seed: int,
    steps: int,
    cache: str | os.PathLike[str],
    obs: str = "vector",
) -> dict[str, Any]:
    """A dataset of ``demonstrator`` whose train + validation splits hold at least ``steps``
    transitions, from the cache or recorded into it (module doc).

    Returns ``{"dataset_id", "demonstrator", "path", "episodes", "transitions", "usable_steps",
    "recording_env_steps", "recording_wall_s", "demonstrator_win_rate", "recorded",
    "wait_s"}``; ``recorded`` says whether this call recorded it, ``wait_s`` the wall
    time this call spent obtaining it (recording, or waiting for another job's).
    """
    root = Path(cache).absolute()
    t0 = time.perf_counter()
    episodes = episodes_for(
        steps, mean_episode_length(scenario, demonstrator, opponent, side, seed)
    )
    for _ in range(4):
        dataset_id, _ident = dataset_key(
            scenario, demonstrator, opponent, side, obs, seed, episodes
        )
        info, recorded = _record_or_adopt(
            scenario, demonstrator, opponent, side, obs, seed, episodes, dataset_id, root
        )
        if usable_steps(info) >= steps:
            break
        episodes = math.ceil(episodes * 1.3)  # the pilot underestimated: a larger one
    else:
        raise CgfsimError(
            f"demonstrations {dataset_id}: {usable_steps(info)} usable steps, fewer than {steps}"
        )
    return describe(info, demonstrator, recorded, time.perf_counter() - t0)


def describe(
    info: dict[str, Any], demonstrator: str, recorded: bool, wait_s: float
) -> dict[str, Any]:
    """What a job reports about the dataset it learnt from (``dataset_info`` -> result)."""
    return {
        "dataset_id": info["dataset_id"],
        "demonstrator": demonstrator,
        "path": info["path"],
        "episodes": int(info["episodes"]),
        "transitions": int(info["transitions"]),
        "usable_steps": usable_steps(info),
        "recording_env_steps": int(info["recording_env_steps"]),
        "recording_wall_s": info.get("wall_s"),
        "demonstrator_win_rate": info.get("demonstrator_win_rate"),
        "recorded": recorded,
        "wait_s": round(wait_s, 3),
    }


__all__ = [
    "cached_demos",
    "dataset_key",
    "describe",
    "episodes_for",
    "mean_episode_length",
    "usable_steps",
]
