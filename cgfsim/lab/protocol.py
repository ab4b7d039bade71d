"""One evaluation protocol for every approach: split keys, held-out maps, exact data budgets.

- **Worlds.** A job with training seed s trains on ``train`` keys of s (the
  learners take them from :mod:`cgfsim.sim.splits`), selects checkpoints on
  ``validation`` keys of s and reports on ``test`` keys of s. The splits are
  disjoint by construction, and so are the worlds of different seeds.
- **Maps.** On random-map scenarios validation uses the validation map pool, and
  every reported point is measured twice: ``test`` (test keys on the training
  pool) and ``test_maps`` (test keys on :func:`~cgfsim.sim.splits.map_pool`'s
  held-out pool, maps never seen in training), the latter being the one the
  statistics use.
- **Acting.** Greedy over valid actions (the project's one evaluation mode), the
  first complete episode of every world (:func:`cgfsim.agents.evaluation.evaluate`).
- **Budgets.** A learner offers a snapshot (its data counters and a way to
  materialise its current policy) at every natural checkpoint: each PPO update,
  each GA generation, each BC epoch. The point at budget b is the last snapshot
  whose data does not exceed b, so no approach is credited with data it had not
  used when the point was taken; the snapshot's actual counters are recorded
  beside the nominal budget (no interpolation).
- **Selection.** At each budget the budget's snapshot is evaluated on validation
  worlds; the best snapshot so far (ties: the later one) is the job's selected
  policy, and the reported test figures at that budget are the selected
  policy's. Selection never looks at test worlds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import key_base, map_pool

#: Reported points need at least this many episodes (smaller only in tests / stated).
MIN_REPORTED_EPISODES = 1000
AXES = ("env_steps", "demo_steps", "total_steps")
COUNTERS = ("env_steps", "demo_steps", "record_env_steps", "wall_s")


@dataclass(frozen=True)
class Protocol:
    """How many episodes each evaluation plays (worlds per batch never changes a result)."""

    test_episodes: int = MIN_REPORTED_EPISODES
    validation_episodes: int = 500
    n_envs: int | None = None

    def __post_init__(self) -> None:
        if self.test_episodes < 1 or self.validation_episodes < 1:
            raise CgfsimError(
                "evaluation.test_episodes and evaluation.validation_episodes must be >= 1"
            )

    @property
    def below_minimum(self) -> bool:
        return self.test_episodes < MIN_REPORTED_EPISODES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def counters_of(account: Any) -> dict[str, float]:
    """The data counters of a learner's :class:`~cgfsim.agents.runs.DataAccount` or mapping."""
    get = account.get if isinstance(account, Mapping) else lambda k, d: getattr(account, k, d)
    out = {k: get(k, 0) or 0 for k in COUNTERS}
    for k in ("env_steps", "demo_steps", "record_env_steps"):
        out[k] = int(out[k])
    out["wall_s"] = float(out["wall_s"])
    return out


def data_on_axis(counters: Mapping[str, float], axis: str) -> int:
    """The amount of data on an approach's axis (``total_steps``: env + demo steps)."""
    if axis == "total_steps":
        return int(counters["env_steps"]) + int(counters["demo_steps"])
    return int(counters[axis])


@dataclass
class Snapshot:
    """A learner's policy at one natural checkpoint, with the data it had consumed."""

    counters: dict[str, float]
    policy: Any


@dataclass
class BudgetTracker:
    """Turns a learner's stream of snapshots into exactly one snapshot per budget.

    ``offer(account, make_policy)`` is the hook the learners call; ``on_budget``
    gets ``(budget, snapshot)`` once per budget, in order, with the last snapshot
    whose data is at most the budget. ``make_policy`` is called at every offer
    (the learner's policy changes afterwards), so it must return a copy.
    """

    budgets: list[int]
    axis: str
    on_budget: Callable[[int, Snapshot], None]
    last: Snapshot | None = None
    offers: int = 0
    short: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise CgfsimError(f"unknown data axis {self.axis!r}; expected one of {AXES}")
        self.budgets = list(self.budgets)

    @property
    def done(self) -> bool:
        return not self.budgets

    def offer(self, account: Any, make_policy: Callable[[], Any]) -> None:
        counters = counters_of(account)
        data = data_on_axis(counters, self.axis)
        self.offers += 1
        while self.budgets and data > self.budgets[0]:
            b = self.budgets.pop(0)
            if self.last is None:
                raise CgfsimError(
                    f"no policy within budget {b}: the learner's first snapshot already used {data}"
                )
            self.on_budget(b, self.last)
        if not self.budgets:
            return
        snap = Snapshot(counters, make_policy())
        if data == self.budgets[0]:
            self.on_budget(self.budgets.pop(0), snap)
        self.last = snap

    def finish(self) -> None:
        """Budgets the learner stopped short of get its last snapshot (and are listed in
        ``short``); a learner that trains to its largest budget leaves none."""
        while self.budgets and self.last is not None:
            b = self.budgets.pop(0)
            self.short.append(b)
            self.on_budget(b, self.last)


class Evaluator:
    """Evaluates one job's policies (scenario, opponent, side, training seed) on its splits."""

    def __init__(
        self, scenario: Any, opponent: Any, side: str, seed: int, protocol: Protocol
    ) -> None:
        self.opponent, self.side, self.seed, self.protocol = opponent, side, int(seed), protocol
        random_maps = getattr(scenario, "random_map", None) is not None
        #: name -> (scenario with its map pool, first world key, episodes)
        self.sets: dict[str, tuple[Any, int, int]] = {
            "validation": (
                map_pool(scenario, "validation"),
                key_base("validation", seed),
                protocol.validation_episodes,
            ),
            "test": (scenario, key_base("test", seed), protocol.test_episodes),
        }
        if random_maps:
            held_out = map_pool(scenario, "test")
            self.sets["test_maps"] = (held_out, key_base("test", seed), protocol.test_episodes)
        self.report_sets = [k for k in self.sets if k != "validation"]
        #: the set the statistics use: held-out maps where the scenario has them
        self.primary = "test_maps" if random_maps else "test"

    def run(self, policy: Any, which: str) -> Any:
        from cgfsim.agents.evaluation import evaluate

        sc, first_key, episodes = self.sets[which]
        return evaluate(
            policy,
            sc,
            self.opponent,
            episodes,
            side=self.side,
            seed=first_key,
            deterministic=True,
            n_envs=self.protocol.n_envs,
        )


__all__ = [
    "AXES",
    "MIN_REPORTED_EPISODES",
    "BudgetTracker",
    "Evaluator",
    "Protocol",
    "Snapshot",
    "counters_of",
    "data_on_axis",
]
