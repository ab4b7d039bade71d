"""The evaluation protocol: one snapshot per budget, and evaluation worlds and maps that
training never touches (checked on the worlds the engine actually reset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.lab.jobs import run_job
from cgfsim.lab.protocol import BudgetTracker, Evaluator, Protocol, Snapshot
from cgfsim.lab.spec import sweep_from_dict
from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.scenario import load_scenario
from cgfsim.sim.splits import describe_key

torch.set_num_threads(1)
RANDOM_DUEL = Path(__file__).with_name("random_duel.toml")


def _track(budgets: list[int], axis: str = "env_steps") -> tuple[BudgetTracker, list]:
    got: list[tuple[int, dict[str, Any], Any]] = []

    def on_budget(b: int, s: Snapshot) -> None:
        got.append((b, s.counters, s.policy))

    return BudgetTracker(budgets, axis, on_budget), got


def test_each_budget_gets_the_last_snapshot_within_it() -> None:
    tr, got = _track([100, 200, 400, 1000])
    for steps in (0, 100, 250, 400, 1100):
        tr.offer({"env_steps": steps, "wall_s": steps / 100}, lambda s=steps: f"policy@{s}")
    tr.finish()
    assert [(b, c["env_steps"], p) for b, c, p in got] == [
        (100, 100, "policy@100"),  # exactly at the budget
        (200, 100, "policy@100"),  # 250 would overshoot: the earlier policy
        (400, 400, "policy@400"),
        (1000, 400, "policy@400"),  # the learner ended past it
    ]
    assert tr.done and tr.short == []


def test_tracker_axes_shortfall_and_errors() -> None:
    tr, got = _track([50, 120], axis="total_steps")  # BC-then-RL: demo + env steps
    tr.offer({"demo_steps": 40, "env_steps": 0}, lambda: "bc")
    tr.offer({"demo_steps": 40, "env_steps": 70}, lambda: "rl")
    tr.finish()  # the learner stopped at 110 < 120: recorded as short
    assert [(b, p) for b, _, p in got] == [(50, "bc"), (120, "rl")] and tr.short == [120]
    tr, got = _track([10])
    with pytest.raises(CgfsimError, match="no policy within budget 10"):
        tr.offer({"env_steps": 64}, lambda: "late")
    with pytest.raises(CgfsimError, match="axis"):
        _track([1], axis="minutes")


def test_evaluator_worlds_are_held_out_by_construction() -> None:
    sc = load_scenario(RANDOM_DUEL)
    ev = Evaluator(sc, "random", "blue", 7, Protocol(test_episodes=30, validation_episodes=10))
    assert ev.primary == "test_maps" and ev.report_sets == ["test", "test_maps"]
    assert {k: describe_key(v[1])[:2] for k, v in ev.sets.items()} == {
        "validation": ("validation", 7),
        "test": ("test", 7),
        "test_maps": ("test", 7),
    }
    train = {m.tobytes() for m in sc.maps}
    for name in ("validation", "test_maps"):
        assert not train & {m.tobytes() for m in ev.sets[name][0].maps}
    assert ev.sets["test"][0] is sc  # same worlds' keys, training terrain
    duel = Evaluator(load_scenario("duel"), "random", "blue", 0, Protocol(30, 10))
    assert duel.primary == "test" and duel.report_sets == ["test"]


@pytest.fixture
def engine_resets(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, bytes]]:
    """Record (split, seed, map bytes) of every episode any engine starts after it is built
    (the constructor's placeholder reset is replaced before anything is played)."""
    seen: list[tuple[str, int, bytes]] = []
    real_init, real_reset = Engine.__init__, Engine.reset

    def init(self: Engine, *a: Any, **kw: Any) -> None:
        real_init(self, *a, **kw)
        self._lab_test_built = True  # type: ignore[attr-defined]

    def reset(self: Engine, mask: Any = None, seeds: Any = None) -> None:
        real_reset(self, mask, seeds)
        if not getattr(self, "_lab_test_built", False):
            return
        idx = np.arange(self.B) if mask is None else np.flatnonzero(mask)
        for i in idx:
            split, seed, _ = describe_key(int(self.key[i]))
            seen.append((split, seed, self.maps[self.map_id[i]].tobytes()))

    monkeypatch.setattr(Engine, "__init__", init)
    monkeypatch.setattr(Engine, "reset", reset)
    return seen


@pytest.mark.parametrize("approach", ["ppo-mlp", "ga-mlp", "bc-mlp", "dagger-mlp"])
def test_training_and_evaluation_worlds_are_disjoint(
    tmp_path: Path, engine_resets: list[tuple[str, int, bytes]], approach: str
) -> None:
    """Learners train on `train` worlds (demonstrations are recorded on `demo` worlds),
    select on `validation` worlds and held-out maps, report on `test` worlds."""
    options = {
        "ppo-mlp": {"n_envs": 8, "n_steps": 16, "batch_size": 64, "n_epochs": 1, "hidden": [8]},
        "ga-mlp": {"pop": 4, "episodes_per_ind": 2, "hidden": [8]},
        "bc-mlp": {"epochs": 2, "hidden": [8]},
        "dagger-mlp": {"iterations": 2, "epochs": 2, "hidden": [8], "n_envs": 8},
    }[approach]
    spec = sweep_from_dict(
        {
            "sweep": {
                "approaches": [approach],
                "scenarios": [str(RANDOM_DUEL)],
                "seeds": [3],
                "budgets": [128, 256] if approach != "bc-mlp" else [256, 384],
                "opponent": "random",
            },
            "evaluation": {"test_episodes": 12, "validation_episodes": 6},
            "options": {approach: options},
        }
    )
    (job,) = spec.jobs(tmp_path, {"RandomDuel": "assault"})
    rec = run_job(job)
    sc = load_scenario(RANDOM_DUEL)
    train_maps = {m.tobytes() for m in sc.maps}
    by_split: dict[str, set[bytes]] = {}
    for split, seed, m in engine_resets:
        assert seed == 3
        by_split.setdefault(split, set()).add(m)
    learned_on = "demo" if approach == "bc-mlp" else "train"
    assert set(by_split) == {learned_on, "validation", "test"}
    assert by_split[learned_on] <= train_maps  # learning sees training maps only
    assert not by_split["validation"] & train_maps
    held_out = by_split["test"] - train_maps
    assert held_out and not held_out & by_split[learned_on]
    sets = {r["eval_set"] for r in rec["rows"]}
    assert sets == {"test", "test_maps"}
    assert {r["budget"] for r in rec["rows"]} == set(spec.budgets_for(approach))
    axis = "demo_steps" if approach in ("bc-mlp", "dagger-mlp") else "env_steps"
    assert all(r["axis"] == axis and r[axis] <= r["budget"] for r in rec["rows"])
