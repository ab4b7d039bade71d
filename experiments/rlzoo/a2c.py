"""RL Baselines3 Zoo hyperparameters: A2C on every cgfsim id (``-conf experiments/rlzoo/a2c.py``).

Observation modes and networks as in ``ppo.py`` (``vector`` on Duel, ``grid``
with the project's CNN on the 24x24 maps, ``entities`` with its attention
encoder on RandomField), from ``cgfsim.agents.rl.sb3_policy_kwargs``; one torch
thread.
"""

import torch

from cgfsim.agents.zoo import env_ids, zoo_env

THREADS = 1
torch.set_num_threads(THREADS)

hyperparams = {
    env_id: {
        **zoo_env(env_id, "a2c"),
        "policy": "MlpPolicy",
        "n_envs": 16,
        "n_timesteps": 300_000 if env_id == "cgfsim/Duel-v0" else 2_000_000,
        "n_steps": 8,
        "learning_rate": 7e-4,
        "gamma": 0.99,
        "gae_lambda": 1.0,
        "ent_coef": 0.01,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
    }
    for env_id in env_ids()
}
