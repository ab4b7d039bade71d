"""SuperSuit's route to parameter-shared SB3 PPO over the PettingZoo parallel env.

One PPO policy drives every unit of both sides (self-play with shared
parameters): ``black_death_v3`` keeps dead units' slots (zero observations),
``pettingzoo_env_to_vec_env_v1`` makes each agent one env of an SB3 VecEnv,
``concat_vec_envs_v1`` stacks copies of the battle.
"""

from __future__ import annotations

import numpy as np
import pytest

ss = pytest.importorskip("supersuit")


@pytest.mark.filterwarnings("ignore:The `render_mode` attribute is not defined")
def test_supersuit_parameter_shared_ppo_trains() -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from cgfsim.envs import battle_v0

    torch.set_num_threads(1)
    env = battle_v0.parallel_env(scenario="duel", obs="vector")
    env = ss.black_death_v3(env)
    env = ss.pettingzoo_env_to_vec_env_v1(env)
    env = ss.concat_vec_envs_v1(env, 2, num_cpus=0, base_class="stable_baselines3")
    env = VecMonitor(env)
    assert env.num_envs == 2 * 4  # 2 battles x (2 blue + 2 red) units
    # No seed= here: SuperSuit's ConcatVecEnv has no seed(); seed the battles through reset.
    model = PPO("MlpPolicy", env, n_steps=40, batch_size=160, n_epochs=1, verbose=0)
    model.learn(2 * 40 * 8)
    assert model.num_timesteps == 640
    assert len(model.ep_info_buffer) >= 8  # Duel lasts <= 60 ticks: every unit saw an end
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (8,) and np.all((actions >= 0) & (actions < 9))
    env.close()
