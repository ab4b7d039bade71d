"""Evaluation counts the first episodes of every world and gets every number right."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.evaluation import EvalResult, evaluate, policy_opponent, wilson_interval
from cgfsim.agents.networks import PolicySpec, build_policy
from cgfsim.envs.observations import observation_shape
from cgfsim.sim import actions as A
from cgfsim.sim import units as U
from cgfsim.sim.doctrines import get_doctrine
from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.scenario import load_scenario, load_scenario_text

DUEL_VECTOR = observation_shape("duel", "vector")

torch.set_num_threads(1)

# 1 v 1 infantry, adjacent, open ground, expected-value (deterministic) combat.
DUEL_1V1 = """
[scenario]
name = "Adjacent"
description = "two infantry next to each other"
combat = "expected"

[map]
ascii = '''
....
....
....
'''

[forces.blue]
slots = 1
units = [{ type = "infantry", at = [[1, 2]] }]

[forces.red]
slots = 1
units = [{ type = "infantry", at = [[1, 1]] }]

[victory]
max_ticks = 20
annihilation = true
"""


def test_wilson_interval_matches_textbook_values() -> None:
    # 5/10: the classic Wilson 95% interval (0.2366, 0.7634); 0/10: (0, 0.2775).
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_hand_computed_deterministic_kill() -> None:
    """Blue fires every tick at an adjacent red that stays: kill tick and return by hand."""
    sc = load_scenario_text(DUEL_1V1, "<adjacent>")
    thr = round((0.60 + (0.30 - 0.60) * 1 / 16) * U.P_ONE)  # hit threshold at distance 1
    dmg = np.float32(3) * np.float32(thr) / np.float32(U.P_ONE)  # expected damage per shot
    ticks = 1
    hp = np.float32(10)
    while (hp := np.float32(hp - dmg)) > 0:
        ticks += 1
    # reward: damage dealt (at most the hp left) in fractions of max hp, +10 for the win
    ret = (ticks - 1) * float(dmg) / 10 + float(10 - (ticks - 1) * dmg) / 10 + 10.0

    def fire(obs: np.ndarray, state: object, start: np.ndarray, mask: object) -> np.ndarray:
        return np.full((len(obs), 1), A.FIRE_NEAREST)

    def stay(engine: Engine, side: int) -> np.ndarray:
        return np.zeros((engine.B, 1), np.int64)

    r = evaluate(fire, sc, stay, episodes=6, n_envs=3)
    assert (r.wins, r.draws, r.losses) == (6, 0, 0)
    assert r.mean_length == ticks and r.env_steps == 6 * ticks
    assert r.mean_return == pytest.approx(ret, rel=1e-5)
    assert (r.own_losses, r.enemy_losses, r.survival) == (0.0, 1.0, 1.0)
    assert math.isinf(r.exchange_ratio) and r.to_dict()["exchange_ratio"] is None
    assert r.action_mode == "callable" and r.episodes == 6

    # Nobody acts: every episode is a time-limit draw, nobody dies.
    r = evaluate(lambda o, s, e, m: np.zeros((len(o), 1), np.int64), sc, stay, episodes=4)
    assert (r.wins, r.draws, r.losses, r.mean_length) == (0, 4, 0, 20.0)
    assert math.isnan(r.exchange_ratio) and r.survival == 1.0


def _reference(blue: str, red: str, n_worlds: int, per_world: int, seed: int) -> np.ndarray:
    """Outcome codes of the first ``per_world`` episodes of each world, by a plain engine loop."""
    eng = Engine(load_scenario("duel"), n_worlds, seed=seed)
    b, r = get_doctrine(blue), get_doctrine(red)
    out = np.zeros((n_worlds, per_world), np.int8)
    for k in range(per_world):
        if k:
            eng.reset()  # next episode of every world's key
        while not eng.done.all():
            eng.step(np.concatenate([b(eng, 0), r(eng, 1)], 1))
        out[:, k] = eng.outcome
    return out


@pytest.mark.parametrize("n_envs", [None, 10, 7])
def test_counts_first_episodes_of_every_world(n_envs: int | None) -> None:
    episodes, seed = 20, 3
    n = n_envs or episodes
    q = np.full(n, episodes // n)
    q[: episodes % n] += 1
    ref = _reference("assault", "assault", n, int(q.max()), seed)
    counted = np.concatenate([ref[i, : q[i]] for i in range(n)])
    r = evaluate("assault", "duel", "assault", episodes, seed=seed, n_envs=n_envs)
    assert r.episodes == episodes == counted.size
    assert (r.wins, r.losses, r.draws) == (
        int((counted == 1).sum()),
        int((counted == 2).sum()),
        int((counted == 3).sum()),
    )
    assert r.action_mode == "scripted"


def test_red_side_and_result_table() -> None:
    blue = evaluate("assault", "duel", "random", 50, seed=1)
    red = evaluate("random", "duel", "assault", 50, seed=1, side="red")
    assert (red.wins, red.draws, red.losses) == (blue.losses, blue.draws, blue.wins)
    text = blue.table()
    assert "wins" in text and "95% CI" in text and "actions: scripted" in text
    d = blue.to_dict()
    for k in (
        "win_rate",
        "win_ci_low",
        "win_ci_high",
        "draw_rate",
        "loss_rate",
        "mean_return",
        "exchange_ratio",
        "survival",
        "mean_length",
        "action_mode",
        "episodes",
    ):
        assert k in d
    assert d["win_ci_low"] <= d["win_rate"] <= d["win_ci_high"]


@pytest.mark.parametrize("core", ["mlp", "lstm"])
def test_checkpoint_opponent_mirrors_checkpoint_player(tmp_path: Path, core: str) -> None:
    """A frozen network as the engine-side opponent plays exactly as it does as the learner."""
    env_spec = PolicySpec("vector", DUEL_VECTOR, 2, 9, core=core, hidden=(16,), lstm_hidden=8)
    pol = build_policy(env_spec, seed=1)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in pol.parameters():
            p.add_(torch.randn_like(p) * 0.5)  # an opinionated policy, not near-uniform
    ckpt = save_checkpoint(tmp_path / "ck", pol, env_spec, {"scenario": "Duel"})
    as_player = evaluate(ckpt, "duel", "assault", 30, side="red", seed=2)
    as_opponent = evaluate("assault", "duel", ckpt, 30, side="blue", seed=2)
    assert (as_player.wins, as_player.draws, as_player.losses) == (
        as_opponent.losses,
        as_opponent.draws,
        as_opponent.wins,
    )
    assert as_player.mean_length == as_opponent.mean_length
    fn = policy_opponent(pol)
    direct = evaluate("assault", "duel", fn, 30, seed=2)
    assert (direct.wins, direct.draws, direct.losses) == (
        as_opponent.wins,
        as_opponent.draws,
        as_opponent.losses,
    )
    assert as_player.action_mode == "greedy"
    sampled = evaluate(ckpt, "duel", "random", 20, seed=2, deterministic=False)
    assert sampled.action_mode == "sampled"
    again = evaluate(ckpt, "duel", "random", 20, seed=2, deterministic=False)
    assert sampled.to_dict() | {"wall_s": 0} == again.to_dict() | {"wall_s": 0}


def test_bad_input_is_a_cgfsim_error(tmp_path: Path) -> None:
    spec = PolicySpec("vector", DUEL_VECTOR, 2, 9, hidden=(8,))
    ckpt = save_checkpoint(tmp_path / "ck", build_policy(spec, seed=0), spec)
    with pytest.raises(CgfsimError, match="grid"):
        evaluate(ckpt, "duel", "random", 5, obs="grid")
    with pytest.raises(CgfsimError, match="shape"):
        evaluate(ckpt, "skirmish", "random", 5)
    with pytest.raises(CgfsimError, match="unknown player"):
        evaluate("no-such-doctrine", "duel", "random", 5)
    with pytest.raises(CgfsimError, match="episodes"):
        evaluate("assault", "duel", "random", 0)
    (tmp_path / "ck" / "policy.pt").write_bytes(b"garbage")
    with pytest.raises(CgfsimError, match="corrupted"):
        evaluate("assault", "duel", str(tmp_path / "ck"), 5)


def test_result_is_plain_data() -> None:
    r = EvalResult(
        "S",
        "p",
        "o",
        "blue",
        "vector",
        "greedy",
        0,
        4,
        2,
        1,
        1,
        0.5,
        0.1,
        10.0,
        0.0,
        1.0,
        1.0,
        40,
        4,
    )
    assert r.win_rate == 0.5 and r.draw_rate == 0.25 and r.loss_rate == 0.25
    assert math.isinf(r.exchange_ratio)
    assert "inf" in r.table()
