"""Fine-tuning a cloned policy with RL (``cgfsim train --init-from``) without wrecking it.

A behaviour-cloned actor copied into PPO meets a freshly initialised critic: its
first advantage estimates are noise, and Duel's tuned PPO settings (learning rate
2e-3, ten epochs per rollout) turn that noise into large actor updates. A clone
winning 0.85 fell to 0.05 after 2k such steps. Two remedies, both overridable
with ``--set``:

- a **critic warm-up**: for the first ``critic_warmup`` env steps the actor's
  parameters are frozen and PPO's updates fit only the value function to the
  clone's own returns (the steps count as env steps like any others);
- gentler actor updates afterwards (:data:`FINETUNE_DEFAULTS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

#: Defaults on top of the algorithm's (and scenario's) when starting from a checkpoint;
#: the run's own ``hparams`` win. Chosen on Duel (see README, "BC then RL").
FINETUNE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {"critic_warmup": 4096, "learning_rate": 3e-4, "ent_coef": 0.0},
    "maskable_ppo": {"critic_warmup": 4096, "learning_rate": 3e-4, "ent_coef": 0.0},
    "a2c": {"critic_warmup": 4096, "ent_coef": 0.0},
    "recurrent_ppo": {"critic_warmup": 4096, "ent_coef": 0.0},
}


def finetune_hparams(algo: str, hparams: dict[str, Any] | None) -> dict[str, Any]:
    """``hparams`` on top of the fine-tuning defaults of ``algo``."""
    return {**FINETUNE_DEFAULTS.get(algo, {}), **(hparams or {})}


def actor_parameters(model: Any) -> list[Any]:
    """The parameters that decide the actions of an SB3 actor-critic (not the critic's).

    Everything in the policy except the value head, the value MLP branch and a
    separate critic LSTM; a shared features extractor counts as the actor's (the
    critic must learn on top of the features the clone uses, not move them).
    """
    pol = model.policy
    critic: set[int] = {id(p) for p in pol.value_net.parameters()}
    critic |= {id(p) for p in pol.mlp_extractor.value_net.parameters()}
    for name in ("lstm_critic", "vf_features_extractor"):
        part = getattr(pol, name, None)
        if part is not None and part is not getattr(pol, "pi_features_extractor", None):
            critic |= {id(p) for p in part.parameters()}
    return [p for p in pol.parameters() if id(p) not in critic]


class CriticWarmup(BaseCallback):
    """Freeze the actor until ``steps`` env steps have been collected, then release it.

    Frozen parameters get no gradient, so the optimiser leaves them (and their
    moment estimates) alone while PPO's value loss trains the critic. Every update on a
    rollout that ends within the first ``steps`` env steps is critic-only; the first
    rollout that ends past them moves the actor.
    """

    def __init__(self, steps: int) -> None:
        super().__init__(verbose=0)
        self.steps = int(steps)
        self._frozen: Sequence[Any] = ()

    def _on_training_start(self) -> None:
        if self.num_timesteps < self.steps:
            self._frozen = [p for p in actor_parameters(self.model) if p.requires_grad]
            for p in self._frozen:
                p.requires_grad_(False)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self._frozen and self.num_timesteps > self.steps:
            self.release()

    def _on_training_end(self) -> None:
        self.release()

    def release(self) -> None:
        for p in self._frozen:
            p.requires_grad_(True)
        self._frozen = ()


__all__: Sequence[str] = (
    "FINETUNE_DEFAULTS",
    "CriticWarmup",
    "actor_parameters",
    "finetune_hparams",
)
