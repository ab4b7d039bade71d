"""RL Baselines3 Zoo hyperparameters: PPO on every cgfsim id (``-conf experiments/rlzoo/ppo.py``).

The Zoo runs ``n_envs`` single Gymnasium envs in a DummyVecEnv. Observations
and network per scenario come from :func:`cgfsim.agents.zoo.zoo_env` (shared by
every config here: the Zoo execs each file alone): ``vector`` on Duel, ``grid``
through the project's CNN on the 24x24 maps, ``entities`` through its attention
encoder on RandomField, the hidden layers ``cgfsim train`` builds. Env and
network share the two cores of the project's machines: torch gets one thread
(``THREADS``).
"""

import torch

from cgfsim.agents.zoo import env_ids, zoo_env

THREADS = 1
torch.set_num_threads(THREADS)

hyperparams = {
    env_id: {
        **zoo_env(env_id, "ppo"),
        "policy": "MlpPolicy",
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
    for env_id in env_ids()
}
