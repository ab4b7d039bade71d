"""Export a trained SB3 / sb3-contrib model into a :class:`~cgfsim.agents.networks.CgfPolicy`.

Evaluation, explanation, GA seeding and checkpoints all use the one cgfsim
format, so an SB3 policy is copied over weight for weight:

============================================  ==========================
SB3 (PPO, A2C, MaskablePPO, RecurrentPPO)     CgfPolicy
============================================  ==========================
``pi_features_extractor`` (Flatten or our     ``encoder``
extractor's ``.encoder``, also the masked
regime's ``MaskedObsExtractor``)
``lstm_actor`` (RecurrentPPO only)            ``lstm``
``mlp_extractor.policy_net``                  ``pi``
``action_net``                                ``action_net``
============================================  ==========================

The critic is dropped: acting needs only the actor. A masked-regime policy
(dict observations with ``action_mask``) exports to the same CgfPolicy over
the ``observation`` part; its logits with the mask passed as ``action_mask``
equal SB3's masked ones. Policies built otherwise
(NatureCNN, several LSTM layers, image normalisation) are refused with a
:class:`~cgfsim.sim.errors.CgfsimError` rather than exported wrongly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from cgfsim.agents.encoders import EntityEncoder, EntityExtractor, GridEncoder, GridExtractor
from cgfsim.agents.networks import ACTIVATIONS, CgfPolicy, PolicySpec
from cgfsim.agents.sb3_policies import MaskedObsExtractor
from cgfsim.sim.errors import CgfsimError


def _mlp_layout(policy_net: nn.Sequential) -> tuple[tuple[int, ...], str]:
    hidden: list[int] = []
    acts: set[str] = set()
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    for m in policy_net:
        if isinstance(m, nn.Linear):
            hidden.append(m.out_features)
        elif type(m) in names:
            acts.add(names[type(m)])
        else:
            raise CgfsimError(f"cannot export a policy_net layer of type {type(m).__name__}")
    if len(acts) > 1:
        raise CgfsimError(f"cannot export a policy_net mixing activations {sorted(acts)}")
    return tuple(hidden), acts.pop() if acts else "tanh"


def _encoder_layout(enc: nn.Module) -> dict[str, Any]:
    """Spec fields of one of our encoders (nothing for ``nn.Flatten``)."""
    if isinstance(enc, GridEncoder):
        convs = [m for m in enc.cnn if isinstance(m, nn.Conv2d)]
        return {
            "obs_mode": "grid",
            "features_dim": enc.features_dim,
            "cnn_channels": tuple(c.out_channels for c in convs),
        }
    if isinstance(enc, EntityEncoder):
        layers = enc.transformer.layers
        return {
            "obs_mode": "entities",
            "features_dim": enc.features_dim,
            "embed_dim": enc.embed.out_features,
            "attn_heads": layers[0].self_attn.num_heads,
            "attn_layers": len(layers),
        }
    return {"obs_mode": "vector"}


def _encoder_kwargs(extractor: nn.Module, obs_space: gym.spaces.Box) -> dict[str, Any]:
    if isinstance(extractor, MaskedObsExtractor | GridExtractor | EntityExtractor):
        return _encoder_layout(extractor.encoder)
    if isinstance(extractor, FlattenExtractor):
        if len(obs_space.shape) != 1:
            raise CgfsimError(
                f"a flattened {obs_space.shape} observation is not a vector observation; "
                "train grid/entities policies with GridExtractor/EntityExtractor"
            )
        return {"obs_mode": "vector"}
    raise CgfsimError(
        f"cannot export features extractor {type(extractor).__name__}; "
        "use FlattenExtractor, GridExtractor, EntityExtractor or MaskedObsExtractor"
    )


def sb3_spec(model: Any) -> PolicySpec:
    """The :class:`PolicySpec` an SB3 model's actor corresponds to."""
    sb3 = model.policy
    obs_space, act_space = sb3.observation_space, sb3.action_space
    if isinstance(obs_space, gym.spaces.Dict) and "observation" in obs_space.spaces:
        obs_space = obs_space["observation"]  # the masked regime: the mask is not an input
    if getattr(sb3, "normalize_images", False) and is_image_space(obs_space, check_channels=False):
        raise CgfsimError("cannot export a policy trained with normalize_images=True on images")
    enc = _encoder_kwargs(sb3.pi_features_extractor, obs_space)
    hidden, activation = _mlp_layout(sb3.mlp_extractor.policy_net)
    kw: dict[str, Any] = {**enc, "hidden": hidden, "activation": activation}
    lstm = getattr(sb3, "lstm_actor", None)
    if lstm is not None:
        if lstm.num_layers != 1 or lstm.bidirectional or lstm.proj_size:
            raise CgfsimError("cannot export an actor LSTM with more than one plain layer")
        kw.update(core="lstm", lstm_hidden=lstm.hidden_size)
    obs_mode = kw.pop("obs_mode")
    return PolicySpec.from_spaces(obs_space, act_space, obs_mode=obs_mode, **kw)


def export_sb3(model: Any) -> tuple[CgfPolicy, PolicySpec]:
    """Copy an SB3 PPO/A2C/MaskablePPO/RecurrentPPO actor into an eval-mode CgfPolicy."""
    spec = sb3_spec(model)
    sb3 = model.policy
    with torch.random.fork_rng(devices=[]):  # exporting mid-training must not shift its RNG
        policy = CgfPolicy(spec, ortho_init=False)
    pairs: list[tuple[nn.Module, nn.Module]] = [
        (policy.pi, sb3.mlp_extractor.policy_net),
        (policy.action_net, sb3.action_net),
    ]
    if spec.obs_mode != "vector":
        pairs.append((policy.encoder, sb3.pi_features_extractor.encoder))
    if policy.lstm is not None:
        pairs.append((policy.lstm, sb3.lstm_actor))
    for dst, src in pairs:
        dst.load_state_dict({k: v.detach().cpu().clone() for k, v in src.state_dict().items()})
    policy.eval()
    return policy, spec


#: Architecture fields of a PolicySpec and the SB3 hyperparameter that builds each.
ARCH_KEYS = (
    "hidden",
    "activation",
    "features_dim",
    "lstm_hidden",
    "cnn_channels",
    "embed_dim",
    "attn_heads",
    "attn_layers",
)


def init_hparams(spec: PolicySpec, hparams: dict[str, Any] | None) -> dict[str, Any]:
    """``hparams`` with the architecture of ``spec``, so SB3 builds a network it fits into.

    An explicit, different architecture value in ``hparams`` is an error (the weights
    could not be copied); SB3 has no LayerNorm in its policy net, so a layer-norm
    policy cannot start an RL run. Dropout is identity at inference and is dropped.
    """
    if spec.layer_norm:
        raise CgfsimError(
            "cannot start RL from a layer_norm policy: SB3's policy network has no LayerNorm "
            "(train the BC policy with layer_norm=false)"
        )
    out = dict(hparams or {})
    d = spec.to_dict()
    for k in ARCH_KEYS:
        want = d[k]
        if k in out:
            given = list(out[k]) if isinstance(out[k], list | tuple) else out[k]
            if given != want:
                raise CgfsimError(
                    f"hyperparameter {k}={out[k]!r} conflicts with the initial policy's "
                    f"{k}={want!r}; drop it or use the same value"
                )
        out[k] = want
    return out


def load_into_sb3(model: Any, policy: CgfPolicy) -> None:
    """Copy a CgfPolicy's actor into an SB3 model: the inverse of :func:`export_sb3`.

    The critic (value net, critic LSTM) keeps its fresh initialisation. Raises
    :class:`CgfsimError` when the SB3 actor's layout differs from the policy's.
    """
    target = sb3_spec(model)
    src = policy.spec
    same = {
        k: getattr(src, k) == getattr(target, k)
        for k in ("obs_mode", "obs_shape", "n_units", "n_actions", "core", "hidden", "activation")
    }
    if not all(same.values()):
        bad = [k for k, ok in same.items() if not ok]
        raise CgfsimError(
            f"the initial policy does not fit the SB3 model ({', '.join(bad)} differ: "
            f"{[getattr(src, k) for k in bad]} vs {[getattr(target, k) for k in bad]})"
        )
    sb3 = model.policy
    pi = [m for m in policy.pi if isinstance(m, nn.Linear)]
    sb3_pi = [m for m in sb3.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    pairs: list[tuple[nn.Module, nn.Module]] = [
        *zip(sb3_pi, pi, strict=True),
        (sb3.action_net, policy.action_net),
    ]
    if src.obs_mode != "vector":
        pairs.append((sb3.pi_features_extractor.encoder, policy.encoder))
    if policy.lstm is not None:
        pairs.append((sb3.lstm_actor, policy.lstm))
    device = next(sb3.parameters()).device
    with torch.no_grad():
        for dst, s in pairs:
            dst.load_state_dict(
                {k: v.detach().to(device).clone() for k, v in s.state_dict().items()}
            )
