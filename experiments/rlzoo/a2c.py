"""RL Baselines3 Zoo hyperparameters: A2C on every cgfsim id (``-conf experiments/rlzoo/a2c.py``).

Observation modes and networks as in ``ppo.py`` (``vector`` on Duel, ``grid``
with the project's CNN on the 24x24 maps, ``entities`` with its attention
encoder on RandomField), from ``cgfsim.agents.rl.sb3_policy_kwargs``; one torch
thread.
"""

import torch

from cgfsim.agents.rl import sb3_policy_kwargs
from cgfsim.envs.registration import builtin_ids

THREADS = 1
torch.set_num_threads(THREADS)
OBS = {"cgfsim/Duel-v0": "vector", "cgfsim/RandomField-v0": "entities"}  # others: grid
HIDDEN = {"cgfsim/Duel-v0": [64, 64]}  # others: [128, 128]

hyperparams = {
    env_id: {
        "env_kwargs": {"obs": OBS.get(env_id, "grid"), "opponent": "random"},
        "policy": "MlpPolicy",
        "policy_kwargs": sb3_policy_kwargs(
            "a2c", OBS.get(env_id, "grid"), {"hidden": HIDDEN.get(env_id, [128, 128])}
        ),
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
    for env_id in builtin_ids()
}
