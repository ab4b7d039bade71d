"""Which observation features drive a policy: permutation importance and gradient saliency.

Everything here starts from the states a policy visits: :func:`visit` plays the
policy (greedy over valid actions, as every evaluation does) on worlds of one key
split and records every observation it acted on, its action mask and its action.

- :func:`agreement_importance`: for each feature group of the observation layout
  (:meth:`~cgfsim.envs.observations.ObservationBuilder.group_indices`: terrain, own
  units, enemy memory, visible enemies, engagement, objective, score, time, mask),
  the group's values in every recorded state are replaced by those of another
  recorded state (one random permutation of the states), the policy acts again,
  and the **drop in agreement** with its own actions is measured over decisions
  (unit slots with more than one valid action). A group the policy ignores cannot
  change any action: its drop is exactly 0.
- :func:`win_rate_importance`: the same replacement inside play (every tick, each
  world's group values are taken from a random recorded state), measured as the
  **drop in win rate** against the unchanged policy on the same test worlds.
- :func:`saliency`: the gradient of the chosen actions' logits with respect to the
  observation; :func:`group_saliency` sums it by feature group, and
  :func:`saliency_overlay` draws a ``grid`` observation's saliency over the map.

The decision-tree distillation and the flexibility-versus-interpretability table
are in :mod:`cgfsim.agents.explain_tree`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cgfsim.agents.networks import OBS_RANK, CgfPolicy
from cgfsim.sim.errors import CgfsimError

#: Axis of the feature (group) index in one observation: vector elements, grid channels,
#: entity columns.
OBS_FEATURE_AXIS = {"vector": 0, "grid": 0, "entities": 1}


@dataclass
class Visits:
    """States a policy visited, time-major: ``obs`` (T, B, *shape), ``start`` (T, B) first
    observation of an episode, ``mask`` (T, B, U, A), ``actions`` (T, B, U) the policy's
    greedy valid actions, ``valid`` (T, B) the step belongs to the world's episode (a world
    that has finished stays frozen and is not recorded)."""

    obs: np.ndarray
    start: np.ndarray
    mask: np.ndarray
    actions: np.ndarray
    valid: np.ndarray
    frames: dict[tuple[int, int], np.ndarray]  # (tick, world) -> RGB map of the moment

    @property
    def n_states(self) -> int:
        return int(self.valid.sum())

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(obs (N, *shape), mask (N, U, A), actions (N, U)) of the valid states."""
        v = self.valid
        return self.obs[v], self.mask[v], self.actions[v]


def check_fits(policy: CgfPolicy, scenario: Any, side: str = "blue", where: str = "") -> Any:
    """The scenario (resolved); a :class:`CgfsimError` if the policy cannot play it."""
    from cgfsim.agents.checkpoints import check_compatible
    from cgfsim.envs._common import get_scenario
    from cgfsim.envs.batched import BatchedCommanderEnv

    sc = get_scenario(scenario)
    env = BatchedCommanderEnv(sc, 1, side=side, obs=policy.spec.obs_mode, autoreset=False)
    check_compatible(
        policy.spec,
        env.observation_space,
        env.action_space,
        where=where or f"policy ({policy.spec.obs_mode}) on scenario {sc.name}",
    )
    return sc


def visit(
    policy: CgfPolicy,
    scenario: Any,
    opponent: Any,
    keys: int | np.ndarray,
    worlds: int,
    side: str = "blue",
    frames: Sequence[tuple[int, int]] = (),
) -> Visits:
    """Play each of ``worlds`` worlds (keys ``keys + i``, or one key per world) for one
    episode with the policy, greedy over valid actions; record every state it acted on.

    ``frames`` lists (tick, world) moments whose rendered map (the side's picture, in the
    engine's frame) is kept, for saliency overlays.
    """
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.sim.render import render_rgb

    side_i = 0 if side == "blue" else 1
    env = BatchedCommanderEnv(
        scenario, worlds, side=side_i, opponent=opponent, obs=policy.spec.obs_mode, autoreset=False
    )
    obs = np.asarray(env.reset(keys))
    B = worlds
    state = policy.initial_state(B)
    done = np.zeros(B, bool)
    start = np.ones(B, bool)
    rows: list[tuple[np.ndarray, ...]] = []
    want = set(frames)
    pics: dict[tuple[int, int], np.ndarray] = {}
    t = 0
    while not done.all():
        mask = env.action_masks().reshape(B, env.n_own, env.n_actions)
        for w in range(B):
            if (t, w) in want and not done[w]:
                pics[(t, w)] = render_rgb(env.engine, w, side=side_i)
        a, state = policy.act(obs, state, start, mask)
        rows.append((obs.copy(), start.copy(), mask.copy(), a.copy(), ~done))
        o, _, term, trunc, _ = env.step(a)
        obs = np.asarray(o)
        done |= term | trunc
        start[:] = False
        t += 1
    o, s, m, act, valid = (np.stack(c) for c in zip(*rows, strict=True))
    return Visits(o, s, m, act, valid, pics)


# --------------------------------------------------------------------------- acting


@torch.no_grad()
def replay_actions(
    policy: CgfPolicy, obs: np.ndarray, start: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """The policy's greedy valid actions on recorded states: (N, U) for a flat batch
    (mlp), or (T, B, U) for time-major sequences (lstm: its memory runs through them)."""
    if not policy.recurrent:
        out = []
        for i in range(0, len(obs), 4096):
            a, _ = policy.act(obs[i : i + 4096], action_mask=mask[i : i + 4096])
            out.append(a)
        return np.concatenate(out) if out else np.zeros((0, policy.spec.n_units), np.int64)
    state = policy.initial_state(obs.shape[1])
    acts = []
    for t in range(obs.shape[0]):
        a, state = policy.act(obs[t], state, start[t], mask[t])
        acts.append(a)
    return np.stack(acts)


def feature_axis(mode: str, ndim: int) -> int:
    """Axis of the feature positions in an array of observations with ``ndim`` dimensions."""
    return ndim - OBS_RANK[mode] + OBS_FEATURE_AXIS[mode]


def _replace(x: np.ndarray, donor: np.ndarray, idx: Sequence[int], mode: str) -> np.ndarray:
    """``x`` with the feature positions ``idx`` taken from ``donor`` (same shape)."""
    out = x.copy()
    sl: list[Any] = [slice(None)] * x.ndim
    sl[feature_axis(mode, x.ndim)] = np.asarray(idx, np.int64)
    out[tuple(sl)] = donor[tuple(sl)]
    return out


def decisions(mask: np.ndarray) -> np.ndarray:
    """Unit slots that had a choice (more than one valid action)."""
    return np.asarray(mask).sum(-1) > 1


def agreement_importance(
    policy: CgfPolicy,
    visits: Visits,
    groups: dict[str, list[int]],
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per group: agreement of the policy with its own actions when the group's values are
    permuted across the recorded states (mean over ``repeats`` permutations), and the drop
    (1 - agreement). Agreement counts decisions only."""
    mode = policy.spec.obs_mode
    base = replay_actions(policy, *_inputs(policy, visits))
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for name, idx in groups.items():
        agree = []
        for _ in range(repeats):
            obs, start, mask = _inputs(policy, visits)
            perm = _permutation(policy, visits, rng)
            rank = OBS_RANK[mode]
            donor = obs.reshape(-1, *obs.shape[obs.ndim - rank :])[perm].reshape(obs.shape)
            acts = replay_actions(policy, _replace(obs, donor, idx, mode), start, mask)
            d = decisions(mask) & _valid(policy, visits)[..., None]
            agree.append(float((acts == base)[d].mean()) if d.any() else 1.0)
        a = float(np.mean(agree))
        out[name] = {"agreement": a, "drop": 1.0 - a, "features": len(idx)}
    return out


def _inputs(policy: CgfPolicy, v: Visits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(obs, start, mask): flat valid states for mlp, whole sequences for lstm."""
    if policy.recurrent:
        return v.obs, v.start, v.mask
    o, m, _ = v.flat()
    return o, np.zeros(len(o), bool), m


def _valid(policy: CgfPolicy, v: Visits) -> np.ndarray:
    return v.valid if policy.recurrent else np.ones(v.n_states, bool)


def _permutation(policy: CgfPolicy, v: Visits, rng: np.random.Generator) -> np.ndarray:
    """Donor index of every position of the (flattened) input: a permutation of the valid
    states (lstm: positions of invalid steps keep themselves)."""
    if not policy.recurrent:
        return rng.permutation(v.n_states)
    flat_valid = np.flatnonzero(v.valid.reshape(-1))
    donor = np.arange(v.valid.size)
    donor[flat_valid] = flat_valid[rng.permutation(flat_valid.size)]
    return donor


class PermutedPolicy:
    """A network whose observation group ``idx`` is replaced, every tick and world, by the
    values of a random state of ``pool`` (an evaluation callable, greedy over valid actions)."""

    def __init__(
        self, policy: CgfPolicy, idx: Sequence[int], pool: np.ndarray, seed: int = 0
    ) -> None:
        self.policy, self.idx, self.pool = policy, list(idx), pool
        self.rng = np.random.default_rng(seed)
        self.__name__ = "permuted"

    def __call__(
        self, obs: np.ndarray, state: Any, start: np.ndarray, mask: np.ndarray | None
    ) -> tuple[np.ndarray, Any]:
        if state is None:
            state = self.policy.initial_state(len(obs))
        donor = self.pool[self.rng.integers(len(self.pool), size=len(obs))]
        x = _replace(np.asarray(obs, np.float32), donor, self.idx, self.policy.spec.obs_mode)
        return self.policy.act(x, state, start, mask)


def win_rate_importance(
    policy: CgfPolicy,
    scenario: Any,
    opponent: Any,
    groups: dict[str, list[int]],
    pool: np.ndarray,
    episodes: int,
    seed: int,
    side: str = "blue",
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The policy's win rate on worlds ``seed + i`` and, per group, the win rate with that
    group's values drawn from ``pool`` every tick: (baseline result, per-group drop)."""
    from cgfsim.agents.evaluation import evaluate

    mode = policy.spec.obs_mode
    base = evaluate(policy, scenario, opponent, episodes, obs=mode, side=side, seed=seed)
    out: dict[str, dict[str, float]] = {}
    for k, (name, idx) in enumerate(groups.items()):
        fn = PermutedPolicy(policy, idx, pool, seed=seed + 7 * k)
        r = evaluate(fn, scenario, opponent, episodes, obs=mode, side=side, seed=seed, masked=True)
        out[name] = {
            "win_rate": r.win_rate,
            "drop": base.win_rate - r.win_rate,
            "ci_low": r.win_ci[0],
            "ci_high": r.win_ci[1],
        }
    return base.to_dict(), out


# --------------------------------------------------------------------------- saliency


def saliency(
    policy: CgfPolicy,
    obs: np.ndarray,
    mask: np.ndarray,
    state: Any = None,
) -> np.ndarray:
    """|d logit(chosen action) / d obs|, summed over unit slots, for a batch (N, *shape).

    The chosen action is the greedy valid one; units without a choice are left out. LSTM
    policies take ``state`` (the memory before these observations), held fixed.
    """
    was = policy.training
    policy.eval()
    try:
        x = torch.tensor(np.asarray(obs, np.float32), requires_grad=True)
        m = torch.as_tensor(np.asarray(mask, bool))
        logits, _ = policy.forward(x, state, None, m)
        pick = logits.argmax(-1, keepdim=True)
        choice = torch.as_tensor(decisions(mask), dtype=logits.dtype)
        chosen = logits.gather(-1, pick).squeeze(-1) * choice
        chosen.sum().backward()
        assert x.grad is not None
        return np.abs(x.grad.numpy())
    finally:
        policy.train(was)


def group_saliency(
    sal: np.ndarray, groups: dict[str, list[int]], mode: str
) -> dict[str, dict[str, float]]:
    """Each group's share of the total saliency, and its mean per feature position."""
    ax = feature_axis(mode, sal.ndim)
    per = sal.sum(axis=tuple(i for i in range(sal.ndim) if i != ax))
    total = float(per.sum()) or 1.0
    return {
        g: {"share": float(per[idx].sum()) / total, "per_feature": float(per[idx].mean())}
        for g, idx in groups.items()
    }


def saliency_overlay(
    path: str | Path,
    frame: np.ndarray,
    sal: np.ndarray,
    flip: bool,
    title: str,
    cell_px: int,
    top_channels: list[tuple[str, float]],
) -> Path:
    """PNG: the rendered map, and the map with the saliency of one grid observation
    (summed over channels, in the engine's frame) laid over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cgfsim.agents.runs import atomic_write_bytes

    heat = sal.sum(0)
    if flip:  # red's canonical frame shows map row r as H - 1 - r
        heat = heat[::-1]
    heat = heat / (heat.max() or 1.0)
    big = np.kron(heat, np.ones((cell_px, cell_px)))
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    axes[0].imshow(frame)
    axes[0].set_title("map (side's picture)")
    axes[1].imshow(frame)
    im = axes[1].imshow(big, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
    axes[1].set_title("gradient saliency (all channels)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[1], fraction=0.046, label="|d logit / d obs|, scaled to 1")
    top = ", ".join(f"{n} {s:.0%}" for n, s in top_channels)
    fig.suptitle(f"{title}\nlargest channels: {top}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def feature_groups(scenario: Any, mode: str, side: str = "blue") -> dict[str, list[int]]:
    """Positions of each observation group on the feature axis (the layout's own table)."""
    from cgfsim.envs.observations import ObservationBuilder
    from cgfsim.sim.engine import Engine

    ob = ObservationBuilder(Engine(scenario, 1), 0 if side == "blue" else 1, mode)
    return ob.group_indices()


def check_groups(groups: dict[str, list[int]], names: Sequence[str] | None) -> dict[str, list[int]]:
    if not names:
        return groups
    bad = [g for g in names if g not in groups]
    if bad:
        raise CgfsimError(f"unknown feature group {bad[0]!r}; expected one of {', '.join(groups)}")
    return {g: groups[g] for g in names}


__all__ = [
    "PermutedPolicy",
    "Visits",
    "agreement_importance",
    "check_fits",
    "feature_groups",
    "group_saliency",
    "saliency",
    "saliency_overlay",
    "visit",
    "win_rate_importance",
]
