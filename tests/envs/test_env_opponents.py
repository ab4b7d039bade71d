"""Per-world opponents: doctrines on world subsets, routing per world, outcomes per member."""

from __future__ import annotations

import numpy as np
import pytest

from cgfsim.envs._common import get_scenario
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.opponents import (
    DoctrinePlayer,
    PerWorldOpponent,
    WorldSubset,
    per_world_attributes,
)
from cgfsim.sim.doctrines import DOCTRINES, get_doctrine, joint_actions
from cgfsim.sim.engine import Engine


def test_per_world_attributes_are_state_not_tables() -> None:
    # Duel has 4 unit slots: with B = 4, static (U,) tables also have 4 rows.
    e = Engine(get_scenario("duel"), 4, seed=0)
    names = per_world_attributes(e)
    assert {"alive", "hp", "y", "x", "tick", "key", "engage_b", "map_id"} <= names
    assert not {"max_hp", "utype", "present", "n_act", "speed"} & names


@pytest.mark.parametrize("scenario", ["duel", "skirmish", "random_field"])
def test_doctrines_on_a_subset_equal_their_rows_of_the_batch(scenario: str) -> None:
    """Doctrines are per-world: run on a view of some worlds they give those worlds' actions."""
    B = 23
    e = Engine(get_scenario(scenario), B, seed=7)
    rng = np.random.default_rng(0)
    checked = 0
    for t in range(70 if scenario == "duel" else 40):
        for name, doctrine in DOCTRINES.items():
            side = int(rng.integers(2))
            idx = np.sort(rng.choice(B, size=int(rng.integers(1, B)), replace=False))
            full = doctrine(e, side)[idx]
            sub = doctrine(WorldSubset(e, idx), side)  # type: ignore[arg-type]
            np.testing.assert_array_equal(sub, full, err_msg=f"{name} side {side} tick {t}")
            checked += 1
        res = e.step(joint_actions(e, get_doctrine("random"), get_doctrine("flank")))
        if res.done.any():
            e.reset(res.done)
    assert checked >= 300


class FixedPool:
    """An opponent pool that hands out members in a fixed rotation and keeps every record."""

    def __init__(self, names: list[str]) -> None:
        self.players = [DoctrinePlayer(n) for n in names]
        self.next = 0
        self.drawn: list[int] = []
        self.records: list[tuple[int, int]] = []

    def sample(self, n: int) -> np.ndarray:
        out = (self.next + np.arange(n)) % len(self.players)
        self.next += n
        self.drawn += out.tolist()
        return out

    def record(self, members: np.ndarray, outcomes: np.ndarray) -> None:
        self.records += list(zip(members.tolist(), outcomes.tolist(), strict=True))

    def player(self, member: int) -> DoctrinePlayer:
        return self.players[member]


def test_each_world_plays_its_own_opponent_drawn_per_episode() -> None:
    names = ["assault", "hold", "random"]
    pool = FixedPool(names)
    router = PerWorldOpponent(pool)
    B = 12
    env = BatchedCommanderEnv("duel", B, opponent=router, side="red")
    env.reset(seed=3)
    rng = np.random.default_rng(1)
    episodes = 0
    outcomes: dict[int, list[int]] = {}
    for _ in range(400):
        e = env.engine
        # what each world's assigned doctrine would do, computed on the whole batch
        before = router.assignment.copy()
        starting = e.tick == 0
        acts = router(e, 0)
        for i in range(B):
            if not starting[i]:
                assert router.assignment[i] == before[i]  # no change mid-episode
            expected = get_doctrine(names[router.assignment[i]])(e, 0)[i]
            np.testing.assert_array_equal(acts[i], expected)
        assignment = router.assignment.copy()
        # the env calls the router itself; same state, same actions (doctrines are pure)
        _, _, term, trunc, infos = env.step(rng.integers(0, env.n_actions, (B, env.n_own)))
        for i in np.flatnonzero(term | trunc).tolist():
            episodes += 1
            code = int(infos[i]["outcome"])  # 1 win, 0 draw, -1 loss
            outcomes.setdefault(int(assignment[i]), []).append(code)
    assert episodes >= 3 * B
    router(env.engine, 0)  # worlds reset by the last step draw at their first call
    # one draw per episode started: the finished ones plus the B running now
    assert len(pool.drawn) == episodes + B
    # every finished episode was recorded against the member that world played, once
    rec: dict[int, list[int]] = {}
    for m, o in pool.records:
        rec.setdefault(m, []).append(o)
    assert rec == outcomes


def test_router_needs_no_reset_hook_and_runs_in_evaluation_loops() -> None:
    """Worlds frozen after their episode (no auto-reset) keep their opponent; no double record."""
    pool = FixedPool(["assault", "random"])
    router = PerWorldOpponent(pool)
    env = BatchedCommanderEnv("duel", 6, opponent=router, autoreset=False)
    env.reset(seed=0)
    done = np.zeros(6, bool)
    for _ in range(80):
        _, _, term, trunc, _ = env.step(np.zeros((6, env.n_own), np.int64))
        done |= term | trunc
    assert done.all()
    assert len(pool.records) == 6 and len(pool.drawn) == 6
