"""World-key and map-pool splits: disjoint by construction."""

from __future__ import annotations

import numpy as np
import pytest

from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.scenario import load_scenario
from cgfsim.sim.splits import SPLITS, describe_key, key_base, map_pool, world_keys


def test_keys_disjoint_across_splits_and_seeds() -> None:
    seen: set[int] = set()
    for split in SPLITS:
        for seed in (0, 1, 2, 2**24 - 1):
            k = world_keys(split, seed, 1000)
            assert k.dtype == np.uint64 and len(set(k.tolist())) == 1000
            assert not seen & set(k.tolist())
            seen |= set(k.tolist())
            assert describe_key(int(k[17])) == (split, seed, 17)


def test_keys_fit_the_engine_seed_range() -> None:
    k = world_keys("demo", 2**24 - 1, 4, offset=2**36 - 4)
    assert int(k.max()) < 2**63
    Engine(load_scenario("duel"), 4, seed=k)  # accepted as per-world seeds


@pytest.mark.parametrize(
    "call",
    [
        lambda: key_base("holdout", 0),
        lambda: key_base("train", -1),
        lambda: key_base("train", 2**24),
        lambda: world_keys("test", 0, 2, offset=2**36 - 1),
        lambda: describe_key(2**63 + 5),
    ],
)
def test_bad_split_arguments(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CgfsimError):
        call()


def test_map_pools_are_held_out() -> None:
    sc = load_scenario("random_field")
    test = map_pool(sc, "test")
    val = map_pool(sc, "validation")
    train_maps = {m.tobytes() for m in sc.maps}
    assert len(test.maps) > 0 and len(val.maps) > 0
    assert not train_maps & {m.tobytes() for m in test.maps}
    assert not {m.tobytes() for m in val.maps} & {m.tobytes() for m in test.maps}
    assert test.maps.shape[1:] == sc.maps.shape[1:] and test.meta["map_split"] == "test"
    assert map_pool(sc, "test").maps.tobytes() == test.maps.tobytes()  # reproducible
    e = Engine(test, 8, seed=world_keys("test", 0, 8))
    e.step(np.zeros((8, e.U), np.int64))
    fixed = load_scenario("duel")
    assert map_pool(fixed, "test") is fixed
