"""PettingZoo's own test utilities against ``cgfsim.envs.battle_v0``, for every observation mode.

Each runs the real ``pettingzoo.test`` function the installed PettingZoo
ships (api, parallel api, seed, parallel seed, max_cycles, render, state), on
the module layout PettingZoo's own environments use. Warnings are errors, so
an advisory from a checker fails the test too.
"""

from __future__ import annotations

import warnings
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
from pettingzoo import test as pzt

from cgfsim.envs import battle_v0
from cgfsim.envs.state import F_UNIT, build_state, state_size

MODES = ("vector", "grid", "entities")
# The old-style creation warning comes from PettingZoo's own seed_test helpers.
pytestmark = pytest.mark.filterwarnings("ignore:The old environment creation API")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dict_obs", [False, True])
def test_api_and_parallel_api(mode: str, dict_obs: bool) -> None:
    kw = {"scenario": "duel", "obs": mode, "dict_obs": dict_obs}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # api_test advises Box/Discrete (NumPy) observations; a Dict with an action_mask is
        # PettingZoo's own convention for masked actions, which its classic games are excused.
        warnings.filterwarnings("ignore", message="Observation space for each agent probably")
        warnings.filterwarnings("ignore", message="Observation is not a NumPy array")
        if mode == "entities":
            # api_test takes any 2-D array for an image; an entity table is not one, and its
            # signed offsets (relative positions in [-1, 1]) are meant to be negative.
            warnings.filterwarnings("ignore", message="The observation contains negative")
        pzt.api_test(battle_v0.env(**kw), num_cycles=80)
        pzt.parallel_api_test(battle_v0.parallel_env(**kw), num_cycles=80)


@pytest.mark.parametrize("mode", MODES)
def test_seed_tests(mode: str) -> None:
    kw = {"scenario": "duel", "obs": mode, "dict_obs": True}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="The old environment creation API")
        pzt.seed_test(partial(battle_v0.env, **kw), num_cycles=60)
        pzt.parallel_seed_test(partial(battle_v0.parallel_env, **kw), num_cycles=60)


@pytest.mark.parametrize("mode", MODES)
def test_max_cycles(mode: str) -> None:
    mod = SimpleNamespace(
        env=partial(battle_v0.env, obs=mode), parallel_env=partial(battle_v0.parallel_env, obs=mode)
    )
    pzt.max_cycles_test(mod)
    if mode == "vector":
        pzt.max_cycles_test(battle_v0)  # the module itself, with its defaults


@pytest.mark.parametrize("mode", MODES)
def test_render(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pzt.render_test(partial(battle_v0.env, scenario="duel", obs=mode))
    assert "tick " in capsys.readouterr().out  # human mode printed its frames


@pytest.mark.parametrize("mode", MODES)
def test_state(mode: str) -> None:
    kw = {"scenario": "defend", "obs": mode}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pzt.state_test(battle_v0.env(**kw), battle_v0.parallel_env(**kw), num_cycles=30)


def test_state_is_full_information_and_the_same_for_every_agent() -> None:
    penv = battle_v0.parallel_env(scenario="ambush")
    penv.reset(seed=2)
    e = penv.engine
    s0 = penv.state()
    assert s0.shape == (state_size(e),) and s0.dtype == np.float32 and s0 in penv.state_space
    rng = np.random.default_rng(0)
    hidden_seen = False
    for _ in range(40):
        acts = {a: penv.action_space(a).sample() for a in penv.agents}
        penv.step(acts)
        if not penv.agents:
            break
        s = penv.state()
        assert np.array_equal(s, build_state(e)[0]) and s in penv.state_space
        # every live unit's cell is in the state, seen by the enemy or not
        hidden = e.alive[0] & ~e.visible[0]
        hidden_seen |= bool(hidden.any())
        rows = s[: e.U * F_UNIT].reshape(e.U, F_UNIT)
        assert np.allclose(rows[e.alive[0], 3], e.y[0, e.alive[0]] / (e.H - 1))
        rng.random()
    assert hidden_seen  # fog of war hid someone, and the state still showed them
