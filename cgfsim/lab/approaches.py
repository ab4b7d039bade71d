"""Approaches the lab can sweep: adapters from one learner to the lab's budget protocol.

An approach is a function that trains ONE seed to the job's largest budget and,
on the way, offers the lab its policy and data counters at every natural
checkpoint (``ctx.offer(account, make_policy)``); the lab picks the snapshot for
each budget, evaluates it and records the rows (:mod:`cgfsim.lab.protocol`).
Adding an approach is one :func:`register` call:

.. code-block:: python

    def train(ctx: JobContext) -> dict[str, float]:
        res = my_learner(ctx.scenario, ..., budget_hook=ctx.offer)
        return {"env_steps": res["env_steps"], "wall_s": res["wall_s"]}

    register(Approach("my-mlp", "Mine-MLP", "RL", "env_steps", train, check))

The RL and GA approaches are below; the learning-from-demonstration ones (BC-MLP,
BC-LSTM, DAgger-MLP, BC-then-PPO) are in :mod:`cgfsim.lab.imitation`.

``axis`` is the data the budgets count: ``env_steps`` (RL, GA: every fitness
step counts), ``demo_steps`` (BC, DAgger: expert labels) or ``total_steps``
(env + demo, BC-then-RL). Counters an approach does not use stay 0;
``record_env_steps`` (env steps spent recording demonstrations) and ``wall_s``
(training wall time, evaluation excluded) are reported beside the axis.
``check(options, scenario)`` validates an approach's options before any job
starts (unknown hyperparameters, a missing dataset) by raising
:class:`~cgfsim.sim.errors.CgfsimError`; ``check_budgets(options, budgets)`` does
the same for what its options require of the budgets. ``demonstrations`` says
whether it learns from a demonstrator: ``"recorded"`` (a dataset recorded on
``demo`` worlds and shared by the seed's jobs, :mod:`cgfsim.lab.demos`; it needs
``record_steps(options, budgets)`` demonstration steps) or ``"expert"`` (it queries
the doctrine itself, as DAgger does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import key_base


@dataclass
class JobContext:
    """What an approach gets for one job: the world, its seed, its budgets and the hook."""

    scenario: Any  # a cgfsim.sim.scenario.Scenario
    opponent: str
    side: str
    seed: int
    budgets: list[int]
    options: dict[str, Any]
    run_dir: Path
    offer: Callable[[Any, Callable[[], Any]], None]
    #: the doctrine demonstrations should come from (best against the opponent), if known
    demonstrator: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: where recorded demonstrations are cached (shared by the sweep's jobs)
    demo_cache: Path | None = None
    #: demonstration steps the seed's shared dataset holds (train + validation splits)
    demo_record_steps: int = 0

    def keys(self, split: str) -> int:
        """First world key of this job's seed in ``split`` (worlds take key + 0, 1, ...)."""
        return key_base(split, self.seed)

    @property
    def max_budget(self) -> int:
        return int(self.budgets[-1])


TrainFn = Callable[[JobContext], Mapping[str, Any]]
CheckFn = Callable[[Mapping[str, Any], Any], None]
BudgetCheckFn = Callable[[Mapping[str, Any], list[int]], None]
RecordFn = Callable[[Mapping[str, Any], list[int]], int]
DEMONSTRATIONS = ("none", "recorded", "expert")


def _no_check(options: Mapping[str, Any], scenario: Any) -> None:
    return None


def _no_budget_check(options: Mapping[str, Any], budgets: list[int]) -> None:
    return None


def _no_record(options: Mapping[str, Any], budgets: list[int]) -> int:
    return 0


@dataclass(frozen=True)
class Approach:
    """One learner x network on the lab's data axis."""

    name: str  # registry key, e.g. "ppo-mlp"
    label: str  # for reports, e.g. "PPO-MLP"
    family: str  # "RL" | "GA" | "BC" | "BC+RL"
    axis: str  # "env_steps" | "demo_steps" | "total_steps"
    train: TrainFn
    check: CheckFn = _no_check
    demonstrations: str = "none"  # "none" | "recorded" | "expert"
    record_steps: RecordFn = _no_record
    check_budgets: BudgetCheckFn = _no_budget_check
    #: rough CPU per unit of the axis, relative to a PPO env step; it only orders a sweep's
    #: jobs (the longest first, so a pool does not end on one long job while a worker idles)
    cost: float = 1.0


def expected_cost(job: Mapping[str, Any]) -> float:
    """A job's rough relative CPU cost: its largest budget times its approach's ``cost``."""
    return get_approach(job["approach"]).cost * float(job["budgets"][-1])


REGISTRY: dict[str, Approach] = {}


def register(approach: Approach) -> Approach:
    from cgfsim.lab.protocol import AXES

    if approach.axis not in AXES:
        raise ValueError(f"{approach.name}: axis must be one of {AXES}, not {approach.axis!r}")
    if approach.demonstrations not in DEMONSTRATIONS:
        raise ValueError(f"{approach.name}: demonstrations must be one of {DEMONSTRATIONS}")
    REGISTRY[approach.name] = approach
    return approach


def get_approach(name: str) -> Approach:
    try:
        return REGISTRY[name]
    except KeyError:
        raise CgfsimError(
            f"unknown approach {name!r}; expected one of {', '.join(REGISTRY)}"
        ) from None


def learner_kwargs(ctx: JobContext, policy: str) -> dict[str, Any]:
    """The keyword arguments ``train_rl`` and ``train_ga`` share for a lab job: train to the
    largest budget on vector observations, no learner-side evaluation (the lab evaluates,
    on its own split keys), every snapshot offered to the lab."""
    return {
        "scenario": ctx.scenario,
        "opponent": ctx.opponent,
        "obs": "vector",
        "policy": policy,
        "steps": ctx.max_budget,
        "seed": ctx.seed,
        "out_dir": ctx.run_dir,
        "side": ctx.side,
        "hparams": dict(ctx.options),
        "eval_episodes": 0,
        "progress": False,
        "tensorboard": False,
        "budget_hook": ctx.offer,
    }


def _rl(algo: str, policy: str) -> tuple[TrainFn, CheckFn]:
    """RL through SB3 / sb3-contrib (:func:`cgfsim.agents.rl.train_rl`)."""

    def train(ctx: JobContext) -> Mapping[str, Any]:
        from cgfsim.agents.rl import train_rl

        res = train_rl(algo, **learner_kwargs(ctx, policy))
        return {"env_steps": res["env_steps"], "wall_s": res["wall_s"]}

    def check(options: Mapping[str, Any], scenario: Any) -> None:
        from cgfsim.agents import rl

        a = rl.resolve_algo(algo, policy)
        rl.split_hparams(a, rl.resolve_hparams(a, scenario.name, dict(options)), "vector")

    return train, check


def _ga(policy: str) -> tuple[TrainFn, CheckFn]:
    """Neuroevolution with DEAP (:func:`cgfsim.agents.ga.train_ga`)."""

    def train(ctx: JobContext) -> Mapping[str, Any]:
        from cgfsim.agents.ga import train_ga

        res = train_ga(**learner_kwargs(ctx, policy))
        return {"env_steps": res["env_steps"], "wall_s": res["wall_s"]}

    def check(options: Mapping[str, Any], scenario: Any) -> None:
        from cgfsim.agents.ga import resolve_hparams

        resolve_hparams(dict(options))

    return train, check


for _name, _label, _algo, _pol in (
    ("ppo-mlp", "PPO-MLP", "ppo", "mlp"),
    ("rppo-lstm", "RecurrentPPO-LSTM", "ppo", "lstm"),
    ("a2c-mlp", "A2C-MLP", "a2c", "mlp"),
    ("maskppo-mlp", "MaskablePPO-MLP", "maskppo", "mlp"),
):
    register(Approach(_name, _label, "RL", "env_steps", *_rl(_algo, _pol)))
for _name, _label, _pol in (("ga-mlp", "GA-MLP", "mlp"), ("ga-lstm", "GA-LSTM", "lstm")):
    register(Approach(_name, _label, "GA", "env_steps", *_ga(_pol), cost=0.1))

# BC-MLP, BC-LSTM, DAgger-MLP, BC-then-PPO (registers itself; imports this module's names)
from cgfsim.lab import imitation as _imitation  # noqa: E402, F401

__all__ = [
    "REGISTRY",
    "Approach",
    "JobContext",
    "expected_cost",
    "get_approach",
    "learner_kwargs",
    "register",
]
