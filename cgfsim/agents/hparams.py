"""One check of hyperparameter values for every learner (RL, GA, BC/DAgger).

Values arrive from ``--set key=value`` (TOML literals), config files and
tuning spaces. Each learner keeps its own defaults; this module checks a
value's *kind* against the default it replaces (an integer where the default
is an integer, a finite number where it is a float, a list where it is a
list...) and common ranges, so a typo is one clear message before any run
folder exists, not a traceback from inside SB3 or DEAP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cgfsim.sim.errors import CgfsimError

#: Ranges of well-known keys (inclusive; None: unbounded): (low, high).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "n_envs": (1, 65536),
    "n_steps": (1, None),
    "batch_size": (2, None),
    "n_epochs": (1, None),
    "epochs": (1, None),
    "gamma": (0.0, 1.0),
    "gae_lambda": (0.0, 1.0),
    "learning_rate": (0.0, None),
    "lr": (0.0, None),
    "clip_range": (0.0, None),
    "ent_coef": (0.0, None),
    "vf_coef": (0.0, None),
    "max_grad_norm": (0.0, None),
    "dropout": (0.0, 0.99),
    "weight_decay": (0.0, None),
    "torch_threads": (1, 256),
    "pop": (2, None),
    "episodes_per_ind": (1, None),
    "sigma": (0.0, None),
    "mutpb": (0.0, 1.0),
    "cxpb": (0.0, 1.0),
    "cx_indpb": (0.0, 1.0),
    "mut_indpb": (0.0, 1.0),
    "lstm_hidden": (1, 8192),
    "features_dim": (1, 8192),
}


def _kind(ref: Any) -> str:
    if isinstance(ref, bool):
        return "true or false"
    if isinstance(ref, int):
        return "an integer"
    if isinstance(ref, float):
        return "a number"
    if isinstance(ref, str):
        return "a string"
    if isinstance(ref, list | tuple):
        return "a list"
    return type(ref).__name__


def _fits(v: Any, ref: Any, schedules: bool) -> bool:
    if ref is None:
        return True
    if isinstance(ref, bool):
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    if isinstance(ref, int):
        return isinstance(v, int)
    if isinstance(ref, float):
        if schedules and (isinstance(v, dict) or (isinstance(v, str) and v.startswith("lin_"))):
            return True  # a schedule table (or the retired 'lin_<x>'): the learner parses it
        return isinstance(v, int | float) and math.isfinite(v)
    if isinstance(ref, str):
        return isinstance(v, str) or (schedules and isinstance(v, int | float))
    if isinstance(ref, list | tuple):
        return isinstance(v, list | tuple) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in v
        )
    return True


def check_values(
    hp: Mapping[str, Any],
    reference: Mapping[str, Any],
    where: str,
    schedules: bool = False,
) -> None:
    """Raise :class:`CgfsimError` for the first value whose kind or range is wrong.

    ``reference`` maps keys to their defaults (a value of the expected kind);
    keys it does not hold are not checked here (unknown names are each
    learner's own error). ``schedules``: floats may also be schedule tables, which
    the learner parses (:func:`cgfsim.agents.recipe.parse_schedule`).
    """
    for k, v in hp.items():
        if k in reference and not _fits(v, reference[k], schedules):
            extra = " or a schedule table" if schedules and isinstance(reference[k], float) else ""
            raise CgfsimError(
                f"{where} hyperparameter {k}={v!r}: expected {_kind(reference[k])}{extra}"
            )
        lo, hi = RANGES.get(k, (None, None))
        if isinstance(v, int | float) and not isinstance(v, bool):
            if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
                span = f"{'-inf' if lo is None else lo}..{'inf' if hi is None else hi}"
                raise CgfsimError(f"{where} hyperparameter {k}={v!r}: expected a value in {span}")
