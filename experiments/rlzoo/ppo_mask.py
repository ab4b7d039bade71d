"""RL Baselines3 Zoo hyperparameters: MaskablePPO (``--algo ppo_mask``) on every cgfsim id.

The Zoo ships no ``ppo_mask`` entry: run it through ``experiments/rlzoo/zoo.py``,
which registers sb3-contrib's MaskablePPO under that name (``-conf
experiments/rlzoo/ppo_mask.py``). MaskablePPO reads each env's
``action_masks()`` (the engine's no-ops masked out), so no wrapper is needed.
Encoders as in ``ppo.py``; one torch thread.
"""

import torch

from cgfsim.agents.zoo import env_ids, zoo_env

THREADS = 1
torch.set_num_threads(THREADS)

hyperparams = {
    env_id: {
        **zoo_env(env_id, "maskable_ppo"),
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
