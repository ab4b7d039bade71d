"""The batched env equals B single envs, across auto-resets, and seeding reaches every world."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import cgfsim  # noqa: F401
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.commander import CommanderEnv

B = 4


def _equal(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


def _row(obs: object, i: int) -> object:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("mode", "side", "dict_obs"),
    [("vector", "blue", False), ("entities", "red", True), ("grid", "blue", True)],
)
def test_batched_equals_single_envs_across_resets(mode: str, side: str, dict_obs: bool) -> None:
    kw = {"obs": mode, "side": side, "dict_obs": dict_obs, "opponent": "random"}
    core = BatchedCommanderEnv("duel", B, **kw)
    singles = [CommanderEnv("duel", **kw) for _ in range(B)]
    seed = 11
    obs = core.reset(seed=seed)
    for i, env in enumerate(singles):
        o, _ = env.reset(seed=seed + i)
        assert _equal(_row(obs, i), o)
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(250):
        act = rng.integers(0, core.n_actions, size=(B, core.n_own))
        obs, rew, term, trunc, infos = core.step(act)
        for i, env in enumerate(singles):
            o, r, te, tr, info = env.step(act[i])
            assert r == rew[i] and te == term[i] and tr == trunc[i]
            if te or tr:
                resets += 1
                assert _equal(infos[i]["terminal_observation"], o)
                assert infos[i]["TimeLimit.truncated"] == (tr and not te)
                for k in ("outcome", "kills", "losses", "objective", "tick"):
                    assert infos[i][k] == info[k]
                o, _ = env.reset()
            else:
                assert "terminal_observation" not in infos[i]
            assert _equal(_row(obs, i), o)
    assert resets >= 3 * B


def test_sb3_vecenv_equals_dummyvecenv() -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from cgfsim.envs.sb3 import CgfsimVecEnv

    venv = CgfsimVecEnv("duel", B, opponent="assault")
    dummy = DummyVecEnv([lambda: gym.make("cgfsim/Duel-v0", opponent="assault") for _ in range(B)])
    venv.seed(5)
    dummy.seed(5)
    assert np.array_equal(venv.reset(), dummy.reset())
    rng = np.random.default_rng(1)
    dones = 0
    for _ in range(200):
        act = rng.integers(0, 9, size=(B, 2))
        o1, r1, d1, i1 = venv.step(act)
        o2, r2, d2, i2 = dummy.step(act)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
        for i in np.flatnonzero(d1):
            assert np.array_equal(i1[i]["terminal_observation"], i2[i]["terminal_observation"])
            assert i1[i]["TimeLimit.truncated"] == i2[i]["TimeLimit.truncated"]
        dones += int(d1.sum())
    assert dones >= 2 * B


def test_vecenv_seed_reaches_every_world() -> None:
    from cgfsim.envs.sb3 import CgfsimVecEnv

    venv = CgfsimVecEnv("duel", 6)
    venv.seed(1234)
    venv.reset()
    assert venv.engine.key.tolist() == [1234 + i for i in range(6)]
    assert not venv.engine.episode.any()
    first = venv.reset()  # seeds are used once: this is every world's next episode
    assert venv.engine.episode.tolist() == [1] * 6
    venv.seed(1234)
    again = venv.reset()
    assert venv.engine.key.tolist() == [1234 + i for i in range(6)]
    venv.seed(1234)
    assert np.array_equal(venv.reset(), again) and not np.array_equal(first, again)
    assert venv.get_attr("render_mode") == [None] * 6
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 6
    masks = venv.env_method("action_masks", indices=[1, 3])
    assert len(masks) == 2 and masks[0].shape == (18,)


def test_ppo_seed_seeds_the_batched_vecenv() -> None:
    from stable_baselines3 import PPO

    from cgfsim.envs.sb3 import CgfsimVecEnv

    venv = CgfsimVecEnv("duel", 3)
    PPO("MlpPolicy", venv, n_steps=8, batch_size=24, seed=77, device="cpu")
    # SB3 calls venv.seed(77) when the model is built; the next reset uses it.
    venv.reset()
    assert venv.engine.key.tolist() == [77, 78, 79]


def test_reset_with_seed_replays_the_episode() -> None:
    env = gym.make("cgfsim/Skirmish-v0", obs="entities")
    rng = np.random.default_rng(3)
    actions = rng.integers(0, 15, size=(40, 8))
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=42)
        traj = [obs]
        for a in actions:
            obs, r, term, trunc, _ = env.step(a)
            traj.append(obs)
            traj.append(np.array([r, term, trunc]))
        runs.append(traj)
    assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))
    obs_other, _ = env.reset(seed=43)
    assert not np.array_equal(obs_other, runs[0][0])


def test_unseeded_resets_advance_the_episode() -> None:
    core = BatchedCommanderEnv("duel", 2)
    core.reset(seed=[7, None])  # world 1 unseeded on first use: a random key
    assert core.engine.key[0] == 7 and core.engine.episode[0] == 0
    core.reset()
    assert core.engine.episode.tolist() == [1, 1]
    core.reset(seed=[None, 3])
    assert core.engine.key[1] == 3 and core.engine.episode.tolist() == [2, 0]
