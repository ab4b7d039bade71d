"""Determinism: same seed, same trajectory, bit for bit; world i of a batch == a lone world.

Randomness is counter-based per world (key = seed + i, the episode counter, the
tick and the slot), so a world's trajectory must not depend on the batch size
or on when other worlds reset. Every per-world state array is compared after
every tick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from cgfsim.sim import doctrines as D
from cgfsim.sim.engine import Engine
from cgfsim.sim.scenario import Scenario, load_scenario
from tests.sim.helpers import STATE_FIELDS, snapshot

#: Derived per-world tables some engine versions keep; compared when present.
OPTIONAL_FIELDS = ("d2_r", "los_r", "engage_b", "engage_r", "has_target")


@cache
def scenario(name: str, max_ticks: int | None = None) -> Scenario:
    sc = load_scenario(name)
    return dataclasses.replace(sc, max_ticks=max_ticks) if max_ticks else sc


def fields(e: Engine) -> tuple[str, ...]:
    return STATE_FIELDS + tuple(f for f in OPTIONAL_FIELDS if hasattr(e, f))


def assert_worlds_equal(a: Engine, i: int, b: Engine, j: int, where: str) -> None:
    for k in fields(a):
        va, vb = getattr(a, k)[i], getattr(b, k)[j]
        assert va.dtype == vb.dtype and np.array_equal(va, vb), f"{k} differs {where}"


Policy = Callable[[Engine], np.ndarray]


def doctrine_policy(blue: str, red: str) -> Policy:
    bd, rd = D.get_doctrine(blue), D.get_doctrine(red)
    return lambda e: D.joint_actions(e, bd, rd)


def test_same_seed_and_actions_give_identical_trajectories() -> None:
    sc = scenario("skirmish")
    for combat in ("stochastic", "expected"):
        e1, e2 = Engine(sc, 8, 11, combat=combat), Engine(sc, 8, 11, combat=combat)
        rng = np.random.default_rng(0)
        policy = doctrine_policy("assault", "random")
        ends = 0
        for t in range(250):
            a = policy(e1)
            assert np.array_equal(a, policy(e2))
            # mix in random actions so that rarely chosen actions are covered too
            noise = rng.random(a.shape) < 0.2
            a = np.where(noise, rng.integers(0, e1.n_act[None, :], a.shape), a)
            r1, r2 = e1.step(a), e2.step(a)
            for f in ("rewards", "done", "terminated", "truncated", "outcome"):
                assert np.array_equal(getattr(r1, f), getattr(r2, f)), (f, t)
            s1, s2 = snapshot(e1), snapshot(e2)
            for k, v in s1.items():
                assert np.array_equal(v, s2[k]), (k, t)
            ends += int(r1.done.sum())
            e1.reset(r1.done)
            e2.reset(r2.done)
        assert ends > 0  # episodes did end and reset


def test_different_seeds_give_different_trajectories() -> None:
    sc = scenario("skirmish")
    policy = doctrine_policy("assault", "assault")
    runs = []
    for seed in (0, 1):
        e = Engine(sc, 4, seed)
        start = (e.y.copy(), e.x.copy())
        hits = []
        for _ in range(60):
            e.step(policy(e))
            hits.append(e.shot_hit.copy())
        runs.append((start, np.array(hits), e.hp.copy()))
    (s0, h0, hp0), (s1, h1, hp1) = runs
    assert not np.array_equal(s0[0], s1[0]) or not np.array_equal(s0[1], s1[1])
    assert not np.array_equal(h0, h1) and not np.array_equal(hp0, hp1)
    # and worlds within one batch differ from each other (keys s, s+1, ...)
    e = Engine(sc, 4, 0)
    assert len({(e.y[b].tobytes(), e.x[b].tobytes()) for b in range(4)}) == 4


def test_reset_with_seeds_restarts_like_a_new_engine() -> None:
    sc = scenario("skirmish")
    policy = doctrine_policy("assault", "flank")
    e = Engine(sc, 4, 3)
    for _ in range(30):
        e.step(policy(e))
    e.reset(seeds=100)
    fresh = Engine(sc, 4, 100)
    for t in range(40):
        for b in range(4):
            assert_worlds_equal(e, b, fresh, b, f"at tick {t}, world {b}")
        a = policy(e)
        e.step(a)
        fresh.step(a)
    # a masked reset with a seed list keys just those worlds
    e.reset(np.array([False, True, False, True]), seeds=[7, 9])
    assert e.key.tolist()[1::2] == [7, 9] and e.episode.tolist()[1::2] == [0, 0]
    lone = Engine(sc, 1, 9)
    assert_worlds_equal(e, 3, lone, 0, "after a seeded masked reset")


CASES = [
    pytest.param("duel", None, "stochastic", "assault", "random", id="duel-stochastic"),
    pytest.param("duel", None, "expected", "random", "assault", id="duel-expected"),
    pytest.param("skirmish", 90, "stochastic", "assault", "random", id="skirmish-stochastic"),
    pytest.param("skirmish", 90, "expected", "random", "random", id="skirmish-expected"),
    pytest.param("random_field", 60, "stochastic", "assault", "random", id="random_field"),
]
#: Worlds of the 64-batch checked against lone engines, and an offset sub-batch.
LONE_WORLDS = (0, 1, 2, 17, 42, 63)
SUB_START, SUB_B = 40, 12


@pytest.mark.parametrize(("name", "max_ticks", "combat", "blue", "red"), CASES)
def test_world_i_of_a_batch_equals_a_lone_world_seeded_s_plus_i(
    name: str, max_ticks: int | None, combat: str, blue: str, red: str
) -> None:
    sc = scenario(name, max_ticks)
    policy = doctrine_policy(blue, red)
    s, n_ticks = 1000, 300
    batch = Engine(sc, 64, s, combat=combat)
    lone = {i: Engine(sc, 1, s + i, combat=combat) for i in LONE_WORLDS}
    sub = Engine(sc, SUB_B, s + SUB_START, combat=combat)  # a batch of another size
    episodes = np.zeros(64, int)
    maps_seen: set[int] = set()
    for t in range(n_ticks):
        for i, e in lone.items():
            assert_worlds_equal(batch, i, e, 0, f"at tick {t}, world {i}")
        for j in range(SUB_B):
            assert_worlds_equal(batch, SUB_START + j, sub, j, f"at tick {t}, world {SUB_START + j}")
        a = policy(batch)
        r = batch.step(a)
        for i, e in lone.items():
            ai = policy(e)
            assert np.array_equal(ai[0], a[i]), f"doctrine actions differ at tick {t}, world {i}"
            ri = e.step(ai)
            assert np.array_equal(ri.rewards[0], r.rewards[i])
            assert ri.done[0] == r.done[i] and ri.outcome[0] == r.outcome[i]
            if ri.done[0]:
                e.reset()
        rs = sub.step(a[SUB_START : SUB_START + SUB_B])
        assert np.array_equal(rs.rewards, r.rewards[SUB_START : SUB_START + SUB_B])
        sub.reset(rs.done)
        maps_seen.update(batch.map_id.tolist())
        episodes += r.done
        batch.reset(r.done)
    assert episodes[list(LONE_WORLDS)].min() >= 2  # several episodes per compared world
    if sc.maps.shape[0] > 1:
        assert len(maps_seen) > 10  # random maps are drawn per episode


def test_negative_seeds_are_rejected_with_a_value_error() -> None:
    sc = scenario("duel")
    for seeds, b in ((-1, 1), ([1, -2], 2)):
        with pytest.raises(ValueError, match="seed"):
            Engine(sc, b, seeds)
