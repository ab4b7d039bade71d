"""SB3 policies of the masked action regime, and RecurrentPPO's faster LSTM pass.

Every learner acts over the actions that can have an effect now, in training
as in evaluation: PPO, A2C and RecurrentPPO observe ``{"observation": obs,
"action_mask": mask}`` (the batched env's ``dict_obs=True``) and the policies
here set the logits of masked actions to -1e8 (sb3-contrib's
``MaskableCategorical`` value, and :class:`~cgfsim.agents.networks.CgfPolicy`'s)
before the distribution is built. So rollouts sample only valid actions, PPO's
ratios and entropy are computed over the same masked distribution the
actions were drawn from, and the exported ``CgfPolicy`` with the same mask
gives the same logits. The mask travels in the observation, so SB3's rollout
buffers store it beside each observation with no change to SB3's algorithms
(MaskablePPO keeps masks in a buffer of its own; it implements the same regime
for MLP policies from ``env.action_masks()``).

How the mask reaches the head: :class:`MaskedObsExtractor` encodes
``obs["observation"]`` and keeps ``obs["action_mask"]``; every SB3 path that
builds an action distribution (``forward``, ``evaluate_actions``,
``get_distribution``) runs the actor's features extractor on the same batch
just before, and :meth:`_MaskedHead._get_action_dist_from_latent` takes the
mask from it (and clears it, so a stale mask cannot be reused).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn

from cgfsim.agents.encoders import EntityEncoder, GridEncoder
from cgfsim.agents.networks import MASKED_LOGIT, OBS_MODES
from cgfsim.sim.errors import CgfsimError


class MaskedObsExtractor(BaseFeaturesExtractor):
    """Encodes ``obs["observation"]`` with the obs mode's encoder; keeps ``obs["action_mask"]``.

    ``encoder`` is the same module a :class:`~cgfsim.agents.networks.CgfPolicy`
    holds (``nn.Flatten`` for vector observations), so export is a plain copy.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        obs_mode: str = "vector",
        features_dim: int = 128,
        channels: tuple[int, ...] = (32, 64),
        embed_dim: int = 64,
        heads: int = 4,
        layers: int = 1,
    ) -> None:
        if not isinstance(observation_space, gym.spaces.Dict) or set(observation_space.spaces) != {
            "observation",
            "action_mask",
        }:
            raise CgfsimError(
                "masked policies need dict observations {observation, action_mask} (dict_obs=True)"
            )
        if obs_mode not in OBS_MODES:
            raise CgfsimError(f"unknown observation mode {obs_mode!r}; expected one of {OBS_MODES}")
        box = observation_space["observation"]
        shape = tuple(int(s) for s in box.shape or ())
        dim = math.prod(shape) if obs_mode == "vector" else int(features_dim)
        super().__init__(observation_space, dim)
        self.obs_mode = obs_mode
        self.encoder: nn.Module
        if obs_mode == "vector":
            self.encoder = nn.Flatten()
        elif obs_mode == "grid":
            self.encoder = GridEncoder(shape[0], dim, tuple(channels))
        else:
            self.encoder = EntityEncoder(shape[-1], dim, embed_dim, heads, layers)
        self.mask: Tensor | None = None

    def forward(self, observations: dict[str, Tensor]) -> Tensor:
        self.mask = observations["action_mask"]
        return self.encoder(observations["observation"])


class _MaskedHead:
    """Mixin for SB3 actor-critic policies: masked logits in every action distribution."""

    pi_features_extractor: BaseFeaturesExtractor
    action_net: nn.Module
    action_dist: Any

    def _get_action_dist_from_latent(self, latent_pi: Tensor) -> Distribution:
        ext = self.pi_features_extractor
        mask = getattr(ext, "mask", None)
        if mask is None:
            raise RuntimeError("masked policy: no action mask for this batch (call the extractor)")
        ext.mask = None  # type: ignore[assignment]
        logits = self.action_net(latent_pi)
        if mask.shape != logits.shape:
            raise RuntimeError(f"action mask {tuple(mask.shape)} != logits {tuple(logits.shape)}")
        logits = torch.where(mask > 0.5, logits, torch.full_like(logits, MASKED_LOGIT))
        dist: Distribution = self.action_dist.proba_distribution(action_logits=logits)
        return dist


class MaskedActorCriticPolicy(_MaskedHead, ActorCriticPolicy):
    """PPO / A2C policy over valid actions (dict observations with ``action_mask``)."""


class CgfRecurrentPolicy(RecurrentActorCriticPolicy):
    """RecurrentPPO's ``MlpLstmPolicy`` with a faster, numerically identical LSTM pass.

    sb3-contrib's training minibatches are padded sequences that may begin
    with an episode start but never contain one later; its
    ``_process_sequence`` then steps the LSTM one tick at a time in Python.
    Zeroing those sequences' initial states and running the LSTM once over
    the whole sequence computes the same thing several times faster.
    """

    @staticmethod
    def _process_sequence(
        features: torch.Tensor,
        lstm_states: tuple[torch.Tensor, torch.Tensor],
        episode_starts: torch.Tensor,
        lstm: torch.nn.LSTM,
    ) -> tuple[torch.Tensor, Any]:  # (output, (h, c)); sb3-contrib annotates it loosely
        n_seq = lstm_states[0].shape[1]
        seq = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)
        if seq.shape[0] > 1 and not bool(starts[1:].any()):
            keep = (1.0 - starts[0]).view(1, n_seq, 1)
            out, states = lstm(seq, (keep * lstm_states[0], keep * lstm_states[1]))
            return torch.flatten(out.transpose(0, 1), start_dim=0, end_dim=1), states
        return RecurrentActorCriticPolicy._process_sequence(
            features, lstm_states, episode_starts, lstm
        )


class MaskedRecurrentPolicy(_MaskedHead, CgfRecurrentPolicy):
    """RecurrentPPO policy over valid actions (dict observations with ``action_mask``)."""


__all__ = [
    "CgfRecurrentPolicy",
    "MaskedActorCriticPolicy",
    "MaskedObsExtractor",
    "MaskedRecurrentPolicy",
]
