"""RL Baselines3 Zoo hyperparameters: RecurrentPPO (``--algo ppo_lstm``) on every cgfsim id.

``-conf experiments/rlzoo/ppo_lstm.py``. The LSTM core is for fog of war: a
unit seen a few ticks ago is remembered by the network as well as by the
observation's last-seen features. Encoders as in ``ppo.py``; the actor and
critic LSTMs are separate, as ``cgfsim train --algo rppo`` builds them; one
torch thread.
"""

import torch

from cgfsim.agents.zoo import env_ids, zoo_env

THREADS = 1
torch.set_num_threads(THREADS)

hyperparams = {
    env_id: {
        **zoo_env(env_id, "recurrent_ppo", lstm_hidden=128),
        "policy": "MlpLstmPolicy",
        "n_envs": 8,
        "n_timesteps": 200_000 if env_id == "cgfsim/Duel-v0" else 1_000_000,
        "n_steps": 128,
        "batch_size": 1024,  # RecurrentPPO pays per minibatch: few, large ones
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
