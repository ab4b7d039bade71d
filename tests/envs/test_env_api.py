"""Registration, the API checkers of Gymnasium, SB3 and PettingZoo, rendering and bad input."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cgfsim  # noqa: F401  (registers the ids)
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.parallel import CgfsimParallelEnv
from cgfsim.envs.registration import builtin_ids
from cgfsim.sim.scenario import builtin_dir

BUILTIN = sorted(builtin_ids())
MODES = ("vector", "grid", "entities")
# Vector length (see cgfsim.envs.observations): 15 per own slot, 11 per enemy slot, 8 per
# objective, 5 per (own, enemy) pair, 3 per (own, objective) pair, 3 global, and the
# (7 + E)-action mask of every own slot.
SKIRMISH_VECTOR = 8 * 15 + 8 * 11 + 1 * 8 + 8 * 8 * 5 + 8 * 1 * 3 + 3 + 8 * (7 + 8)
DUEL_VECTOR = 2 * 15 + 2 * 11 + 2 * 2 * 5 + 3 + 2 * (7 + 2)
ENTITY_COLUMNS = 51
# SB3's checker advises on image-like and 2-D Box observations; grid and entities are meant
# for cgfsim's own feature extractors, so these hints are expected.
SB3_HINTS = (
    "is an image but",
    "Treating image space",
    "minimal resolution for an image",
    "unconventional shape",
)


def test_every_builtin_scenario_is_registered() -> None:
    names = {i.split("/")[1].removesuffix("-v0") for i in BUILTIN}
    assert names == {"Skirmish", "Ambush", "Urban", "Defend", "RandomField", "Duel"}
    assert len(BUILTIN) == len(list(builtin_dir().glob("*.toml")))
    for i in [*BUILTIN, "cgfsim/Scenario-v0"]:
        spec = gym.spec(i)
        assert isinstance(spec.entry_point, str) and isinstance(spec.vector_entry_point, str)


def test_import_and_make_leave_torch_out() -> None:
    code = (
        "import sys, gymnasium, cgfsim; env = gymnasium.make('cgfsim/Duel-v0'); env.reset(seed=0);"
        "v = gymnasium.make_vec('cgfsim/Duel-v0', num_envs=2); v.reset(seed=0);"
        "import cgfsim.envs.parallel;"
        "print('torch' in sys.modules, 'stable_baselines3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_make_with_kwargs_as_in_the_docs() -> None:
    env = gym.make(
        "cgfsim/Skirmish-v0", opponent="assault-nearest", obs="vector", render_mode="rgb_array"
    )
    obs, info = env.reset(seed=3)
    assert obs.shape == (SKIRMISH_VECTOR,) and obs.dtype == np.float32
    assert set(info) == {"outcome", "tick", "kills", "losses", "objective"}
    assert info["outcome"] == 0 and info["tick"] == 0 and list(info["objective"]) == ["crossroads"]
    obs, rew, term, trunc, info = env.step(env.action_space.sample())
    assert type(rew) is float and type(term) is bool and type(trunc) is bool
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert env.unwrapped.core.opponent_name == "assault-nearest"


def test_scenario_names_and_stems_both_work() -> None:
    for name in ("RandomField", "random_field", "random-field", "DUEL"):
        assert BatchedCommanderEnv(name).scenario.name in ("RandomField", "Duel")


def test_scenario_file_path(tmp_path: Path) -> None:
    text = (builtin_dir() / "duel.toml").read_text().replace('name = "Duel"', 'name = "MyDuel"')
    p = tmp_path / "my.toml"
    p.write_text(text)
    env = gym.make("cgfsim/Scenario-v0", path=str(p))
    assert env.unwrapped.core.scenario.name == "MyDuel"
    obs, _ = env.reset(seed=0)
    assert obs.shape == (DUEL_VECTOR,)


def test_make_vec_returns_the_batched_env() -> None:
    from gymnasium.vector import AutoresetMode

    from cgfsim.envs.vector import CgfsimVectorEnv

    venv = gym.make_vec("cgfsim/Duel-v0", num_envs=5, obs="entities", autoreset_mode="SameStep")
    assert isinstance(venv, CgfsimVectorEnv) and venv.num_envs == 5
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (5, 4, ENTITY_COLUMNS) and obs in venv.observation_space
    finals = 0
    for _ in range(80):
        obs, rew, term, trunc, infos = venv.step(venv.action_space.sample())
        assert rew.shape == (5,) and obs in venv.observation_space
        if "final_obs" in infos:
            done = term | trunc
            assert np.array_equal(infos["_final_obs"], done)
            for i in np.flatnonzero(done):
                assert infos["final_obs"][i].shape == (4, ENTITY_COLUMNS)
                assert infos["final_info"]["outcome"][i] in (1, 0, -1)
            finals += int(done.sum())
    assert finals >= 5  # Duel lasts at most 60 ticks


@pytest.mark.parametrize("env_id", sorted(i for i in gym.registry if i.startswith("cgfsim/")))
@pytest.mark.parametrize("mode", MODES)
def test_checkers_pass(env_id: str, mode: str) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    # cgfsim/Scenario-v0 needs a file; the checkers re-make it from its spec, path included
    kw = {"path": str(builtin_dir() / "ambush.toml")} if env_id == "cgfsim/Scenario-v0" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for msg in SB3_HINTS:
            warnings.filterwarnings("ignore", message=f".*{msg}")
        for dict_obs in (False, True):
            env = gym.make(env_id, obs=mode, dict_obs=dict_obs, **kw)
            check_env(env.unwrapped)
            sb3_check_env(env.unwrapped)
            env.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dict_obs", [False, True])
@pytest.mark.filterwarnings("ignore:The old environment creation API:DeprecationWarning")
def test_parallel_api(mode: str, dict_obs: bool) -> None:
    from pettingzoo.test import parallel_api_test

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(CgfsimParallelEnv("duel", obs=mode, dict_obs=dict_obs), num_cycles=200)
        parallel_api_test(CgfsimParallelEnv("urban", obs=mode, dict_obs=dict_obs), num_cycles=60)


def test_parallel_agents_rewards_and_spaces() -> None:
    env = CgfsimParallelEnv("skirmish", obs="vector", dict_obs=True)
    obs, _ = env.reset(seed=0)
    assert env.agents == [f"blue_{i}" for i in range(8)] + [f"red_{i}" for i in range(8)]
    o = obs["red_3"]
    assert o["observation"].shape == (8 + SKIRMISH_VECTOR,)
    assert np.flatnonzero(o["observation"][:8]).tolist() == [3]
    assert o["action_mask"].shape == (15,) and o["action_mask"].dtype == np.int8
    assert env.action_space("blue_0") == gym.spaces.Discrete(15)
    rng = np.random.default_rng(0)
    for _ in range(200):
        acts = {a: env.action_space(a).sample(obs[a]["action_mask"]) for a in env.agents}
        live = list(env.agents)
        obs, rew, term, _, _ = env.step(acts)
        for side in ("blue", "red"):
            vals = {rew[a] for a in live if a.startswith(side)}
            assert len(vals) <= 1  # shared by the side's units
        for a in live:
            unit = env._unit[a][2]
            assert term[a] == (not env.engine.alive[0, unit] or bool(env.engine.terminated[0]))
        if not env.agents:
            break
        rng.random()
    dead = [a for a in env.possible_agents if not env.engine.alive[0, env._unit[a][2]]]
    assert not set(dead) & set(env.agents)


@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_render_modes(mode: str) -> None:
    env = gym.make("cgfsim/Duel-v0", render_mode=mode)
    env.reset(seed=0)
    out = env.render()
    if mode == "ansi":
        assert isinstance(out, str) and len(out.splitlines()) >= 8
    else:
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    penv = CgfsimParallelEnv("duel", render_mode=mode)
    penv.reset(seed=0)
    assert type(penv.render()) is type(out)
    core = BatchedCommanderEnv("duel", 3, render_mode=mode)
    core.reset(seed=0)
    assert type(core.render(2)) is type(out)
    assert set(env.metadata["render_modes"]) == {"ansi", "rgb_array", "human"}


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"scenario": "nowhere"}, ["nowhere", "skirmish"]),
        ({"scenario": None, "path": "/no/such/file.toml"}, ["/no/such/file.toml"]),
        ({"opponent": "kamikaze"}, ["kamikaze", "assault", "hold"]),
        ({"obs": "pixels"}, ["pixels", "vector", "grid", "entities"]),
        ({"side": "green"}, ["green", "blue", "red"]),
        ({"render_mode": "tv"}, ["tv", "ansi", "rgb_array", "human"]),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, needles: list[str]) -> None:
    kw = {"scenario": "duel", **kwargs}
    with pytest.raises(ValueError) as exc:
        BatchedCommanderEnv(**kw)
    for n in needles:
        assert n in str(exc.value)


def test_bad_ids_and_actions() -> None:
    with pytest.raises(gym.error.Error, match="Nowhere"):
        gym.make("cgfsim/Nowhere-v0")
    env = gym.make("cgfsim/Duel-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"action 9 .*0\.\.8"):
        env.step(np.array([0, 9]))
    with pytest.raises(ValueError, match=r"action -1 .*0\.\.8"):
        env.step(np.array([-1, 0]))
    with pytest.raises(ValueError, match="integers"):
        env.step(np.array([0.5, 1.0]))
    core = BatchedCommanderEnv("duel", 4)
    core.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        core.step(np.zeros((3, 2), np.int64))
    penv = CgfsimParallelEnv("duel")
    penv.reset(seed=0)
    with pytest.raises(ValueError, match="blue_7"):
        penv.step({"blue_7": 0})
    with pytest.raises(ValueError, match=r"0\.\.8"):
        penv.step({"blue_0": 12})
