"""Action masks agree with the engine, in every form the envs offer them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import cgfsim  # noqa: F401
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.observations import to_engine_actions
from cgfsim.sim import actions as A
from cgfsim.sim.engine import Engine


def _snapshot(e: Engine) -> dict[str, np.ndarray]:
    """Every per-world array of the engine (state, fog, tallies, caches)."""
    return {
        k: v.copy()
        for k, v in vars(e).items()
        if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == e.B
    }


def _restore(e: Engine, snap: dict[str, np.ndarray]) -> None:
    for k, v in snap.items():
        setattr(e, k, v.copy())


def _states(scenario: str, side: str, n_states: int, seed: int):  # type: ignore[no-untyped-def]
    """Yield (env, engine) at several mid-episode states reached by random play."""
    env = BatchedCommanderEnv(scenario, 1, side=side, opponent="assault", autoreset=False)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(n_states):
        for _ in range(int(rng.integers(3, 9))):
            if env.engine.done[0]:
                env.reset()
            env.step(rng.integers(0, env.n_actions, size=(1, env.n_own)))
        if not env.engine.done[0]:
            yield env, env.engine


def _order(e: Engine, snap: dict[str, np.ndarray], slot: int, a: int) -> dict[str, np.ndarray]:
    """From ``snap``, step with unit ``slot`` doing engine action ``a`` and all others staying."""
    _restore(e, snap)
    joint = np.zeros((1, e.U), np.int64)
    joint[0, slot] = a
    e.step(joint)
    return _snapshot(e)


@pytest.mark.parametrize(
    ("scenario", "side"),
    [("duel", "blue"), ("skirmish", "red"), ("urban", "blue"), ("ambush", "red")],
)
def test_masks_agree_with_the_engine(scenario: str, side: str) -> None:
    checked = {"invalid": 0, "valid": 0}
    for env, e in _states(scenario, side, 5, seed=len(scenario)):
        s = env.side
        own0 = 0 if s == 0 else e.nb
        mask = env.action_masks().reshape(env.n_own, env.n_actions)
        snap = _snapshot(e)

        stay = _order(e, snap, own0, A.STAY)
        # Cells of live units; those the side may not know of (hidden enemies) separately.
        known = snap["alive"][0] & (snap["visible"][0] | (e.side == s))
        cells = list(zip(snap["y"][0].tolist(), snap["x"][0].tolist(), strict=True))
        occupied = {c for c, al in zip(cells, snap["alive"][0], strict=True) if al}
        hidden = occupied - {c for c, k in zip(cells, known, strict=True) if k}
        for u in range(env.n_own):
            g = own0 + u
            for a in range(env.n_actions):
                after = _order(e, snap, own0 + u, int(to_engine_actions(np.int64(a), s)))
                if not mask[u, a]:  # invalid: exactly what staying does
                    for k in stay:
                        np.testing.assert_array_equal(after[k], stay[k], err_msg=f"{k} {u} {a}")
                    checked["invalid"] += 1
                    continue
                checked["valid"] += 1
                ea = int(to_engine_actions(np.int64(a), s))
                if A.NORTH <= ea <= A.WEST:
                    ty, tx = int(snap["y"][0, g] + A.DY[ea]), int(snap["x"][0, g] + A.DX[ea])
                    if (ty, tx) in occupied:  # only a hidden enemy's cell may look free
                        assert (ty, tx) in hidden
                    else:
                        assert (after["y"][0, g], after["x"][0, g]) == (ty, tx)
                elif ea == A.FIRE_NEAREST:
                    assert after["shot_target"][0, g] >= 0
                elif ea >= A.FIRE_AT:
                    enemy0 = e.nb if s == 0 else 0
                    assert after["shot_target"][0, g] == enemy0 + ea - A.FIRE_AT
                elif ea == A.TAKE_COVER:
                    assert after["covered"][0, g]
        _restore(e, snap)
    assert checked["invalid"] > 20 and checked["valid"] > 20


def test_dead_units_may_only_stay() -> None:
    env = BatchedCommanderEnv("skirmish", 2)
    env.reset(seed=0)
    env.engine.alive[1, 3] = False
    m = env.action_masks().reshape(2, 8, 15)
    assert m[1, 3].tolist() == [True] + [False] * 14
    assert m[0, 3, A.STAY] and m[0, 3, A.TAKE_COVER]


def test_mask_forms() -> None:
    env = gym.make("cgfsim/Skirmish-v0", dict_obs=True).unwrapped
    obs, _ = env.reset(seed=2)
    m = env.action_masks()
    assert m.shape == (8 * 15,) and m.dtype == bool
    np.testing.assert_array_equal(obs["action_mask"], m.astype(np.int8))
    core = BatchedCommanderEnv("skirmish", 3, dict_obs=True)
    obs = core.reset(seed=2)
    masks = core.action_masks()
    assert masks.shape == (3, 120)
    np.testing.assert_array_equal(obs["action_mask"], masks)
    np.testing.assert_array_equal(masks[0], m)  # world 0 seeded 2 == the single env seeded 2
    obs, *_ = core.step(np.zeros((3, 8), np.int64))
    np.testing.assert_array_equal(obs["action_mask"], core.action_masks())


def test_maskable_ppo_smoke() -> None:
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import VecMonitor

    from cgfsim.envs.sb3 import CgfsimVecEnv

    venv = VecMonitor(CgfsimVecEnv("duel", 8, opponent="random"))
    from stable_baselines3.common.logger import Logger

    model = MaskablePPO(
        "MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu"
    )
    model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-* temp folder
    model.learn(total_timesteps=512)
    assert model.num_timesteps >= 512
    assert len(model.ep_info_buffer) > 0  # episodes finished and reached the logs
