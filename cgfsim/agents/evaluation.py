"""Headless, batched evaluation of any policy against any opponent on a scenario.

Counting rule: the result covers the FIRST complete episodes of every world,
a fixed quota per world (one each when ``n_envs`` is the number of
episodes). Counting "whatever finished within a horizon" would over-weight
short episodes (quick wins or quick losses), so worlds that have met their
quota keep running (the batch steps as one) but are no longer counted.

Worlds do not auto-reset here: a finished world stays frozen until the loop
has read its outcome, and is reset (next episode of the same key) only if it
still owes episodes. World i of a run with seed s has key s + i, so results
equal B single Gymnasium envs seeded s, s + 1, ... and do not depend on how
many worlds share the batch.

Players (the evaluated ``policy`` and the ``opponent``) may be:

- a doctrine name (``"assault"``, ``"random"``...);
- a checkpoint folder (``policy.json`` + ``policy.pt``) or a loaded
  :class:`~cgfsim.agents.networks.CgfPolicy`;
- a folder exported by ``cgfsim export`` (``policy.onnx`` + ``contract.json``) or a
  loaded :class:`~cgfsim.agents.export_onnx.player.OnnxPolicy`: the network then runs
  in ONNX Runtime, as a host simulator would run it;
- for the policy, any callable ``(obs, state, episode_start, mask) -> actions``
  (or ``-> (actions, state)``), actions ``(B, n_units)`` in the side's
  canonical frame; for the opponent, any ``fn(engine, side) -> actions`` in
  the engine's frame (the doctrine signature).

Networks act greedily (argmax) unless ``deterministic=False`` (sampled from a
seeded torch generator); the mode is stated in every result.

Replays of evaluated networks also store what the network saw in its options:
per unit and tick, the action probabilities it chose from (after masking).
cgfsim checkpoints hold the actor only (export drops SB3's critic), so a value
estimate is stored only for callables that return one: a policy callable may
return ``(actions, state, {"probs": (B, n_units, n_actions), "value": (B,)})``
with probabilities in its own canonical frame.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.metrics import rate_rows, wilson_interval

if TYPE_CHECKING:
    from cgfsim.agents.export_onnx.player import OnnxPolicy
    from cgfsim.agents.networks import CgfPolicy
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.scenario import Scenario

__all__ = [
    "EpisodeRecords",
    "EvalResult",
    "evaluate",
    "load_player",
    "policy_opponent",
    "run_episodes",
    "wilson_interval",
]

#: (obs, episode_start, mask) -> (B, n_units) canonical actions; the loop's view of a policy.
ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]
EngineFn = Callable[["Engine", int], np.ndarray]
#: Where a player leaves its last decision's outputs for replays: ``probs`` (B, n_units,
#: n_actions) in the side's canonical frame and/or ``value`` ((B,) or (B, n_units)).
Trace = dict[str, np.ndarray]
#: Cap on worlds per batch when ``n_envs`` is not given (memory stays small on big maps).
MAX_DEFAULT_WORLDS = 1024


# --------------------------------------------------------------------------- results


@dataclass
class EvalResult:
    """Outcome statistics of ``episodes`` counted episodes, from the evaluated side's view."""

    scenario: str
    policy: str
    opponent: str
    side: str
    obs: str
    action_mode: str  # "greedy" | "sampled" | "scripted" (doctrine) | "callable"
    seed: int
    episodes: int
    wins: int
    draws: int
    losses: int
    mean_return: float
    std_return: float
    mean_length: float
    own_losses: float  # mean units lost per episode
    enemy_losses: float  # mean enemy units destroyed per episode
    survival: float  # own units alive at the end / own units present, over all episodes
    env_steps: int  # world-steps inside the counted episodes
    n_envs: int
    masked: bool = False
    wall_s: float = 0.0

    def _rate(self, k: int) -> tuple[float, float, float]:
        lo, hi = wilson_interval(k, self.episodes)
        return (k / self.episodes if self.episodes else 0.0, lo, hi)

    @property
    def win_rate(self) -> float:
        return self._rate(self.wins)[0]

    @property
    def draw_rate(self) -> float:
        return self._rate(self.draws)[0]

    @property
    def loss_rate(self) -> float:
        return self._rate(self.losses)[0]

    @property
    def win_ci(self) -> tuple[float, float]:
        return self._rate(self.wins)[1:]

    @property
    def exchange_ratio(self) -> float:
        """Enemy losses per own loss: ``inf`` when none of ours died but enemies did, nan if
        nobody died."""
        if self.own_losses > 0:
            return self.enemy_losses / self.own_losses
        return math.inf if self.enemy_losses > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict: rates with Wilson 95% bounds; a non-finite exchange ratio is
        ``None`` (see ``own_losses``/``enemy_losses``)."""
        d = asdict(self)
        for name, k in (("win", self.wins), ("draw", self.draws), ("loss", self.losses)):
            r, lo, hi = self._rate(k)
            d[f"{name}_rate"], d[f"{name}_ci_low"], d[f"{name}_ci_high"] = r, lo, hi
        x = self.exchange_ratio
        d["exchange_ratio"] = x if math.isfinite(x) else None
        return d

    def table(self) -> str:
        """A readable block: header line, W/D/L with 95% Wilson intervals, other metrics."""
        x = self.exchange_ratio
        xs = f"{x:.2f}" if math.isfinite(x) else ("inf" if x > 0 else "n/a")
        lines = [
            f"{self.scenario}: {self.policy} ({self.side}, {self.obs}) vs {self.opponent}, "
            f"{self.episodes} episodes, seed {self.seed}, actions: {self.action_mode}"
            + (" over valid actions (masked)" if self.masked else " (unmasked)"),
        ]
        counts = [("wins", self.wins), ("draws", self.draws), ("losses", self.losses)]
        lines += rate_rows(counts, self.episodes, width=8)
        lines.append(
            f"mean return {self.mean_return:.3f} (sd {self.std_return:.3f}); mean length "
            f"{self.mean_length:.1f} ticks; exchange ratio {xs} (enemy lost "
            f"{self.enemy_losses:.2f}, own lost {self.own_losses:.2f} per episode); "
            f"survival {self.survival:.1%}"
        )
        return "\n".join(lines)


@dataclass
class EpisodeRecords:
    """Per counted episode, ordered by world then episode index (the loop's raw output)."""

    world: np.ndarray  # (N,) int64
    outcome: np.ndarray  # (N,) int: +1 win, 0 draw, -1 loss for the evaluated side
    ret: np.ndarray  # (N,) float64 sum of the side's env rewards
    length: np.ndarray  # (N,) int64 ticks
    own_losses: np.ndarray  # (N,) int64
    enemy_losses: np.ndarray  # (N,) int64
    own_present: int  # units the side fields at the start of every episode
    executed_steps: int  # world-steps the batch simulated, counted or not

    @property
    def env_steps(self) -> int:
        return int(self.length.sum())

    def summary(self) -> dict[str, Any]:
        """The :class:`EvalResult` statistics of these episodes."""
        n = len(self.outcome)
        present = self.own_present * n
        return {
            "episodes": n,
            "wins": int((self.outcome == 1).sum()),
            "draws": int((self.outcome == 0).sum()),
            "losses": int((self.outcome == -1).sum()),
            "mean_return": float(self.ret.mean()),
            "std_return": float(self.ret.std()),
            "mean_length": float(self.length.mean()),
            "own_losses": float(self.own_losses.mean()),
            "enemy_losses": float(self.enemy_losses.mean()),
            "survival": float(1 - self.own_losses.sum() / present) if present else 0.0,
            "env_steps": self.env_steps,
        }


# --------------------------------------------------------------------------- the loop


def _quotas(episodes: int, n_envs: int) -> np.ndarray:
    """Episodes owed by each world: as even as possible, the first worlds take the rest."""
    q = np.full(n_envs, episodes // n_envs, np.int64)
    q[: episodes % n_envs] += 1
    return q


def _joint_actions(env: BatchedCommanderEnv, a: np.ndarray, log: list[np.ndarray] | None) -> Any:
    """(B, U) engine-frame actions of both sides, for replays."""
    from cgfsim.envs.observations import to_engine_actions

    joint = np.zeros((env.num_envs, env.engine.U), np.int64)
    joint[:, env._own] = to_engine_actions(np.asarray(a), env.side)
    if log:
        joint[:, env._other] = log[-1]
    return joint


def policy_outputs(
    engine: Engine, traces: dict[int, Trace] | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The players' last outputs (per side, canonical frame) as ``ReplayRecorder.record``
    takes them: engine-frame (B, U, A) probabilities and (B, U) values, or Nones."""
    from cgfsim.envs.observations import to_engine_actions
    from cgfsim.sim.replay import side_policy

    full: tuple[np.ndarray, np.ndarray] | None = None
    given = set()
    for side, tr in (traces or {}).items():
        probs, value = tr.get("probs"), tr.get("value")
        if probs is not None:
            probs = np.asarray(probs)
            # canonical action a is engine action to_engine(a); the mapping is an involution
            probs = probs[..., to_engine_actions(np.arange(probs.shape[-1]), side)]
            given.add("probs")
        if value is not None:
            given.add("value")
        if probs is not None or value is not None:
            full = side_policy(engine, side, probs, value, into=full)
    if full is None:
        return None, None
    return (full[0] if "probs" in given else None), (full[1] if "value" in given else None)


def run_episodes(
    env: BatchedCommanderEnv,
    act: ActFn,
    quotas: np.ndarray,
    seeds: int | np.ndarray,
    masked: bool = False,
    recorder: Any = None,
    opponent_log: list[np.ndarray] | None = None,
    traces: dict[int, Trace] | None = None,
) -> EpisodeRecords:
    """Play until world i has finished its first ``quotas[i]`` episodes; return them.

    ``env`` must be built with ``autoreset=False``. ``seeds``: an int s (world i gets key
    s + i) or one key per world (e.g. the same keys repeated, for common random numbers).
    ``recorder``: a :class:`cgfsim.sim.replay.ReplayRecorder` fed until it is finished;
    it needs ``opponent_log`` (filled by the opponent wrapper) to store joint actions,
    and stores the policy outputs the players leave in ``traces`` (side -> :data:`Trace`).
    """
    if env.autoreset:
        raise ValueError("run_episodes needs an env built with autoreset=False")
    e = env.engine
    B = env.num_envs
    quotas = np.asarray(quotas, np.int64)
    if quotas.shape != (B,):
        raise ValueError(f"expected {B} quotas, got shape {quotas.shape}")
    keys = seeds if isinstance(seeds, int | np.integer) else np.asarray(seeds, np.int64)
    obs = np.asarray(env.reset(keys))
    own, other = env._own, env._other
    start = np.ones(B, bool)
    count = np.zeros(B, np.int64)
    ret = np.zeros(B, np.float64)
    recs: list[tuple[np.ndarray, ...]] = []
    executed = 0
    if recorder is not None:
        recorder.record()
    while (count < quotas).any():
        mask = env.action_masks().reshape(B, env.n_own, env.n_actions) if masked else None
        a = act(obs, start, mask)
        o, r, term, trunc, _ = env.step(a)
        obs = np.asarray(o)
        executed += B
        ret += r
        start[:] = False
        if recorder is not None and not recorder.finished:
            probs, value = policy_outputs(e, traces)
            recorder.record(_joint_actions(env, a, opponent_log), probs, value)
        done = term | trunc
        if not done.any():
            continue
        idx = np.flatnonzero(done)
        take = idx[count[idx] < quotas[idx]]
        if take.size:
            out = e.outcome[take].astype(np.int64)
            res = np.where(out == 3, 0, np.where(out == 1 + env.side, 1, -1))
            dead = e.present[None] & ~e.alive[take]
            recs.append(
                (
                    take,
                    res,
                    ret[take].copy(),
                    e.tick[take].astype(np.int64),
                    dead[:, own].sum(1),
                    dead[:, other].sum(1),
                    count[take].copy(),
                )
            )
        count[idx] += 1
        again = idx[count[idx] < quotas[idx]]
        if again.size:
            m = np.zeros(B, bool)
            m[again] = True
            e.reset(m)
            obs[again] = env.observer.build(again)
            ret[again] = 0.0
            start[again] = True
    cols: list[np.ndarray] = [np.zeros(0, np.int64)] * 7
    if recs:
        cols = [np.concatenate(c) for c in zip(*recs, strict=True)]
        order = np.lexsort((cols[6], cols[0]))  # world, then episode index
        cols = [c[order] for c in cols]
    w, res, rt, length, lost, killed = cols[:6]
    return EpisodeRecords(w, res, rt, length, lost, killed, int(e.present[own].sum()), executed)


# --------------------------------------------------------------------------- players


def load_player(name: str | Path) -> tuple[str, Any]:
    """``("doctrine", name)`` or ``("policy", (network, spec, meta))`` for a player name.

    A doctrine name wins over a folder of the same name; anything else must be a
    checkpoint folder (network: a ``CgfPolicy``) or an exported folder with a
    ``contract.json`` (network: an ``OnnxPolicy`` run by ONNX Runtime), else a
    :class:`CgfsimError` names the possibilities.
    """
    from cgfsim.sim.doctrines import ALIASES, DOCTRINES

    s = str(name)
    if ALIASES.get(s, s) in DOCTRINES:
        return "doctrine", ALIASES.get(s, s)
    if not Path(s).exists():
        raise CgfsimError(
            f"unknown player {s!r}: not a doctrine ({', '.join(DOCTRINES)}), a checkpoint "
            "folder nor an exported folder"
        )
    from cgfsim.agents.export_onnx.player import is_exported, load_exported

    if is_exported(s):
        return "policy", load_exported(s)
    from cgfsim.agents.checkpoints import load_checkpoint

    return "policy", load_checkpoint(s)


def _networks() -> tuple[type[CgfPolicy], type[OnnxPolicy]]:
    """Classes evaluated as networks: torch's CgfPolicy and its ONNX Runtime export."""
    from cgfsim.agents.export_onnx.player import OnnxPolicy
    from cgfsim.agents.networks import CgfPolicy

    return (CgfPolicy, OnnxPolicy)


def _act_with_probs(
    policy: CgfPolicy | OnnxPolicy,
    obs: np.ndarray,
    state: Any,
    start: np.ndarray,
    mask: np.ndarray | None,
    deterministic: bool,
    gen: Any,
) -> tuple[np.ndarray, Any, np.ndarray]:
    """:meth:`CgfPolicy.act` on a batch that also returns the probabilities it chose from.

    The same operations in the same order (eval mode, masked logits, argmax or one
    multinomial draw per unit from the seeded generator), so recording a replay never
    changes what a policy does; a test holds the two to the same actions. An
    ``OnnxPolicy`` computes its logits without side effects, so they are read first.
    """
    import torch

    from cgfsim.agents.networks import CgfPolicy

    if not isinstance(policy, CgfPolicy):
        logits_np, _, _ = policy.logits(obs, state, start, mask)
        probs_t = torch.softmax(torch.from_numpy(logits_np).view(-1, policy.spec.n_actions), -1)
        acts, state = policy.act(
            obs, state, start, mask, deterministic=deterministic, generator=gen
        )
        return acts, state, probs_t.view(logits_np.shape).numpy()
    was_training = policy.training
    policy.eval()
    try:
        with torch.no_grad():
            logits, state = policy.forward(
                torch.from_numpy(np.asarray(obs, dtype=np.float32)),
                state,
                torch.as_tensor(np.asarray(start)),
                None if mask is None else torch.as_tensor(np.asarray(mask)),
            )
            probs = torch.softmax(logits.view(-1, policy.spec.n_actions), dim=-1)
            if deterministic:
                a = logits.argmax(dim=-1)
            else:
                a = torch.multinomial(probs, 1, generator=gen).view(logits.shape[:2])
    finally:
        policy.train(was_training)
    return a.cpu().numpy().astype(np.int64), state, probs.view(logits.shape).cpu().numpy()


def _network_act(
    policy: CgfPolicy | OnnxPolicy, deterministic: bool, seed: int, trace: Trace | None = None
) -> ActFn:
    """Wrap a CgfPolicy (or its ONNX export) as an ActFn that carries its state between calls.

    With ``trace``, each call also leaves its action probabilities there (for replays).
    """
    import torch

    gen = None if deterministic else torch.Generator().manual_seed(int(seed))
    holder: dict[str, Any] = {"state": None}

    def act(obs: np.ndarray, start: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if holder["state"] is None:
            holder["state"] = policy.initial_state(len(obs))
        if trace is not None:
            a, holder["state"], trace["probs"] = _act_with_probs(
                policy, obs, holder["state"], start, mask, deterministic, gen
            )
            return a
        a, holder["state"] = policy.act(
            obs, holder["state"], start, mask, deterministic=deterministic, generator=gen
        )
        return a

    return act


def policy_opponent(
    policy: CgfPolicy | OnnxPolicy,
    deterministic: bool = True,
    masked: bool = True,
    seed: int = 0,
    name: str | None = None,
    trace: Trace | None = None,
) -> EngineFn:
    """A frozen network as an engine-side opponent ``fn(engine, side) -> actions``.

    Builds that side's own observation (its canonical frame and fog of war) every call,
    keeps LSTM state per world and zeroes it when a world's tick is 0 (a new episode).
    Like every evaluated network it acts over valid actions unless ``masked=False``.
    With ``trace``, each call leaves its action probabilities there (canonical frame).
    """
    from cgfsim.envs.masks import MaskBuilder
    from cgfsim.envs.observations import ObservationBuilder, to_engine_actions

    cache: dict[str, Any] = {}
    act = None

    def fn(engine: Engine, side: int) -> np.ndarray:
        nonlocal act
        if cache.get("key") != (id(engine), side):
            cache.update(
                key=(id(engine), side),
                obs=ObservationBuilder(engine, side, policy.spec.obs_mode),
                mask=MaskBuilder(engine, side) if masked else None,
            )
            act = _network_act(policy, deterministic, seed, trace)
        mb = cache["mask"]
        assert act is not None
        a = act(cache["obs"].build(), engine.tick == 0, None if mb is None else mb.build())
        return to_engine_actions(a, side)

    fn.__name__ = name or "policy"
    return fn


# --------------------------------------------------------------------------- evaluate


def _use_mask(masked: bool | None) -> bool:
    """Network policies act greedily over *valid* actions unless told otherwise.

    The project's one evaluation mode for every learner (DESIGN.md): an
    impossible order is a no-op, and a greedy policy that picks one sees an
    unchanged state and repeats it forever, so unmasked greedy evaluation
    measures an argmax quirk (and swings widely between runs) rather than the
    learned behaviour. A CGF in a simulator never issues impossible orders.
    ``masked=False`` evaluates the raw argmax.
    """
    return True if masked is None else bool(masked)


def _doctrine_act(name: str, env: BatchedCommanderEnv) -> ActFn:
    """A doctrine on the evaluated side, its engine-frame actions made canonical."""
    from cgfsim.envs.observations import to_engine_actions
    from cgfsim.sim.doctrines import get_doctrine

    doc, e, side = get_doctrine(name), env.engine, env.side

    def act(obs: np.ndarray, start: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return to_engine_actions(doc(e, side), side)  # the mapping is its own inverse

    return act


def _resolve_policy(
    policy: Any, deterministic: bool, seed: int, masked: bool | None, trace: Trace | None = None
) -> tuple[str, Callable[[BatchedCommanderEnv], ActFn], Any, str, bool]:
    """(name, env -> act fn, spec or None, action mode, masked); networks and callables
    that report them leave their outputs in ``trace``."""
    name = getattr(policy, "__name__", type(policy).__name__)
    if isinstance(policy, str | Path):
        kind, what = load_player(policy)
        name = str(policy)
        if kind == "doctrine":
            return what, lambda env: _doctrine_act(what, env), None, "scripted", False
        policy = what[0]
    if isinstance(policy, _networks()):
        m = _use_mask(masked)
        mode = "greedy" if deterministic else "sampled"
        if name in ("CgfPolicy", "OnnxPolicy"):
            onnx = "ONNX " if name == "OnnxPolicy" else ""
            name = f"{onnx}{policy.spec.core}-{policy.spec.obs_mode} policy"
        net = policy
        return name, lambda env: _network_act(net, deterministic, seed, trace), net.spec, mode, m
    if not callable(policy):
        raise CgfsimError(
            f"cannot evaluate {policy!r}: expected a doctrine name, a checkpoint, "
            "a CgfPolicy or a callable"
        )
    holder: dict[str, Any] = {"state": None}
    fn = policy

    def act(obs: np.ndarray, start: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        out = fn(obs, holder["state"], start, mask)
        if isinstance(out, tuple) and len(out) == 3:
            out, holder["state"], info = out
            if trace is not None:
                trace.clear()
                trace.update({k: np.asarray(v) for k, v in info.items() if k in ("probs", "value")})
        elif isinstance(out, tuple):
            out, holder["state"] = out
        return np.asarray(out)

    return name, lambda env: act, None, "callable", bool(masked)


def _resolve_opponent(
    opponent: Any,
    deterministic: bool,
    seed: int,
    masked: bool | None = None,
    trace: Trace | None = None,
) -> tuple[str, Any]:
    nets = _networks()
    if opponent is None or (callable(opponent) and not isinstance(opponent, nets)):
        return getattr(opponent, "__name__", "scenario default"), opponent
    m = _use_mask(masked)
    if isinstance(opponent, nets):
        return "policy", policy_opponent(opponent, deterministic, m, seed + 1, trace=trace)
    kind, what = load_player(opponent)
    if kind == "doctrine":
        return what, what
    pol = what[0]
    return str(opponent), policy_opponent(
        pol, deterministic, m, seed + 1, str(opponent), trace=trace
    )


def evaluate(
    policy: Any,
    scenario: str | Path | Scenario,
    opponent: Any,
    episodes: int,
    obs: str | None = None,
    side: str = "blue",
    seed: int = 0,
    deterministic: bool = True,
    n_envs: int | None = None,
    masked: bool | None = None,
    replay: str | Path | None = None,
    replay_episodes: int = 1,
) -> EvalResult:
    """Play ``episodes`` counted episodes of ``policy`` (on ``side``) against ``opponent``.

    ``obs`` defaults to the network's own observation mode (``"vector"`` otherwise); asking
    for a different one is a :class:`CgfsimError`, as is a network that does not fit the
    scenario. ``n_envs`` worlds (default ``min(episodes, 1024)``) each play an equal share.
    Network policies (and checkpoint opponents) act over valid actions only unless
    ``masked=False`` (see :func:`_use_mask`); the mode is stated in the result.
    ``replay`` writes the first episode of the first ``replay_episodes`` worlds to
    that file, with the action probabilities of every network player (and the values
    of callables that report them).
    """
    from cgfsim.envs.batched import BatchedCommanderEnv

    if episodes < 1:
        raise CgfsimError(f"episodes must be >= 1, got {episodes}")
    t0 = time.perf_counter()
    side_i = 0 if side in ("blue", 0) else 1 if side in ("red", 1) else -1
    if side_i < 0:
        raise CgfsimError(f"side must be 'blue' or 'red', got {side!r}")
    # Players report their outputs only when a replay will store them.
    traces: dict[int, Trace] | None = {0: {}, 1: {}} if replay is not None else None
    own_trace = None if traces is None else traces[side_i]
    other_trace = None if traces is None else traces[1 - side_i]
    name, make_act, spec, mode, use_mask = _resolve_policy(
        policy, deterministic, seed, masked, own_trace
    )
    if spec is not None:
        if obs is not None and obs != spec.obs_mode:
            raise CgfsimError(
                f"{name} was trained on {spec.obs_mode} observations, "
                f"not {obs} (use obs={spec.obs_mode!r})"
            )
        obs = spec.obs_mode
    obs = obs or "vector"
    opp_name, opp = _resolve_opponent(opponent, deterministic, seed, masked, other_trace)
    n = min(episodes, MAX_DEFAULT_WORLDS) if n_envs is None else int(n_envs)
    if n < 1:
        raise CgfsimError(f"n_envs must be >= 1, got {n_envs}")
    try:
        env = BatchedCommanderEnv(scenario, n, side=side_i, opponent=opp, obs=obs, autoreset=False)
    except ValueError as e:
        raise CgfsimError(str(e)) from None
    if spec is not None:
        from cgfsim.agents.checkpoints import check_compatible

        check_compatible(spec, env.observation_space, env.action_space, where=name)
    if not callable(opp):
        opp_name = env.opponent_name
    log: list[np.ndarray] = []
    inner = env.opponent

    def logged(engine: Engine, s: int) -> np.ndarray:
        log[:] = [a := inner(engine, s)]
        return a

    env.opponent = logged
    rec = None
    if replay is not None:
        from cgfsim.sim.replay import ReplayRecorder

        rec = ReplayRecorder(env.engine, list(range(min(replay_episodes, n))))
        rec.meta.update(policy=name, opponent=opp_name, side=side, seed=seed, action_mode=mode)
    r = run_episodes(env, make_act(env), _quotas(episodes, n), seed, use_mask, rec, log, traces)
    if rec is not None and replay is not None:
        rec.save(replay)
    return EvalResult(
        scenario=env.scenario.name,
        policy=name,
        opponent=opp_name,
        side=("blue", "red")[side_i],
        obs=obs,
        action_mode=mode,
        seed=int(seed),
        n_envs=n,
        masked=use_mask,
        wall_s=time.perf_counter() - t0,
        **r.summary(),
    )
