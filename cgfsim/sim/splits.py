"""World keys and map pools as the experiment's data split: train, validation, test, demo.

A world's trajectory depends only on its key (and episode counter), so keys
*are* the data. Every layer draws keys from here, so the splits are disjoint
by construction, also across training seeds::

    key = split << 60 | seed << 36 | index        (split 0..3, seed < 2**24, index < 2**36)

=============  =====  ==========================================================
split          code   used for
=============  =====  ==========================================================
``train``      0      worlds a learner trains on (RL rollouts, GA fitness)
``validation`` 1      checkpoint selection, early stopping, tuning
``test``       2      what is reported
``demo``       3      worlds demonstrations are recorded on
=============  =====  ==========================================================

Random-map scenarios split their terrain too: the scenario's own pool (its
``map.random.seed``) is the training pool; :func:`map_pool` draws a validation
or test pool of the same generator settings from a seed derived from the
split, and drops any map identical to a training map, so a "held-out map" has
never been seen in training.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cgfsim.sim.errors import CgfsimError

SPLITS = ("train", "validation", "test", "demo")
SPLIT_BITS, SEED_BITS, INDEX_BITS = 60, 24, 36
MAX_SEED = 2**SEED_BITS - 1
MAX_INDEX = 2**INDEX_BITS - 1


def split_code(split: str) -> int:
    try:
        return SPLITS.index(split)
    except ValueError:
        raise CgfsimError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}") from None


def key_base(split: str, seed: int = 0) -> int:
    """The first key of ``split`` for training seed ``seed``; worlds take base + 0, 1, ..."""
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise CgfsimError(f"seed must be in 0..{MAX_SEED} to index a key split, got {seed}")
    return (split_code(split) << SPLIT_BITS) | (seed << INDEX_BITS)


def world_keys(split: str, seed: int = 0, n: int = 1, offset: int = 0) -> np.ndarray:
    """``n`` keys of ``split`` for ``seed``, starting at world index ``offset``: uint64 (n,)."""
    n, offset = int(n), int(offset)
    if n < 0 or offset < 0 or offset + n - 1 > MAX_INDEX:
        raise CgfsimError(f"world indices {offset}..{offset + n - 1} out of 0..{MAX_INDEX}")
    return (
        np.uint64(key_base(split, seed)) + np.arange(offset, offset + n, dtype=np.uint64)
    ).astype(np.uint64)


def describe_key(key: int) -> tuple[str, int, int]:
    """``(split, seed, index)`` of a key made by :func:`world_keys`."""
    key = int(key)
    code = key >> SPLIT_BITS
    if not 0 <= code < len(SPLITS) or key < 0:
        raise CgfsimError(f"key {key} is not in any split")
    return SPLITS[code], (key >> INDEX_BITS) & MAX_SEED, key & MAX_INDEX


def _pool_seed(base_seed: int, split: str) -> int:
    """A map-generator seed for ``split``'s pool, far from the training pool's seed."""
    if split == "train":
        return int(base_seed)
    # splitmix64 of (seed, split): distinct, reproducible, unrelated to nearby user seeds.
    z = (int(base_seed) + 0x9E3779B97F4A7C15 * (split_code(split) + 1)) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return (z ^ (z >> 31)) & (2**63 - 1)


def map_pool(scenario: object, split: str = "test") -> object:
    """The scenario with its random-map pool replaced by ``split``'s held-out pool.

    Fixed-map scenarios are returned unchanged (they have one map). The held-out
    pool has the training pool's size and generator settings and no map equal
    to a training map.
    """
    import tomllib

    from cgfsim.sim.scenario import Scenario, scenario_from_dict

    assert isinstance(scenario, Scenario)
    cfg = scenario.random_map
    if cfg is None or split == "train":
        return scenario
    split_code(split)
    if not scenario.text:
        raise CgfsimError(f"{scenario.source}: no scenario text to rebuild a {split} map pool from")
    data = tomllib.loads(scenario.text)
    data["map"]["random"]["seed"] = _pool_seed(int(cfg.get("seed", 0)), split)
    # Through the loader, so every placement check runs on the new maps too.
    held = scenario_from_dict(data, f"{scenario.source} [{split} maps]")
    train = {m.tobytes() for m in scenario.maps}
    keep = np.array([m.tobytes() not in train for m in held.maps])
    if not keep.any():
        raise CgfsimError(f"{scenario.source}: no {split} map differs from the training maps")
    return dataclasses.replace(
        scenario,
        maps=held.maps[keep],
        random_map=held.random_map,
        meta={**scenario.meta, "map_split": split},
    )
