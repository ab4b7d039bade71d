"""A league: training against doctrines and frozen snapshots of the learner, sampled by PFSP.

The learner trains on one batched env whose opponent is a
:class:`~cgfsim.envs.opponents.PerWorldOpponent`: every world draws its
opponent per episode from the league, worlds that share an opponent are
stepped together (a doctrine vectorised over its worlds, a network in one
batched forward pass over its worlds), and each finished episode updates the
statistics of the opponent that world played.

**Members** are doctrines, checkpoints (frozen networks) and ``self``: the
learner's own snapshots, taken every ``snapshot_every`` env steps and capped
at ``max_snapshots`` (the oldest leaves first); a league of ``self`` alone
starts from a snapshot of the initial policy. A member group has a
*weight*: ``doctrines`` (all of them) and ``self`` split their weight evenly
over their current members; a named doctrine or checkpoint has its own.

**Prioritised fictitious self-play** (AlphaStar's PFSP, Vinyals et al. 2019):
member i is drawn with probability

    p_i = (1 - eps) * w_i f(x_i) / sum_j w_j f(x_j)  +  eps * w_i / sum_j w_j,
    f(x) = (1 - x) ** exponent,

where x_i is the learner's recent win rate against i (its last ``window``
episodes, with one virtual half win so an unplayed member starts at 0.5). A
draw is not a win: opponents the learner only draws with stay in the mix, so
waiting out the clock is not rewarded with easier opponents. ``exponent = 0``
gives a fixed mixture by weight; ``eps`` (``uniform_mix``) keeps every member
visited, so a forgotten counter is noticed.

Config (a TOML file, or the CLI form ``--league doctrines,self``)::

    [league]
    members = { doctrines = 1.0, self = 1.0 }   # doctrine names, "doctrines", "self",
                                                # checkpoint folders (relative to this file)
    pfsp_exponent = 2.0
    uniform_mix = 0.1
    window = 200             # recent episodes per member behind x_i
    snapshot_every = 100000  # env steps between snapshots of the learner ("self")
    max_snapshots = 8
    snapshot_actions = "sample"   # or "greedy"; checkpoints always act greedily
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from cgfsim.agents.networks import CgfPolicy
from cgfsim.envs.opponents import DoctrinePlayer, PerWorldOpponent, Player
from cgfsim.sim.doctrines import ALIASES, DOCTRINES
from cgfsim.sim.errors import CgfsimError

if TYPE_CHECKING:
    from cgfsim.agents.evaluation import EvalResult
    from cgfsim.sim.engine import Engine

SELF, ALL_DOCTRINES = "self", "doctrines"
ACTION_MODES = ("sample", "greedy")
_SETTINGS = {
    "pfsp_exponent": float,
    "uniform_mix": float,
    "window": int,
    "snapshot_every": int,
    "max_snapshots": int,
    "snapshot_actions": str,
}


# ------------------------------------------------------------------ config


@dataclass
class LeagueConfig:
    """Members (name -> weight) and the PFSP / snapshot settings of a league."""

    members: dict[str, float]
    pfsp_exponent: float = 2.0
    uniform_mix: float = 0.1
    window: int = 200
    snapshot_every: int = 100_000
    max_snapshots: int = 8
    snapshot_actions: str = "sample"
    source: str = "--league"

    def __post_init__(self) -> None:
        where = self.source
        if not self.members:
            raise CgfsimError(f"{where}: a league needs at least one member")
        for name, w in self.members.items():
            if not (isinstance(w, int | float) and not isinstance(w, bool)) or not (
                math.isfinite(w) and w > 0
            ):
                raise CgfsimError(
                    f"{where}: members.{name}: weight must be a number > 0, got {w!r}"
                )
        if not (math.isfinite(self.pfsp_exponent) and self.pfsp_exponent >= 0):
            raise CgfsimError(f"{where}: pfsp_exponent must be >= 0, got {self.pfsp_exponent}")
        if not 0.0 <= self.uniform_mix <= 1.0:
            raise CgfsimError(f"{where}: uniform_mix must be in [0, 1], got {self.uniform_mix}")
        if self.window < 1:
            raise CgfsimError(f"{where}: window must be >= 1 episode, got {self.window}")
        if self.snapshot_every < 0 or self.max_snapshots < 1:
            raise CgfsimError(
                f"{where}: snapshot_every must be >= 0 env steps (0: never) and max_snapshots >= 1"
            )
        if self.snapshot_actions not in ACTION_MODES:
            raise CgfsimError(
                f"{where}: snapshot_actions must be one of {ACTION_MODES}, got "
                f"{self.snapshot_actions!r}"
            )
        if SELF in self.members and self.snapshot_every == 0:
            raise CgfsimError(f"{where}: member 'self' needs snapshot_every > 0")

    @property
    def doctrines(self) -> list[str]:
        """The doctrine members (the group ``doctrines`` expanded), in registry order."""
        names: set[str] = set()
        for m in self.members:
            if m == ALL_DOCTRINES:
                names.update(DOCTRINES)
            elif ALIASES.get(m, m) in DOCTRINES:
                names.add(ALIASES.get(m, m))
        return [d for d in DOCTRINES if d in names]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _member_kind(name: str, where: str) -> str:
    if name in (SELF, ALL_DOCTRINES):
        return name
    if ALIASES.get(name, name) in DOCTRINES:
        return "doctrine"
    if Path(name).is_dir():
        return "checkpoint"
    raise CgfsimError(
        f"{where}: unknown league member {name!r}; expected a doctrine "
        f"({', '.join(DOCTRINES)}), 'doctrines', 'self' or a checkpoint folder"
    )


def load_league_toml(path: str | Path) -> LeagueConfig:
    """A :class:`LeagueConfig` from a TOML file (see the module docstring)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CgfsimError(f"league config {p}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CgfsimError(f"league config {p}: not valid TOML ({e})") from None
    where = f"league config {p}"
    lg = data.get("league")
    if not isinstance(lg, dict) or set(data) != {"league"}:
        raise CgfsimError(f"{where}: expected one [league] table (and nothing else)")
    unknown = sorted(set(lg) - {"members", *_SETTINGS})
    if unknown:
        raise CgfsimError(
            f"{where}: unknown league fields {unknown}; expected members, {', '.join(_SETTINGS)}"
        )
    raw = lg.get("members")
    if not isinstance(raw, dict) or not raw:
        raise CgfsimError(f"{where}: members must be a table of name = weight, e.g. {{self = 1.0}}")
    members: dict[str, float] = {}
    for name, w in raw.items():
        key = str(name)
        if key not in (SELF, ALL_DOCTRINES) and ALIASES.get(key, key) not in DOCTRINES:
            path = Path(key) if Path(key).is_absolute() else p.parent / key
            key = str(path) if path.is_dir() else key  # checkpoints: relative to this file
            _member_kind(key, where)
        members[key] = w
    kw: dict[str, Any] = {}
    for k, typ in _SETTINGS.items():
        if k in lg:
            v = lg[k]
            if typ is not str and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise CgfsimError(f"{where}: league.{k} must be a number, got {v!r}")
            if typ is int and isinstance(v, float) and not v.is_integer():
                raise CgfsimError(f"{where}: league.{k} must be an integer, got {v!r}")
            if typ is str and not isinstance(v, str):
                raise CgfsimError(f"{where}: league.{k} must be a string, got {v!r}")
            kw[k] = typ(v)
    return LeagueConfig(members, source=where, **kw)


def parse_league(spec: str | Path | LeagueConfig) -> LeagueConfig:
    """``doctrines,self``-style member lists and/or one ``FILE.toml`` (its settings and members).

    Every listed member has weight 1 (a group's weight is shared by its members).
    """
    if isinstance(spec, LeagueConfig):
        return spec
    text = str(spec)
    items = [s.strip() for s in text.split(",") if s.strip()]
    files = [s for s in items if s.endswith(".toml")]
    if len(files) > 1:
        raise CgfsimError(f"--league {text}: give at most one league config file")
    cfg = load_league_toml(files[0]) if files else None
    members = dict(cfg.members) if cfg else {}
    where = cfg.source if cfg else f"--league {text}"
    for s in items:
        if s in files:
            continue
        _member_kind(s, f"--league {text}")
        members[s] = members.get(s, 0.0) + 1.0
    settings = {k: getattr(cfg, k) for k in _SETTINGS} if cfg else {}
    return LeagueConfig(members, source=where, **settings)


def validate_league(config: LeagueConfig, scenario: Any, side: str | int = "blue") -> None:
    """Every member can play the learner's opponent side of ``scenario`` (before any work).

    Unknown names and checkpoints of another slot layout or observation size are a
    :class:`CgfsimError` naming the config and the member.
    """
    from cgfsim.agents.checkpoints import check_compatible, load_checkpoint
    from cgfsim.envs._common import side_index
    from cgfsim.envs.batched import BatchedCommanderEnv

    where = config.source
    opp_side = 1 - side_index(side)
    for name in config.members:
        kind = _member_kind(name, where)
        if kind != "checkpoint":
            continue
        try:
            _, spec, _ = load_checkpoint(name)
        except CgfsimError as e:
            raise CgfsimError(f"{where}: member {name!r}: {e}") from None
        probe = BatchedCommanderEnv(scenario, 1, side=opp_side, obs=spec.obs_mode)
        check_compatible(spec, probe.observation_space, probe.action_space, f"{where}: {name}")


# ------------------------------------------------------------------ players


class PolicyPlayer:
    """A frozen CgfPolicy as a league player: its own side's observations, one forward pass.

    Each call builds the observations and action masks of ``side`` (its fog of
    war, its canonical frame: red's map flipped) for the worlds ``idx`` only,
    runs the network once over them and maps the canonical actions back to the
    engine's frame. LSTM state is kept per world and zeroed at each episode start.
    """

    def __init__(self, policy: CgfPolicy, mode: str = "greedy", seed: int = 0) -> None:
        if mode not in ACTION_MODES:
            raise CgfsimError(f"player action mode must be one of {ACTION_MODES}, got {mode!r}")
        self.policy = policy.eval()
        self.mode = mode
        self.gen = torch.Generator().manual_seed(int(seed))
        self._key: tuple[int, int] | None = None
        self._builders: Any = None
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, engine: Engine, side: int, idx: np.ndarray) -> np.ndarray:
        from cgfsim.envs.masks import MaskBuilder
        from cgfsim.envs.observations import ObservationBuilder, to_engine_actions

        if self._key != (id(engine), side):
            self._key = (id(engine), side)
            self._builders = (
                ObservationBuilder(engine, side, self.policy.spec.obs_mode),
                MaskBuilder(engine, side),
            )
            self._state = self.policy.initial_state(engine.B)
        ob, mb = self._builders
        obs = torch.from_numpy(np.asarray(ob.build(idx), np.float32))
        mask = torch.from_numpy(mb.build(idx))
        state = None
        if self._state is not None:
            state = (self._state[0][:, idx], self._state[1][:, idx])
        start = torch.from_numpy(engine.tick[idx] == 0)
        with torch.no_grad():
            logits, new = self.policy(obs, state, start, mask)
        if self._state is not None and new is not None:
            self._state[0][:, idx] = new[0]
            self._state[1][:, idx] = new[1]
        if self.mode == "greedy":
            a = logits.argmax(-1)
        else:
            probs = torch.softmax(logits.view(-1, logits.shape[-1]), -1)
            a = torch.multinomial(probs, 1, generator=self.gen).view(logits.shape[:2])
        return to_engine_actions(a.numpy().astype(np.int64), side)


# ------------------------------------------------------------------ the league


@dataclass
class Member:
    """One opponent of the league and its record against the learner."""

    id: int
    name: str
    kind: str  # "doctrine" | "checkpoint" | "snapshot"
    weight: float  # own weight; snapshots share the "self" weight at sampling time
    player: Player = field(repr=False)
    active: bool = True
    added_at: int = 0  # env steps (snapshots)
    recent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8), repr=False)
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0

    def push(self, outcomes: np.ndarray, window: int) -> None:
        o = np.asarray(outcomes, np.int8)
        self.recent = np.concatenate([self.recent, o])[-window:]
        self.games += len(o)
        self.wins += int((o == 1).sum())
        self.draws += int((o == 0).sum())
        self.losses += int((o == -1).sum())

    @property
    def recent_win(self) -> float:
        """The learner's recent win rate, with one virtual half win (0.5 when unplayed)."""
        return (float((self.recent == 1).sum()) + 0.5) / (len(self.recent) + 1.0)


class League:
    """The members, their statistics and PFSP sampling; an :class:`OpponentPool`."""

    def __init__(
        self,
        config: LeagueConfig | str | Path,
        seed: int = 0,
    ) -> None:
        self.config = cfg = parse_league(config)
        self.seed = int(seed)
        self.rng = np.random.default_rng([self.seed, 0x1EA6E])
        self.members: list[Member] = []
        self.self_weight = float(cfg.members.get(SELF, 0.0))
        weights: dict[str, float] = {}
        for name, w in cfg.members.items():
            kind = _member_kind(name, cfg.source)
            if kind == ALL_DOCTRINES:
                for d in DOCTRINES:
                    weights[d] = weights.get(d, 0.0) + w / len(DOCTRINES)
            elif kind == "doctrine":
                d = ALIASES.get(name, name)
                weights[d] = weights.get(d, 0.0) + w
            elif kind == "checkpoint":
                weights[name] = weights.get(name, 0.0) + w
        for name, w in weights.items():
            if name in DOCTRINES:
                self._add(name, "doctrine", w, DoctrinePlayer(name))
            else:
                from cgfsim.agents.checkpoints import load_checkpoint

                pol = load_checkpoint(name)[0]
                self._add(name, "checkpoint", w, PolicyPlayer(pol, "greedy"))
        self.router = PerWorldOpponent(self)

    def _add(self, name: str, kind: str, w: float, player: Player, at: int = 0) -> Member:
        m = Member(len(self.members), name, kind, w, player, added_at=at)
        self.members.append(m)
        return m

    # -------------------------------------------------------------- snapshots
    def add_snapshot(self, policy: CgfPolicy, env_steps: int) -> Member:
        """Freeze ``policy`` as member ``self@<env_steps>``; retire the oldest beyond the cap."""
        if self.self_weight <= 0:
            raise CgfsimError("this league has no 'self' member; snapshots would never be played")
        mode = self.config.snapshot_actions
        player = PolicyPlayer(policy, mode, seed=self.seed * 100_003 + len(self.members))
        m = self._add(f"self@{int(env_steps)}", "snapshot", 0.0, player, at=int(env_steps))
        snaps = [s for s in self.members if s.kind == "snapshot" and s.active]
        for old in snaps[: max(0, len(snaps) - self.config.max_snapshots)]:
            old.active = False  # worlds playing it finish their episode first
        return m

    @property
    def snapshots(self) -> list[Member]:
        return [m for m in self.members if m.kind == "snapshot" and m.active]

    # -------------------------------------------------------------- PFSP
    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """(member ids, sampling probabilities) of the active members."""
        active = [m for m in self.members if m.active]
        if not active:
            raise CgfsimError("the league has no member to play yet (only 'self', no snapshot)")
        n_snap = sum(m.kind == "snapshot" for m in active)
        w = np.array(
            [self.self_weight / n_snap if m.kind == "snapshot" else m.weight for m in active],
            np.float64,
        )
        prior = w / w.sum()
        p = self.config.pfsp_exponent
        if p > 0:
            x = np.array([m.recent_win for m in active])
            q = w * (1.0 - x) ** p
            pfsp = q / q.sum() if q.sum() > 0 else prior
            eps = self.config.uniform_mix
            probs = (1.0 - eps) * pfsp + eps * prior
        else:
            probs = prior
        return np.array([m.id for m in active], np.int64), probs

    def sample(self, n: int) -> np.ndarray:
        ids, probs = self.probabilities()
        return self.rng.choice(ids, size=int(n), p=probs)

    def record(self, members: np.ndarray, outcomes: np.ndarray) -> None:
        members, outcomes = np.asarray(members), np.asarray(outcomes)
        for mid in np.unique(members).tolist():
            self.members[mid].push(outcomes[members == mid], self.config.window)

    def player(self, member: int) -> Player:
        return self.members[member].player

    # -------------------------------------------------------------- reports
    def table(self) -> list[dict[str, Any]]:
        """One row per active member: games, recent learner win rate, sampling probability."""
        ids, probs = self.probabilities()
        p = dict(zip(ids.tolist(), probs.tolist(), strict=True))
        rows = []
        for m in self.members:
            if not m.active:
                continue
            n = len(m.recent)
            rows.append(
                {
                    "member": m.name,
                    "kind": m.kind,
                    "games": m.games,
                    "wins": m.wins,
                    "draws": m.draws,
                    "losses": m.losses,
                    "recent_games": n,
                    "recent_win": float((m.recent == 1).mean()) if n else None,
                    "recent_draw": float((m.recent == 0).mean()) if n else None,
                    "probability": round(p.get(m.id, 0.0), 6),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        retired = [m.name for m in self.members if m.kind == "snapshot" and not m.active]
        return {"config": self.config.to_dict(), "members": self.table(), "retired": retired}


# ------------------------------------------------------------------ evaluation


def evaluate_vs_doctrines(
    policy: Any,
    scenario: Any,
    doctrines: Sequence[str] | None = None,
    episodes: int = 1000,
    seed: int = 0,
    side: str = "blue",
    split: str = "test",
) -> list[EvalResult]:
    """Greedy (masked) evaluation against each doctrine separately, on test-split worlds.

    World keys come from ``cgfsim.sim.splits`` (``test`` split of training seed
    ``seed``), never used in training or checkpoint selection; a random-map
    scenario plays its held-out test maps (:func:`~cgfsim.sim.splits.map_pool`).
    Every doctrine faces the same worlds. ``split="validation"`` is for tuning.
    """
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.envs._common import get_scenario
    from cgfsim.sim.splits import key_base, map_pool

    sc: Any = map_pool(get_scenario(scenario), split)
    keys = key_base(split, seed)
    return [
        evaluate(policy, sc, d, episodes, side=side, seed=keys) for d in (doctrines or DOCTRINES)
    ]


@dataclass
class MultiEval:
    """Pooled greedy evaluation against several opponents (the in-training league curve)."""

    results: list[Any]

    def _pooled(self, attr: str) -> float:
        n = sum(r.episodes for r in self.results)
        return sum(getattr(r, attr) for r in self.results) / max(n, 1)

    @property
    def win_rate(self) -> float:
        return self._pooled("wins")

    @property
    def draw_rate(self) -> float:
        return self._pooled("draws")

    @property
    def loss_rate(self) -> float:
        return self._pooled("losses")

    @property
    def win_ci(self) -> tuple[float, float]:
        from cgfsim.sim.metrics import wilson_interval

        return wilson_interval(
            sum(r.wins for r in self.results), sum(r.episodes for r in self.results)
        )

    @property
    def mean_return(self) -> float:
        return float(np.mean([r.mean_return for r in self.results]))

    @property
    def mean_length(self) -> float:
        return float(np.mean([r.mean_length for r in self.results]))

    @property
    def columns(self) -> dict[str, float]:
        """``win_<opponent>`` per opponent, for the curve."""
        return {f"win_{r.opponent}": r.win_rate for r in self.results}


def league_evaluator(
    scenario: Any, doctrines: Sequence[str], obs: str, side: str, episodes: int, seed: int
) -> Any:
    """``policy -> MultiEval``: greedy over valid actions against each doctrine, same worlds."""
    from cgfsim.agents.evaluation import evaluate

    def run(policy: CgfPolicy) -> MultiEval:
        return MultiEval(
            [
                evaluate(policy, scenario, d, episodes, obs=obs, side=side, seed=seed)
                for d in doctrines
            ]
        )

    return run


class LeagueCallback(BaseCallback):
    """Snapshots the learner into the league every ``snapshot_every`` env steps; logs the league.

    Each snapshot is also saved as a checkpoint ``league/self-<steps>/`` of the run
    folder; ``league.json`` holds the members' records and sampling probabilities
    (rewritten at each snapshot and at the end). TensorBoard gets
    ``league/p_<member>`` and ``league/win_<member>`` (recent learner win rate).
    """

    def __init__(self, league: League, run_dir: Path) -> None:
        super().__init__(verbose=0)
        self.league = league
        self.run_dir = Path(run_dir)
        self.every = league.config.snapshot_every if league.self_weight > 0 else 0
        self.next = self.every

    def _on_training_start(self) -> None:
        if self.every:
            self.next = (self.num_timesteps // self.every + 1) * self.every
            if not any(m.active for m in self.league.members):
                self._snapshot()  # pure self-play: the first opponent is the initial policy

    def _snapshot(self) -> None:
        from cgfsim.agents.checkpoints import save_checkpoint
        from cgfsim.agents.export import export_sb3
        from cgfsim.agents.runs import write_json

        n = int(self.num_timesteps)
        policy, spec = export_sb3(self.model)
        m = self.league.add_snapshot(policy, n)
        meta = {"league_member": m.name, "env_steps": n}
        save_checkpoint(self.run_dir / "league" / f"self-{n}", policy, spec, meta)
        write_json(self.run_dir / "league.json", self.league.to_dict())

    def _on_rollout_end(self) -> None:
        n = int(self.num_timesteps)
        if self.every and n >= self.next:
            self.next = (n // self.every + 1) * self.every
            self._snapshot()
        for row in self.league.table():
            self.logger.record(f"league/p_{row['member']}", row["probability"])
            if row["recent_win"] is not None:
                self.logger.record(f"league/win_{row['member']}", row["recent_win"])

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        from cgfsim.agents.runs import write_json

        write_json(self.run_dir / "league.json", self.league.to_dict())


def doctrine_table(results: Sequence[Any]) -> str:
    """Win/draw/loss per opponent with the Wilson 95% interval of the win rate.

    ``results``: :class:`~cgfsim.agents.evaluation.EvalResult` objects or their ``to_dict()``.
    """
    lines = [f"{'opponent':<12} {'win':>6} {'95% CI':>15} {'draw':>6} {'loss':>6} {'episodes':>9}"]
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else r
        lines.append(
            f"{d['opponent']:<12} {d['win_rate']:6.3f} [{d['win_ci_low']:5.3f}, "
            f"{d['win_ci_high']:5.3f}] {d['draw_rate']:6.3f} {d['loss_rate']:6.3f} "
            f"{d['episodes']:9d}"
        )
    return "\n".join(lines)


__all__ = [
    "League",
    "LeagueCallback",
    "LeagueConfig",
    "Member",
    "MultiEval",
    "PolicyPlayer",
    "doctrine_table",
    "evaluate_vs_doctrines",
    "league_evaluator",
    "load_league_toml",
    "parse_league",
    "validate_league",
]
