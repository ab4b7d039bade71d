"""P networks of one architecture evaluated in one pass: the GA's fast path.

Individuals are flat float32 vectors in ``parameters_to_vector(CgfPolicy(spec)
.parameters())`` order, so any of them loads into a
:class:`~cgfsim.agents.networks.CgfPolicy` with ``vector_to_parameters``
(:func:`to_policy`). :class:`PopulationPolicy` slices the stacked vectors into
per-layer weight stacks and runs every layer as one batched matmul
(``torch.baddbmm``) over the P individuals; the LSTM cell is written out by
hand because ``vmap`` has no batching rule for ``nn.LSTM``. Hidden state is
``(P, K, H)`` and zeroed per world when its episode starts.

The one-individual reference is the same code with P = 1, and
:class:`PopulationEvaluator` gives individual p the world keys ``seed + k``
(k < K) whatever its position, so evaluating a whole population and each
individual alone agree exactly (common random numbers: every individual of a
call faces the same worlds). Only ``vector`` observations are supported (the
encoder is ``nn.Flatten``, with no parameters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cgfsim.agents.evaluation import _quotas, run_episodes
from cgfsim.agents.networks import MASKED_LOGIT, CgfPolicy, PolicySpec
from cgfsim.sim.errors import CgfsimError

_LAYOUTS: dict[str, list[tuple[str, tuple[int, ...]]]] = {}


def layout(spec: PolicySpec) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every parameter in flat-vector order."""
    check_spec(spec)
    key = repr(spec.to_dict())
    if key not in _LAYOUTS:
        with torch.device("meta"):
            pol = CgfPolicy(spec, ortho_init=False)
        _LAYOUTS[key] = [(n, tuple(p.shape)) for n, p in pol.named_parameters()]
    return list(_LAYOUTS[key])


def n_params(spec: PolicySpec) -> int:
    return sum(math.prod(s) for _, s in layout(spec))


def check_spec(spec: PolicySpec) -> None:
    """Population evaluation handles vector observations with mlp or lstm cores."""
    if spec.obs_mode != "vector":
        raise CgfsimError(
            f"population (GA) evaluation supports vector observations only, not {spec.obs_mode!r}"
        )


def initial_genomes(spec: PolicySpec, n: int, seed: int) -> np.ndarray:
    """(n, N) float32: n freshly initialised CgfPolicies (SB3-style init), seeded."""
    from torch.nn.utils import parameters_to_vector

    out = np.empty((n, n_params(spec)), np.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for i in range(n):
            out[i] = parameters_to_vector(CgfPolicy(spec).parameters()).detach().numpy()
    return out


def to_policy(spec: PolicySpec, genome: np.ndarray | Tensor) -> CgfPolicy:
    """A CgfPolicy (eval mode) holding one flat genome."""
    from torch.nn.utils import vector_to_parameters

    pol = CgfPolicy(spec, ortho_init=False)
    vec = torch.as_tensor(np.asarray(genome, np.float32).reshape(-1))
    if vec.numel() != n_params(spec):
        raise CgfsimError(f"genome has {vec.numel()} weights, the policy needs {n_params(spec)}")
    vector_to_parameters(vec, pol.parameters())
    return pol.eval()


def from_policy(policy: CgfPolicy) -> np.ndarray:
    """The flat float32 genome of a CgfPolicy."""
    from torch.nn.utils import parameters_to_vector

    return parameters_to_vector(policy.parameters()).detach().cpu().numpy().astype(np.float32)


class PopulationPolicy:
    """P CgfPolicies of one spec as stacked weights; :meth:`forward` runs them all at once."""

    def __init__(self, spec: PolicySpec, genomes: np.ndarray | Tensor) -> None:
        check_spec(spec)
        g = torch.as_tensor(np.asarray(genomes, np.float32))
        if g.ndim == 1:
            g = g[None]
        lay = layout(spec)
        total = sum(math.prod(s) for _, s in lay)
        if g.ndim != 2 or g.shape[1] != total:
            raise CgfsimError(f"genomes must be (P, {total}), got {tuple(g.shape)}")
        self.spec, self.P = spec, int(g.shape[0])
        params: dict[str, Tensor] = {}
        off = 0
        for name, shape in lay:
            n = math.prod(shape)
            params[name] = g[:, off : off + n].reshape(self.P, *shape)
            off += n

        def lin(prefix: str) -> tuple[Tensor, Tensor]:
            # (P, in, out) contiguous weights and (P, 1, out) biases for baddbmm
            w = params[f"{prefix}.weight"].transpose(1, 2).contiguous()
            return w, params[f"{prefix}.bias"].unsqueeze(1).contiguous()

        self.lstm: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
        if spec.core == "lstm":
            self.lstm = (
                params["lstm.weight_ih_l0"].transpose(1, 2).contiguous(),
                params["lstm.weight_hh_l0"].transpose(1, 2).contiguous(),
                params["lstm.bias_ih_l0"].unsqueeze(1).contiguous(),
                params["lstm.bias_hh_l0"].unsqueeze(1).contiguous(),
            )
        self.ops: list[tuple[str, Any]] = []
        with torch.device("meta"):
            template = CgfPolicy(spec, ortho_init=False)
        for i, m in enumerate(template.pi):
            kind = type(m).__name__
            if kind == "Linear":
                self.ops.append(("linear", lin(f"pi.{i}")))
            elif kind in ("Tanh", "ReLU"):
                self.ops.append((kind.lower(), None))
            elif kind == "LayerNorm":
                w, b = params[f"pi.{i}.weight"], params[f"pi.{i}.bias"]
                self.ops.append(("layernorm", (w.unsqueeze(1), b.unsqueeze(1), m.eps)))
            elif kind != "Dropout":  # dropout is the identity when acting
                raise CgfsimError(f"population evaluation cannot run a {kind} layer")
        self.head = lin("action_net")

    def initial_state(self, k: int) -> tuple[Tensor, Tensor] | None:
        """Zero (h, c), each (P, K, lstm_hidden); None for mlp."""
        if self.lstm is None:
            return None
        z = torch.zeros(self.P, k, self.spec.lstm_hidden)
        return (z, z.clone())

    @torch.no_grad()
    def forward(
        self,
        obs: Tensor | np.ndarray,
        state: tuple[Tensor, Tensor] | None = None,
        episode_start: Tensor | np.ndarray | None = None,
        action_mask: Tensor | np.ndarray | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """obs (P, K, D) -> logits (P, K, n_units, n_actions) and the next state.

        ``episode_start`` (P, K) zeroes those worlds' LSTM state first; ``action_mask``
        (P, K, n_units, n_actions) or flat, true = allowed, sets forbidden logits to -1e8.
        """
        x = torch.as_tensor(obs, dtype=torch.float32)
        P, K = x.shape[:2]
        x = x.reshape(P, K, -1)
        if self.lstm is not None:
            w_ih, w_hh, b_ih, b_hh = self.lstm
            h, c = state if state is not None else self.initial_state(K)  # type: ignore[misc]
            if episode_start is not None:
                keep = 1.0 - torch.as_tensor(episode_start, dtype=torch.float32).reshape(P, K, 1)
                h, c = h * keep, c * keep
            # the same op order as torch's CPU LSTM cell: linear_hh(h) + linear_ih(x)
            gates = torch.baddbmm(b_hh, h, w_hh).add_(torch.baddbmm(b_ih, x, w_ih))
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            state, x = (h, c), h
        for kind, p in self.ops:
            if kind == "linear":
                x = torch.baddbmm(p[1], x, p[0])
            elif kind == "tanh":
                x = torch.tanh(x)
            elif kind == "relu":
                x = torch.relu(x)
            else:
                # addcmul rounds like nn.LayerNorm's fused affine (checked bit for bit)
                x = torch.addcmul(
                    p[1], torch.nn.functional.layer_norm(x, x.shape[-1:], eps=p[2]), p[0]
                )
        logits = torch.baddbmm(self.head[1], x, self.head[0])
        logits = logits.view(P, K, self.spec.n_units, self.spec.n_actions)
        if action_mask is not None:
            mask = torch.as_tensor(np.asarray(action_mask)).bool().view(logits.shape)
            logits = torch.where(mask, logits, torch.full_like(logits, MASKED_LOGIT))
        return logits, state


@dataclass
class PopulationResult:
    """Counted episodes of each individual, (P, K) arrays in world order."""

    outcome: np.ndarray  # +1 win, 0 draw, -1 loss
    ret: np.ndarray  # env return of each episode
    length: np.ndarray  # ticks
    env_steps: int  # world-steps inside the counted episodes (the data the GA consumed)
    executed_steps: int  # world-steps simulated by the batch, counted or not

    def fitness(self, shaping: float = 0.0) -> np.ndarray:
        """(P,) mean outcome (+1/0/-1) plus ``shaping`` x mean env return."""
        return self.outcome.mean(1) + shaping * self.ret.mean(1)

    @property
    def win_rate(self) -> np.ndarray:
        return (self.outcome == 1).mean(1)


class PopulationEvaluator:
    """One batched env of P x K worlds, reused across generations.

    World p * K + k has key ``seed + k``: all individuals of a call face the same K
    worlds, and an individual gets the same worlds whether it is evaluated with others
    or alone. Each world's first episode is counted; actions are greedy.
    """

    def __init__(
        self,
        spec: PolicySpec,
        scenario: Any,
        opponent: Any,
        pop_size: int,
        episodes: int,
        side: str = "blue",
        masked: bool = False,
    ) -> None:
        from cgfsim.agents.evaluation import _resolve_opponent
        from cgfsim.envs.batched import BatchedCommanderEnv

        check_spec(spec)
        if pop_size < 1 or episodes < 1:
            raise CgfsimError(f"population ({pop_size}) and episodes ({episodes}) must be >= 1")
        self.spec, self.P, self.K, self.masked = spec, int(pop_size), int(episodes), masked
        self.opponent_name, opp = _resolve_opponent(opponent, True, 0)
        try:
            self.env = BatchedCommanderEnv(
                scenario, self.P * self.K, side=side, opponent=opp, obs="vector", autoreset=False
            )
        except ValueError as e:
            raise CgfsimError(str(e)) from None
        if isinstance(opponent, str) and not callable(opp):
            self.opponent_name = self.env.opponent_name
        from cgfsim.agents.checkpoints import check_compatible

        check_compatible(spec, self.env.observation_space, self.env.action_space, "GA policy")

    def __call__(self, genomes: np.ndarray | Sequence[np.ndarray], seed: int) -> PopulationResult:
        """Evaluate (P, N) genomes on worlds seeded ``seed + k``."""
        g = np.asarray(genomes, np.float32)
        if g.ndim == 1:
            g = g[None]
        if g.shape[0] != self.P:
            raise ValueError(f"this evaluator holds {self.P} individuals, got {g.shape[0]}")
        net = PopulationPolicy(self.spec, g)
        P, K = self.P, self.K
        holder: dict[str, Any] = {"state": net.initial_state(K)}

        def act(obs: np.ndarray, start: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
            m = None if mask is None else mask.reshape(P, K, -1)
            logits, holder["state"] = net.forward(
                torch.from_numpy(obs).view(P, K, -1),
                holder["state"],
                torch.from_numpy(start).view(P, K),
                m,
            )
            return logits.argmax(-1).view(P * K, -1).numpy()

        seeds = np.tile(np.int64(seed) + np.arange(K, dtype=np.int64), P)
        r = run_episodes(self.env, act, _quotas(P * K, P * K), seeds, self.masked)
        return PopulationResult(
            r.outcome.reshape(P, K).astype(np.float64),
            r.ret.reshape(P, K),
            r.length.reshape(P, K),
            r.env_steps,
            r.executed_steps,
        )


def evaluate_genomes(
    spec: PolicySpec,
    genomes: np.ndarray,
    scenario: str | Path | Any,
    opponent: Any,
    episodes: int,
    seed: int = 0,
    side: str = "blue",
    masked: bool = False,
) -> PopulationResult:
    """One-shot :class:`PopulationEvaluator` (builds the env; reuse an evaluator in loops)."""
    g = np.asarray(genomes, np.float32).reshape(-1, n_params(spec))
    ev = PopulationEvaluator(spec, scenario, opponent, len(g), episodes, side, masked)
    return ev(g, seed)
