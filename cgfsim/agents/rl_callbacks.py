"""SB3 callbacks of :func:`cgfsim.agents.rl.train_rl`: evaluation at data budgets, progress.

Evaluation exports the SB3 actor into a :class:`~cgfsim.agents.networks.CgfPolicy`
and plays it (greedy by default) against the training opponent in fresh
batched worlds with a fixed seed, so every point of a curve sees the same
worlds (common random numbers) and the number is the one `cgfsim evaluate`
would report for the saved checkpoint. Evaluation time is excluded from the
training wall time.

Evaluations and budget-hook offers happen at the start of a rollout (and at
the end of training), when the policy has been updated on exactly
``num_timesteps`` env steps; at the end of a rollout the update that uses it
has not happened yet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import FloatSchedule
from tqdm.auto import tqdm

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.export import export_sb3
from cgfsim.agents.networks import CgfPolicy
from cgfsim.agents.recipe import StepSchedule
from cgfsim.agents.runs import BudgetHook, CurveRow, DataAccount, append_curve_row

#: evaluate(policy) -> object with win_rate, draw_rate, loss_rate, win_ci (low, high), ...
EvalFn = Callable[[CgfPolicy], Any]


def eval_budgets(
    total: int, every: int | None, at: Sequence[int] | None, points: int = 10
) -> list[int]:
    """Sorted data budgets (env steps) at which to evaluate; ``total`` is always one."""
    if at is not None:
        budgets = {int(b) for b in at if 0 < int(b) <= total}
    else:
        step = int(every) if every else max(1, total // points)
        budgets = set(range(step, total + 1, step))
    budgets.add(int(total))
    return sorted(budgets)


def _ci(result: Any) -> tuple[float, float]:
    for name in ("win_ci", "win_rate_ci", "wilson_win"):
        ci = getattr(result, name, None)
        if ci is not None:
            return float(ci[0]), float(ci[1])
    return float("nan"), float("nan")


class TrainCallback(BaseCallback):
    """Evaluates at data budgets, appends curve rows, keeps the best checkpoint, shows progress.

    A budget counts as reached once the model has been updated on the first
    rollout that ends at or past it (SB3 collects whole rollouts): at the next
    rollout's start or at the end of training. The row records the exact
    ``env_steps``, all of which the evaluated policy has learned from.
    ``budget_hook`` (the lab's) is offered the policy at every rollout start and
    at the end of training.
    """

    def __init__(
        self,
        run_dir: Path,
        evaluate: EvalFn | None,
        budgets: Sequence[int],
        total_steps: int,
        approach: str,
        seed: int,
        meta: dict[str, Any],
        progress: bool = True,
        start_steps: int = 0,
        budget_hook: BudgetHook | None = None,
        demo_steps: int = 0,
        save_at: Sequence[int] | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self.save_at = sorted({int(b) for b in save_at or () if int(b) > start_steps})
        self.run_dir = run_dir
        self.evaluate_fn = evaluate
        self.budgets = list(budgets)
        self.total_steps = total_steps
        self.approach = approach
        self.seed = seed
        self.meta = meta
        self.show_progress = progress and sys.stderr.isatty()
        self.start_steps = start_steps
        self.budget_hook = budget_hook
        self.demo_steps = demo_steps  # demonstrations behind an initial (cloned) policy
        self.curve: list[dict[str, Any]] = []
        self.best_win_rate = -1.0
        self.best_steps = 0
        self.eval_s = 0.0
        self.t0 = 0.0
        self.wall_before = 0.0  # training wall time of the run before a resume
        self.bar: Any = None
        #: called after every budget point (the resume point of cgfsim.agents.resume)
        self.on_budget: Callable[[], None] | None = None

    # ------------------------------------------------------------------ resume
    def state(self) -> dict[str, Any]:
        """What a resumed run needs of this callback (JSON)."""
        return {
            "best_win_rate": self.best_win_rate,
            "best_steps": self.best_steps,
            "budgets": list(self.budgets),
            "save_at": list(self.save_at),
            "wall_s": round(self.train_wall_s, 3),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` and the curve rows kept (``state["curve"]``)."""
        self.best_win_rate = float(state["best_win_rate"])
        self.best_steps = int(state["best_steps"])
        self.save_at = [int(b) for b in state.get("save_at", [])]
        self.wall_before = float(state.get("wall_s", 0.0))
        self.curve = list(state.get("curve", []))

    # ------------------------------------------------------------------ timing
    @property
    def train_wall_s(self) -> float:
        """Wall time spent training (collecting + updating), evaluation excluded."""
        return self.wall_before + time.perf_counter() - self.t0 - self.eval_s

    def _on_training_start(self) -> None:
        self.t0 = time.perf_counter()
        self.budgets = [b for b in self.budgets if b > self.num_timesteps]
        self.bar = tqdm(
            total=self.total_steps,
            initial=self.num_timesteps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not self.show_progress,
            desc=self.approach,
        )

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.n = self.num_timesteps
            if self.n_calls % 64 == 0:
                self.bar.refresh()
        return True

    def _on_rollout_start(self) -> None:
        self._offer()
        # The update on the previous rollout is done: the model has learned from every
        # one of num_timesteps env steps, so this is the policy "after N steps".
        self._at_budgets()

    def _at_budgets(self, point: bool = True) -> None:
        n = int(self.num_timesteps)
        if self.save_at and n >= self.save_at[0]:
            while self.save_at and n >= self.save_at[0]:
                self.save_at.pop(0)
            policy, spec = export_sb3(self.model)
            meta = {**self.meta, "env_steps": n, "wall_s": round(self.train_wall_s, 3)}
            save_checkpoint(self.run_dir / f"at-{n}", policy, spec, meta)
        if self.budgets and n >= self.budgets[0]:
            while self.budgets and n >= self.budgets[0]:
                self.budgets.pop(0)
            self._evaluate()
            if point and self.on_budget is not None:
                self.on_budget()

    def _on_training_end(self) -> None:
        self._offer()
        self._at_budgets(point=False)  # train_rl saves the final point after the last eval
        if not self.curve or self.curve[-1]["env_steps"] < self.num_timesteps:
            self._evaluate()
        if self.bar is not None:
            self.bar.n = self.num_timesteps
            self.bar.close()

    # ------------------------------------------------------------------ evaluation
    def _offer(self) -> None:
        """Hand the budget hook the current policy and the data it was trained on."""
        if self.budget_hook is None:
            return
        t = time.perf_counter()
        model = self.model
        account = DataAccount(env_steps=int(self.num_timesteps), wall_s=self.train_wall_s)
        self.budget_hook(account, lambda: export_sb3(model)[0])
        self.eval_s += time.perf_counter() - t

    def _evaluate(self) -> None:
        if self.evaluate_fn is None:
            return
        t = time.perf_counter()
        policy, spec = export_sb3(self.model)
        res = self.evaluate_fn(policy)
        win = float(res.win_rate)
        lo, hi = _ci(res)
        row = CurveRow(
            self.approach,
            self.seed,
            int(self.num_timesteps),
            win,
            lo,
            hi,
            round(self.train_wall_s, 3),
            self.demo_steps,
        )
        cols = {**asdict(row), **getattr(res, "columns", {})}  # e.g. win rate per opponent
        append_curve_row(self.run_dir, cols)
        self.curve.append(cols)
        for key in ("win_rate", "draw_rate", "loss_rate", "mean_return", "mean_length"):
            if hasattr(res, key):
                self.logger.record(f"eval/{key}", float(getattr(res, key)))
        if win >= self.best_win_rate:  # ties: the later, more trained, policy
            self.best_win_rate, self.best_steps = win, int(self.num_timesteps)
            meta = {**self.meta, "env_steps": int(self.num_timesteps), "win_rate": win}
            save_checkpoint(self.run_dir / "best", policy, spec, meta)
        self.eval_s += time.perf_counter() - t
        if self.bar is not None:
            self.bar.set_postfix(win=f"{win:.2f}", best=f"{self.best_win_rate:.2f}")


class ScheduleCallback(BaseCallback):
    """Sets scheduled hyperparameters from the env steps consumed, before every update.

    ``learning_rate`` (SB3's ``lr_schedule``), ``clip_range`` and ``ent_coef`` follow
    their :class:`~cgfsim.agents.recipe.StepSchedule` of ``num_timesteps``: the values
    depend on the data consumed, never on the run's total budget (SB3's own schedules
    take "progress remaining", a fraction of the budget). Applied at the start of
    training and at every rollout end (just before the update that uses them), so a
    resumed run picks up where its schedule was.
    """

    def __init__(self, schedules: dict[str, StepSchedule]) -> None:
        super().__init__(verbose=0)
        unknown = sorted(set(schedules) - {"learning_rate", "clip_range", "ent_coef"})
        if unknown:
            raise ValueError(f"no schedule support for {unknown}")
        self.schedules = dict(schedules)

    def _apply(self) -> None:
        model: Any = self.model  # PPO, A2C, MaskablePPO or RecurrentPPO
        for key, sched in self.schedules.items():
            v = sched.at(self.num_timesteps)
            if key == "learning_rate":
                model.learning_rate = v
                model.lr_schedule = FloatSchedule(v)
            elif key == "clip_range":
                model.clip_range = FloatSchedule(v)
            else:
                model.ent_coef = v
            self.logger.record(f"schedule/{key}", v)

    def _on_training_start(self) -> None:
        self._apply()

    def _on_rollout_end(self) -> None:
        self._apply()

    def _on_step(self) -> bool:
        return True
