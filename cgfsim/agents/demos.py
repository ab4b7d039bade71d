"""Demonstration datasets (the DL-CGF path): record, split, inspect, verify, build from replays.

::

    info = record_demos("duel", "assault", opponent="random", episodes=2000,
                        dataset_id="cgfsim/duel-assault-v0")
    ds = minari.load_dataset("cgfsim/duel-assault-v0")     # plain Minari, no cgfsim loader
    env = ds.recover_environment()                           # cgfsim/Duel-v0 vs random
    verify_dataset("cgfsim/duel-assault-v0", sample=32)      # demo_regen: bit for bit
    split_dataset("cgfsim/duel-assault-v0", (0.7, 0.15, 0.15), seed=1)
    train = load_split("cgfsim/duel-assault-v0", "train")   # observations, labels, masks

Recording runs thousands of worlds per call on the batched engine (see
:mod:`cgfsim.agents.demo_collect`), on the ``demo`` split of world keys
(:func:`cgfsim.sim.splits.world_keys`), so demonstrations never share a world
with training, validation or test worlds. The demonstrator is a doctrine or a
checkpoint (copied into the dataset folder, so the dataset stays regenerable),
optionally mixed with epsilon-random valid actions to widen state coverage; the
labels are then the demonstrator's own choices, stored beside the executed
actions. Storage is described in :mod:`cgfsim.agents.demo_store`.

Splits are by world key, so by episode (never by step): no episode and no world
key lands in two of train / validation / test. They live in the dataset's
metadata (and its description), so every learner uses the same ones.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents import demo_collect as DC
from cgfsim.agents.demo_store import (
    FORMAT,
    VERSION,
    DatasetError,
    DemoDataset,
    check_dataset_id,
    datasets_root,
    env_spec,
    open_dataset,
    sha256_text,
    write_dataset,
)
from cgfsim.sim.errors import CgfsimError

__all__ = [
    "SPLIT_NAMES",
    "DatasetError",
    "Demo",
    "dataset_info",
    "load_split",
    "make_splits",
    "open_dataset",
    "record_demos",
    "split_dataset",
]

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEMONSTRATOR_DIR = "demonstrator"


def engine_version() -> str:
    try:
        return importlib.metadata.version("cgfsim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- checks


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three non-negative fractions (train, validation, test) summing to 1."""
    try:
        f = tuple(float(x) for x in fractions)
    except (TypeError, ValueError):
        raise CgfsimError(f"split fractions must be numbers, got {fractions!r}") from None
    if len(f) != 3 or any(not math.isfinite(x) or x < 0 for x in f):
        raise CgfsimError(
            f"split fractions must be three numbers >= 0 (train, validation, test), got {f}"
        )
    if abs(sum(f) - 1.0) > 1e-6:
        raise CgfsimError(f"split fractions must sum to 1, got {f} (sum {sum(f):g})")
    return f[0], f[1], f[2]


def _side(side: str | int) -> tuple[int, str]:
    if side in ("blue", 0):
        return 0, "blue"
    if side in ("red", 1):
        return 1, "red"
    raise CgfsimError(f"side must be 'blue' or 'red', got {side!r}")


def _doctrine(name: str, what: str) -> str:
    from cgfsim.sim.doctrines import ALIASES, DOCTRINES

    key = ALIASES.get(str(name), str(name))
    if key not in DOCTRINES:
        raise CgfsimError(
            f"{what} {name!r} is not a doctrine; expected one of {', '.join(DOCTRINES)}"
        )
    return key


@dataclass
class _Demonstrator:
    """A resolved demonstrator: how to describe, copy and run it."""

    info: dict[str, Any]
    make_act: Callable[[Any], DC.ActFn]
    masked: bool
    spec: Any = None
    folder: Path | None = None


def _demonstrator(demonstrator: str | os.PathLike[str], obs: str) -> _Demonstrator:
    """A doctrine (torch-free) or a checkpoint folder, acting greedily as evaluation does."""
    from cgfsim.agents.evaluation import _doctrine_act, _resolve_policy
    from cgfsim.sim.doctrines import ALIASES, DOCTRINES

    name = ALIASES.get(str(demonstrator), str(demonstrator))
    if name in DOCTRINES:
        return _Demonstrator(
            {"kind": "doctrine", "name": name}, lambda env: _doctrine_act(name, env), False
        )
    from cgfsim.agents.checkpoints import WEIGHTS, read_spec

    if not Path(demonstrator).exists():
        raise CgfsimError(
            f"unknown demonstrator {str(demonstrator)!r}: not a doctrine "
            f"({', '.join(DOCTRINES)}) nor a checkpoint folder"
        )
    pol_spec, meta = read_spec(demonstrator)
    if pol_spec.obs_mode != obs:
        raise CgfsimError(
            f"demonstrator {demonstrator} acts on {pol_spec.obs_mode} observations, "
            f"not {obs} (use obs={pol_spec.obs_mode!r})"
        )
    _, make_act, spec, _, masked = _resolve_policy(str(demonstrator), True, 0, None)
    folder = Path(demonstrator)
    folder = folder.parent if folder.is_file() else folder
    info = {
        "kind": "checkpoint",
        "name": str(demonstrator),
        "weights_sha256": hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest(),
        "core": pol_spec.core,
        "action_mode": "greedy over valid actions" if masked else "greedy",
        "algo": meta.get("algo"),
    }
    return _Demonstrator(info, make_act, masked, spec, folder)


# --------------------------------------------------------------------------- splits


def make_splits(
    keys: Sequence[int] | np.ndarray,
    lengths: Sequence[int] | np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """Episode ids per split, drawn by world key (a seeded permutation cut by fractions).

    ``lengths`` (transitions per episode) give each split's size in transitions.
    """
    f = check_fractions(fractions)
    keys = np.asarray(keys, np.int64)
    lengths = np.asarray(lengths, np.int64)
    uniq = np.unique(keys)
    perm = np.random.default_rng(int(seed)).permutation(uniq)
    cuts = np.round(np.cumsum(f) * len(uniq)).astype(np.int64)
    groups = np.split(perm, cuts[:2])
    out: dict[str, Any] = {"fractions": list(f), "seed": int(seed), "by": "world_key"}
    sizes = {}
    for name, g in zip(SPLIT_NAMES, groups, strict=True):
        ids = np.flatnonzero(np.isin(keys, g))
        out[name] = ids.tolist()
        sizes[name] = {"episodes": int(ids.size), "transitions": int(lengths[ids].sum())}
    out["sizes"] = sizes
    return out


def _describe(block: dict[str, Any]) -> str:
    s = block["splits"]
    fr = "/".join(f"{x:g}" for x in s["fractions"])
    d = block["demonstrator"]
    who = d["name"] if d["kind"] != "checkpoint" else f"checkpoint {d['name']}"
    wr = block.get("demonstrator_win_rate")
    return (
        f"cgfsim demonstrations on {block['scenario']}: {who} ({block['side']}, "
        f"{block['obs']} observations) vs {block['opponent']}; {block['episodes']} episodes, "
        f"{block['transitions']} transitions"
        + (f"; demonstrator win rate {wr:.3f}" if wr is not None else "")
        + f". Split by world key (seed {s['seed']}, fractions {fr}): train "
        f"{len(s['train'])}, validation {len(s['validation'])}, test {len(s['test'])} episodes."
    )


def split_dataset(
    dataset: str | os.PathLike[str] | DemoDataset,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Re-split a dataset by episode; stored in its metadata and description (atomically)."""
    f = check_fractions(fractions)
    ds = open_dataset(dataset, root)
    table = ds.episode_table()
    block = dict(ds.meta)
    block["splits"] = make_splits(table["world_key"], table["length"], f, seed)
    ds.update_meta(block, _describe(block))
    return block["splits"]


# --------------------------------------------------------------------------- recording


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="ep",
        dynamic_ncols=True,
        disable=not (enabled and sys.stderr.isatty()),
    )


def default_dataset_id(
    scenario: str, demonstrator: str, opponent: str, obs: str, episodes: int, seed: int
) -> str:
    from cgfsim.agents.runs import _slug

    who = _slug(Path(str(demonstrator)).name).lower()
    return f"cgfsim/{scenario.lower()}-{who}-vs-{opponent}-{obs}-{episodes}ep-s{seed}-v0"


def record_demos(
    scenario: Any,
    demonstrator: str | os.PathLike[str] = "assault",
    opponent: str = "random",
    episodes: int = 1000,
    obs: str = "vector",
    side: str = "blue",
    seed: int = 0,
    epsilon: float = 0.0,
    episodes_per_world: int = 1,
    n_envs: int | None = None,
    dataset_id: str | None = None,
    root: str | os.PathLike[str] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    split_seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Record ``episodes`` demonstrations into a new Minari dataset; returns its info.

    World i of the recording has key ``world_keys("demo", seed)[i]`` and plays
    ``episodes_per_world`` episodes (the last world fewer). Every argument is checked
    before anything runs or is created. The info dict holds ``dataset_id``, ``path``,
    ``episodes``, ``transitions``, ``demonstrator_win_rate``, ``recording_env_steps``,
    ``wall_s`` and ``transitions_per_s``.
    """
    from cgfsim.envs._common import get_scenario
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.envs.observations import OBS_MODES
    from cgfsim.sim.splits import world_keys

    sc = get_scenario(scenario)
    side_i, side_name = _side(side)
    if obs not in OBS_MODES:
        raise CgfsimError(f"unknown observation mode {obs!r}; expected one of {OBS_MODES}")
    episodes, episodes_per_world = int(episodes), int(episodes_per_world)
    if episodes < 1 or episodes_per_world < 1:
        raise CgfsimError("episodes and episodes per world must be >= 1")
    if not 0.0 <= float(epsilon) <= 1.0:
        raise CgfsimError(f"epsilon must be in [0, 1], got {epsilon}")
    if not sc.text:
        raise CgfsimError(f"scenario {sc.name!r} has no TOML text to store; load it from a file")
    frac = check_fractions(fractions)
    opp = _doctrine(opponent, "opponent")
    demo = _demonstrator(demonstrator, obs)
    dataset_id = dataset_id or default_dataset_id(
        sc.name, str(demonstrator), opp, obs, episodes, seed
    )
    check_dataset_id(dataset_id)
    if (datasets_root(root) / dataset_id).exists():
        raise DatasetError(f"dataset {dataset_id} already exists under {datasets_root(root)}")
    quotas = DC.world_quotas(episodes, episodes_per_world)
    keys = world_keys("demo", seed, len(quotas)).astype(np.int64)
    probe = BatchedCommanderEnv(sc, 1, side=side_i, opponent=opp, obs=obs, autoreset=False)
    if demo.spec is not None:
        from cgfsim.agents.checkpoints import check_compatible

        check_compatible(
            demo.spec,
            probe.observation_space,
            probe.action_space,
            where=f"demonstrator {demonstrator}",
        )
    per_world = DC.buffer_bytes(probe.observer.shape, sc.max_ticks, probe.n_own, probe.n_actions)
    size = DC.chunk_worlds(len(keys), per_world, n_envs)
    behaviour = DC.epsilon_behaviour(float(epsilon))
    bar = _progress(episodes, f"record {sc.name}", progress)
    timing = {"collect_s": 0.0}

    def chunks() -> Iterator[list[DC.Episode]]:
        for sl in DC.iter_chunks(len(keys), size):
            t0 = time.perf_counter()
            env = BatchedCommanderEnv(
                sc, sl.stop - sl.start, side=side_i, opponent=opp, obs=obs, autoreset=False
            )
            eps = DC.collect_episodes(
                env,
                demo.make_act(env),
                keys[sl],
                quotas[sl],
                behaviour,
                demo.masked,
                on_episode=lambda _ep: bar.update(1),
            )
            timing["collect_s"] += time.perf_counter() - t0
            yield eps

    def finish(eps: list[DC.Episode]) -> tuple[dict[str, Any], str]:
        s = DC.summary(eps)
        wall = time.perf_counter() - t_start
        block = {
            "format": FORMAT,
            "version": VERSION,
            "source": "recording",
            "scenario": sc.name,
            "scenario_text": sc.text,
            "scenario_sha256": sha256_text(sc.text),
            "combat": sc.combat,
            "engine_version": engine_version(),
            "side": side_name,
            "obs": obs,
            "obs_shape": list(probe.observer.shape),
            "n_units": probe.n_own,
            "n_actions": probe.n_actions,
            "demonstrator": demo.info,
            "opponent": opp,
            "epsilon": float(epsilon),
            "seed": int(seed),
            "key_split": "demo",
            "episodes_per_world": episodes_per_world,
            "episodes": s["episodes"],
            "transitions": s["transitions"],
            "demonstrator_record": {k: s[k] for k in ("wins", "draws", "losses")},
            "demonstrator_win_rate": s["win_rate"],
            "recording": {
                "env_steps": s["transitions"],
                "collect_s": round(timing["collect_s"], 3),
                "wall_s": round(wall, 3),
                "transitions_per_s": round(s["transitions"] / max(wall, 1e-9), 1),
                "n_envs": size,
            },
            "splits": make_splits(
                [ep.key for ep in eps], [len(ep) for ep in eps], frac, split_seed
            ),
        }
        return block, _describe(block)

    t_start = time.perf_counter()
    try:
        path = write_dataset(
            dataset_id,
            chunks(),
            probe.observation_space,
            probe.action_space,
            env_spec(sc, side_name, opp, obs),
            f"{demo.info['name']} (epsilon {float(epsilon):g})",
            finish,
            root,
            with_labels=behaviour is not None,
            files={DEMONSTRATOR_DIR: demo.folder} if demo.folder is not None else None,
        )
    finally:
        bar.close()
    return dataset_info(path)


# --------------------------------------------------------------------------- info


def dataset_info(
    dataset: str | os.PathLike[str] | DemoDataset, root: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """What a dataset holds: counts (its data volume), provenance, splits (sizes)."""
    ds = open_dataset(dataset, root)
    b = ds.meta
    splits = b.get("splits", {}).get("sizes", {})
    info = {k: v for k, v in b.items() if k not in ("scenario_text", "splits")}
    rec = b.get("recording", {})
    return {
        **info,
        "dataset_id": ds.dataset_id,
        "path": str(ds.path),
        "episodes": ds.total_episodes,
        "transitions": ds.total_steps,
        "recording_env_steps": int(rec.get("env_steps", 0)),
        "wall_s": rec.get("wall_s"),
        "transitions_per_s": rec.get("transitions_per_s"),
        "size_mb": ds.minari.storage.metadata.get("dataset_size"),
        "split_fractions": b.get("splits", {}).get("fractions"),
        "split_seed": b.get("splits", {}).get("seed"),
        "splits": splits,
        "env_id": ds.minari.env_spec.id if ds.minari.env_spec is not None else None,
    }


# --------------------------------------------------------------------------- reading


@dataclass
class Demo:
    """One episode as a learner sees it: T observations with their labels and masks."""

    obs: np.ndarray  # (T, *obs_shape) float32 (the terminal observation dropped)
    labels: np.ndarray  # (T, n_units) int64: the expert's actions
    masks: np.ndarray  # (T, n_units, n_actions) bool

    def __len__(self) -> int:
        return len(self.labels)


def load_split(
    dataset: str | os.PathLike[str] | DemoDataset,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    max_episodes: int | None = None,
) -> list[Demo]:
    """The episodes of one split (``train``, ``validation``, ``test`` or ``all``)."""
    ds = open_dataset(dataset, root)
    if split == "all":
        ids = list(range(ds.total_episodes))
    elif split in SPLIT_NAMES:
        ids = list(ds.meta.get("splits", {}).get(split, []))
    else:
        raise CgfsimError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")
    if not ids:
        raise DatasetError(
            f"dataset {ds.ref}: the {split} split is empty (re-split it with other fractions: "
            "cgfsim demos split)"
        )
    if max_episodes is not None:
        ids = ids[: int(max_episodes)]
    n_units, n_actions = int(ds.meta["n_units"]), int(ds.meta["n_actions"])
    out = []
    for ep in ds.episodes(ids):
        T = len(ep.rewards)
        labels = ep.infos.get("expert_action")
        labels = np.asarray(ep.actions if labels is None else labels[:T], np.int64)
        masks = np.asarray(ep.infos["action_mask"][:T], bool).reshape(T, n_units, n_actions)
        obs = np.asarray(ep.observations[:T], np.float32)
        out.append(Demo(obs, labels, masks))
    return out
