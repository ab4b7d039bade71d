"""RL Baselines3 Zoo hyperparameters: PPO on every cgfsim id (``-conf experiments/rlzoo/ppo.py``).

The Zoo runs ``n_envs`` single Gymnasium envs in a DummyVecEnv. Observations
follow the map size: ``vector`` (MLP) on Duel's 8x8 map, ``grid`` through the
project's own CNN (``GridExtractor``) on the 24x24 maps, and ``entities``
through its attention encoder (``EntityExtractor``) on RandomField, whose
maps change every episode. ``policy_kwargs`` come from
``cgfsim.agents.rl.sb3_policy_kwargs``, the layout ``cgfsim train`` builds, so
a Zoo model and a cgfsim one have the same network. Env and network share the
two cores of the project's machines: torch gets one thread (``THREADS``).
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
            "ppo", OBS.get(env_id, "grid"), {"hidden": HIDDEN.get(env_id, [128, 128])}
        ),
        "n_envs": 8,
        "n_timesteps": 150_000 if env_id == "cgfsim/Duel-v0" else 1_000_000,
        "n_steps": 128,
        "batch_size": 256,
        "n_epochs": 4,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.01,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
    }
    for env_id in builtin_ids()
}
