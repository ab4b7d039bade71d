"""One set of torch policies for every learner (RL, GA, BC), so comparisons are fair.

:class:`CgfPolicy` is ``encoder -> [lstm] -> pi -> action_net`` and its layer
names and order are a contract:

- ``encoder``: ``nn.Flatten`` for ``vector`` observations (no parameters, the
  feature size is D), :class:`~cgfsim.agents.encoders.GridEncoder` for
  ``grid``, :class:`~cgfsim.agents.encoders.EntityEncoder` for ``entities``;
- ``lstm``: ``nn.LSTM(features, lstm_hidden)``, one layer, sequence-first,
  only for ``core="lstm"`` (parameters ``weight_ih_l0, weight_hh_l0,
  bias_ih_l0, bias_hh_l0``; gates in torch order i, f, g, o);
- ``pi``: ``nn.Sequential`` of ``Linear, activation, [LayerNorm], [Dropout]``
  per entry of ``hidden`` (``dropout`` is one rate for every layer or one per
  layer, as Keras models of the DL-CGF talk set ``dropout1``, ``dropout2``);
- ``action_net``: ``nn.Linear(hidden[-1], n_units * n_actions)``.

``named_parameters()`` yields them in that order, so a GA can treat a policy
as one flat vector (``parameters_to_vector`` / ``vector_to_parameters``).
The layout mirrors SB3: ``ActorCriticPolicy`` with ``net_arch=dict(pi=hidden,
vf=hidden)`` has ``features_extractor -> mlp_extractor.policy_net ->
action_net`` and RecurrentPPO puts ``lstm_actor`` before ``mlp_extractor``;
:mod:`cgfsim.agents.export` copies those weights over one to one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from cgfsim.agents.encoders import EntityEncoder, GridEncoder
from cgfsim.sim.errors import CgfsimError

OBS_MODES = ("vector", "grid", "entities")
CORES = ("mlp", "lstm")
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}
#: Logit of a masked action; the value sb3-contrib's MaskableCategorical uses.
MASKED_LOGIT = -1e8
#: Observation rank of each mode: vector (D,), entities (N, F), grid (C, H, W).
OBS_RANK = {"vector": 1, "entities": 2, "grid": 3}

LstmState = tuple[Tensor, Tensor]


#: Upper bounds checked before any tensor is built: a spec read from a file cannot make
#: cgfsim allocate gigabytes (a [40000, 40000] hidden layer is 6.4 GB of float32).
SIZE_LIMITS = {
    "obs_shape": 10_000_000,
    "n_units": 1024,
    "n_actions": 4096,
    "hidden": 8192,
    "lstm_hidden": 8192,
    "features_dim": 8192,
    "cnn_channels": 1024,
    "embed_dim": 4096,
    "attn_heads": 64,
    "attn_layers": 16,
}
_INT_FIELDS = ("n_units", "n_actions", "lstm_hidden", "features_dim", "embed_dim", "attn_heads")


def _tuple(x: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in x)


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_types(spec: PolicySpec) -> None:
    """Types of a spec's fields, checked first: a spec may come from an untrusted JSON file."""
    for name in ("obs_shape", "hidden", "cnn_channels"):
        v = getattr(spec, name)
        if isinstance(v, str | bytes) or not isinstance(v, Sequence | np.ndarray):
            raise CgfsimError(f"policy {name} must be a list of integers, got {v!r:.60}")
        if not all(_is_int(x) for x in v):
            raise CgfsimError(f"policy {name} must be a list of integers, got {list(v)!r:.60}")
    for name in (*_INT_FIELDS, "attn_layers"):
        if not _is_int(getattr(spec, name)):
            raise CgfsimError(f"policy {name} must be an integer, got {getattr(spec, name)!r:.60}")
    for name in ("obs_mode", "core", "activation"):
        if not isinstance(getattr(spec, name), str):
            raise CgfsimError(f"policy {name} must be a string, got {getattr(spec, name)!r:.60}")
    if not isinstance(spec.layer_norm, bool):
        raise CgfsimError(f"policy layer_norm must be true or false, got {spec.layer_norm!r:.60}")
    d = spec.dropout
    rates = d if isinstance(d, Sequence | np.ndarray) and not isinstance(d, str | bytes) else [d]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in rates):
        raise CgfsimError(
            f"policy dropout must be a number or a list of numbers, got {spec.dropout!r:.60}"
        )


@dataclass
class PolicySpec:
    """Everything needed to rebuild a :class:`CgfPolicy`; JSON-serialisable via :meth:`to_dict`."""

    obs_mode: str
    obs_shape: tuple[int, ...]
    n_units: int
    n_actions: int
    core: str = "mlp"
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "tanh"
    dropout: float | tuple[float, ...] = 0.0  # one rate, or one per hidden layer
    layer_norm: bool = False
    lstm_hidden: int = 128
    features_dim: int = 128
    cnn_channels: tuple[int, ...] = field(default=(32, 64))
    embed_dim: int = 64
    attn_heads: int = 4
    attn_layers: int = 1

    def __post_init__(self) -> None:
        _check_types(self)
        self.obs_shape = _tuple(self.obs_shape)
        self.hidden = _tuple(self.hidden)
        self.cnn_channels = _tuple(self.cnn_channels)
        if self.obs_mode not in OBS_MODES:
            raise CgfsimError(f"policy obs_mode must be one of {OBS_MODES}, got {self.obs_mode!r}")
        if self.core not in CORES:
            raise CgfsimError(f"policy core must be one of {CORES}, got {self.core!r}")
        if self.activation not in ACTIVATIONS:
            raise CgfsimError(
                f"policy activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}"
            )
        if len(self.obs_shape) != OBS_RANK[self.obs_mode]:
            raise CgfsimError(
                f"{self.obs_mode} observations have rank {OBS_RANK[self.obs_mode]}, "
                f"got shape {self.obs_shape}"
            )
        if isinstance(self.dropout, int | float):
            self.dropout = float(self.dropout)
            rates: tuple[float, ...] = (self.dropout,)
        else:
            self.dropout = rates = tuple(float(x) for x in self.dropout)
            if len(rates) != len(self.hidden):
                raise CgfsimError(
                    f"policy dropout lists one rate per hidden layer: {len(self.hidden)} "
                    f"layers {list(self.hidden)}, got {len(rates)} rates {list(rates)}"
                )
        if not all(0.0 <= x < 1.0 for x in rates):
            raise CgfsimError(f"policy dropout must be in [0, 1), got {self.dropout}")
        if min(getattr(self, k) for k in (*_INT_FIELDS, "attn_layers")) < 1:
            raise CgfsimError(
                f"policy sizes ({', '.join((*_INT_FIELDS, 'attn_layers'))}) must be >= 1"
            )
        if self.obs_mode == "entities" and self.embed_dim % self.attn_heads:
            raise CgfsimError(
                f"embed_dim {self.embed_dim} must be divisible by attn_heads {self.attn_heads}"
            )
        if min((*self.obs_shape, *self.hidden, *self.cnn_channels)) < 1:
            raise CgfsimError(
                f"policy obs_shape, hidden and cnn_channels need entries >= 1, got "
                f"{self.obs_shape}, {self.hidden}, {self.cnn_channels}"
            )
        for name, limit in SIZE_LIMITS.items():
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            if name == "obs_shape":
                values = (math.prod(value),)
            if len(values) > 16 or max(values, default=0) > limit:
                raise CgfsimError(
                    f"policy {name} {value} is out of range (at most {limit:,}"
                    f"{'' if name != 'obs_shape' else ' elements'} per entry, 16 entries)"
                )

    @property
    def encoder_dim(self) -> int:
        """Size of the encoder's output: D for vector observations, else ``features_dim``."""
        return math.prod(self.obs_shape) if self.obs_mode == "vector" else self.features_dim

    @property
    def n_logits(self) -> int:
        return self.n_units * self.n_actions

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("obs_shape", "hidden", "cnn_channels"):
            d[k] = list(d[k])
        if isinstance(d["dropout"], tuple):
            d["dropout"] = list(d["dropout"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PolicySpec:
        """Inverse of :meth:`to_dict`; unknown or missing keys are a :class:`CgfsimError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise CgfsimError(f"policy spec has unknown fields {unknown}")
        try:
            return cls(**d)
        except TypeError as e:
            raise CgfsimError(f"policy spec is incomplete: {e}") from None

    @classmethod
    def from_spaces(
        cls,
        observation_space: gym.Space,
        action_space: gym.Space,
        obs_mode: str | None = None,
        **kwargs: Any,
    ) -> PolicySpec:
        """Spec for an env's spaces; the obs mode follows from the Box rank unless given."""
        if not isinstance(observation_space, gym.spaces.Box):
            raise CgfsimError(f"policies need a Box observation space, got {observation_space}")
        if not isinstance(action_space, gym.spaces.MultiDiscrete):
            raise CgfsimError(f"policies need a MultiDiscrete action space, got {action_space}")
        nvec = np.asarray(action_space.nvec).reshape(-1)
        if not (nvec == nvec[0]).all():
            raise CgfsimError(f"every unit must have the same number of actions, got {nvec}")
        shape = _tuple(observation_space.shape)
        if obs_mode is None:
            by_rank = {v: k for k, v in OBS_RANK.items()}
            if len(shape) not in by_rank:
                raise CgfsimError(f"cannot infer the obs mode of shape {shape}")
            obs_mode = by_rank[len(shape)]
        return cls(obs_mode, shape, len(nvec), int(nvec[0]), **kwargs)


def build_encoder(spec: PolicySpec) -> nn.Module:
    """The encoder for ``spec.obs_mode`` (shared with the SB3 extractors)."""
    if spec.obs_mode == "vector":
        return nn.Flatten()
    if spec.obs_mode == "grid":
        return GridEncoder(spec.obs_shape[0], spec.features_dim, spec.cnn_channels)
    return EntityEncoder(
        spec.obs_shape[-1], spec.features_dim, spec.embed_dim, spec.attn_heads, spec.attn_layers
    )


def build_mlp(
    in_dim: int,
    hidden: Sequence[int],
    activation: str,
    layer_norm: bool,
    dropout: float | Sequence[float],
) -> nn.Sequential:
    """``Linear, act, [LayerNorm], [Dropout]`` per hidden size, like SB3's policy_net.

    ``dropout``: one rate for every layer, or one per layer (a rate of 0 adds no module).
    """
    rates = [float(dropout)] * len(hidden) if isinstance(dropout, int | float) else dropout
    layers: list[nn.Module] = []
    for h, p in zip(hidden, rates, strict=True):
        layers += [nn.Linear(in_dim, h), ACTIVATIONS[activation]()]
        if layer_norm:
            layers.append(nn.LayerNorm(h))
        if p > 0:
            layers.append(nn.Dropout(p))
        in_dim = h
    return nn.Sequential(*layers)


def _ortho_init(module: nn.Module, gain: float) -> None:
    """SB3's initialisation (orthogonal weights, zero biases), so all learners start alike."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class CgfPolicy(nn.Module):
    """Categorical policy over ``n_units`` heads of ``n_actions`` (see the module docstring)."""

    def __init__(self, spec: PolicySpec, ortho_init: bool = True) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = build_encoder(spec)
        in_dim = spec.encoder_dim
        self.lstm: nn.LSTM | None = None
        if spec.core == "lstm":
            self.lstm = nn.LSTM(in_dim, spec.lstm_hidden, num_layers=1)
            in_dim = spec.lstm_hidden
        self.pi = build_mlp(in_dim, spec.hidden, spec.activation, spec.layer_norm, spec.dropout)
        last = spec.hidden[-1] if spec.hidden else in_dim
        self.action_net = nn.Linear(last, spec.n_logits)
        if ortho_init:
            _ortho_init(self.encoder, math.sqrt(2))
            _ortho_init(self.pi, math.sqrt(2))
            _ortho_init(self.action_net, 0.01)

    @property
    def recurrent(self) -> bool:
        return self.lstm is not None

    def initial_state(self, batch: int) -> LstmState | None:
        """Zero ``(h, c)``, each ``(1, batch, lstm_hidden)`` as in SB3; ``None`` for mlp."""
        if self.lstm is None:
            return None
        z = torch.zeros(1, batch, self.spec.lstm_hidden, device=self.action_net.weight.device)
        return (z, z.clone())

    def forward(
        self,
        obs: Tensor,
        state: LstmState | None = None,
        episode_start: Tensor | None = None,
        action_mask: Tensor | None = None,
    ) -> tuple[Tensor, LstmState | None]:
        """One step for a batch: logits ``(B, n_units, n_actions)`` and the next state.

        ``episode_start[i]`` true zeroes world i's LSTM state before this step
        (SB3's convention: it flags the first observation of an episode).
        ``action_mask`` (flat ``(B, n_units*n_actions)`` or ``(B, n_units,
        n_actions)``, true = allowed) sets forbidden logits to -1e8.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.action_net.weight.device)
        b = obs.shape[0]
        x = self.encoder(obs)
        if self.lstm is not None:
            h, c = state if state is not None else self.initial_state(b)  # type: ignore[misc]
            if episode_start is not None:
                keep = 1.0 - torch.as_tensor(episode_start, dtype=x.dtype, device=x.device)
                keep = keep.view(1, b, 1)
                h, c = h * keep, c * keep
            out, state = self.lstm(x.unsqueeze(0), (h, c))
            x = out.squeeze(0)
        logits = self.action_net(self.pi(x)).view(b, self.spec.n_units, self.spec.n_actions)
        if action_mask is not None:
            mask = torch.as_tensor(action_mask, device=logits.device).bool().view(logits.shape)
            logits = torch.where(mask, logits, torch.full_like(logits, MASKED_LOGIT))
        return logits, state

    def forward_sequence(
        self,
        obs: Tensor,
        state: LstmState | None = None,
        episode_start: Tensor | None = None,
        action_mask: Tensor | None = None,
    ) -> tuple[Tensor, LstmState | None]:
        """Time-major rollout: obs ``(T, B, ...)`` -> logits ``(T, B, n_units, n_actions)``."""
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.action_net.weight.device)
        t, b = obs.shape[:2]
        if self.lstm is None:
            flat_mask = None if action_mask is None else action_mask.reshape(t * b, -1)
            logits, _ = self.forward(obs.reshape(t * b, *obs.shape[2:]), None, None, flat_mask)
            return logits.view(t, b, *logits.shape[1:]), None
        outs = []
        for i in range(t):
            logits, state = self.forward(
                obs[i],
                state,
                None if episode_start is None else episode_start[i],
                None if action_mask is None else action_mask[i],
            )
            outs.append(logits)
        return torch.stack(outs), state

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        state: LstmState | None = None,
        episode_start: np.ndarray | None = None,
        action_mask: np.ndarray | None = None,
        deterministic: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[np.ndarray, LstmState | None]:
        """Actions ``(B, n_units)`` int64 for numpy observations (greedy by default).

        Always runs in eval mode (no dropout): acting is never training. An
        unbatched observation (one world) gives an unbatched ``(n_units,)``.
        """
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == len(self.spec.obs_shape)
        if single:
            x = x[None]
            if episode_start is not None:
                episode_start = np.asarray(episode_start).reshape(1)
            if action_mask is not None:
                action_mask = np.asarray(action_mask)[None]
        was_training = self.training
        self.eval()
        try:
            logits, state = self.forward(
                torch.from_numpy(x),
                state,
                None if episode_start is None else torch.as_tensor(np.asarray(episode_start)),
                None if action_mask is None else torch.as_tensor(np.asarray(action_mask)),
            )
        finally:
            self.train(was_training)
        if deterministic:
            a = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits.view(-1, self.spec.n_actions), dim=-1)
            a = torch.multinomial(probs, 1, generator=generator).view(logits.shape[:2])
        out = a.cpu().numpy().astype(np.int64)
        return (out[0] if single else out), state


def build_policy(spec: PolicySpec, seed: int | None = None) -> CgfPolicy:
    """A freshly initialised policy; with ``seed`` its weights do not touch the global RNG."""
    if seed is None:
        return CgfPolicy(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CgfPolicy(spec)
