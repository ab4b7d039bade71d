"""The training recipe's defaults: one network layout per scenario and budget-independent schedules.

Everything here is read from the packaged ``defaults.toml`` (no torch, no SB3),
so RL (:mod:`cgfsim.agents.rl`) and the GA (:mod:`cgfsim.agents.ga`) resolve
their settings the same way:

- **one network layout** (``[network]``, ``[scenario.<Name>.network]``): both
  learners build the same :class:`~cgfsim.agents.networks.CgfPolicy` shape on a
  scenario, so a comparison between them compares learners, not network sizes;
- **schedules that do not depend on the budget**: a value is a number
  (constant) or a table ``{start = x, end = y, horizon = n}`` that moves from x
  to y over the first n env steps and stays at y afterwards. A 100k run and a
  1M run therefore train with the same settings at every step they share, so a
  learning curve can be read off one long run at every budget on the way.

Resolution order, later wins::

    RL:  [network] [common] [<algo>] [scenario.<Name>.network] [scenario.<Name>.common]
         [scenario.<Name>.<algo>] overrides
    GA:  [network] [ga] [scenario.<Name>.network] [scenario.<Name>.ga] overrides
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from cgfsim.sim.errors import CgfsimError

#: Keys of the shared network layout (GA uses the vector/MLP/LSTM subset).
NETWORK_KEYS = (
    "hidden",
    "activation",
    "lstm_hidden",
    "features_dim",
    "cnn_channels",
    "embed_dim",
    "attn_heads",
    "attn_layers",
)
#: Hyperparameters that may be given as a schedule table.
SCHEDULE_KEYS = ("learning_rate", "clip_range", "ent_coef")
SHAPES = ("linear", "exp")


@cache
def _defaults_text() -> str:
    return resources.files("cgfsim.agents").joinpath("defaults.toml").read_text("utf-8")


def load_defaults() -> dict[str, Any]:
    """The packaged ``defaults.toml`` (a fresh copy: callers may modify it)."""
    return tomllib.loads(_defaults_text())


def _scenario_part(d: dict[str, Any], scenario_name: str | None) -> dict[str, Any]:
    if not scenario_name:
        return {}
    per = {k.lower(): v for k, v in d.get("scenario", {}).items()}
    return dict(per.get(scenario_name.lower(), {}))


def network_layout(scenario_name: str | None = None) -> dict[str, Any]:
    """The network layout every learner uses on ``scenario_name`` (``[network]`` + per scenario)."""
    d = load_defaults()
    out = dict(d.get("network", {}))
    out.update(_scenario_part(d, scenario_name).get("network", {}))
    return out


def resolve(
    section: str,
    scenario_name: str | None,
    overrides: dict[str, Any] | None = None,
    rl: bool = True,
) -> dict[str, Any]:
    """Merge the layout, ``[common]`` (RL only), ``[section]``, the scenario's parts, overrides."""
    d = load_defaults()
    sc = _scenario_part(d, scenario_name)
    parts = [d.get("network"), d.get("common") if rl else None, d.get(section)]
    parts += [sc.get("network"), sc.get("common") if rl else None, sc.get(section)]
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(copy.deepcopy(part or {}))
    merged.update(overrides or {})
    return merged


# ------------------------------------------------------------------ schedules


@dataclass(frozen=True)
class StepSchedule:
    """A value over env steps: ``start`` at step 0, ``end`` from ``horizon`` on.

    ``shape="linear"`` interpolates linearly, ``"exp"`` geometrically (both
    values must then be positive). It depends on the env steps consumed only,
    never on the run's total budget.
    """

    start: float
    end: float
    horizon: int
    shape: str = "linear"

    def at(self, env_steps: int | float) -> float:
        f = min(max(float(env_steps) / self.horizon, 0.0), 1.0)
        if self.shape == "exp":
            return float(self.start * (self.end / self.start) ** f)
        return float(self.start + (self.end - self.start) * f)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "horizon": self.horizon, "shape": self.shape}


def parse_schedule(key: str, value: Any) -> float | StepSchedule:
    """A number, or a ``{start, end, horizon[, shape]}`` table, as a constant or a StepSchedule."""
    if isinstance(value, bool):
        raise CgfsimError(f"hyperparameter {key}={value!r}: expected a number or a schedule table")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.startswith("lin_"):
        raise CgfsimError(
            f"hyperparameter {key}={value!r}: 'lin_<x>' decayed over the whole budget and was "
            "replaced by budget-independent schedules; write "
            f"{key}={{start = <x>, end = <y>, horizon = <env steps>}}"
        )
    if isinstance(value, StepSchedule):
        return value
    if not isinstance(value, dict):
        raise CgfsimError(
            f"hyperparameter {key}={value!r}: expected a number or a table "
            "{start = <x>, end = <y>, horizon = <env steps>, shape = 'linear' | 'exp'}"
        )
    unknown = sorted(set(value) - {"start", "end", "horizon", "shape"})
    missing = sorted({"start", "end", "horizon"} - set(value))
    if unknown or missing:
        raise CgfsimError(
            f"hyperparameter {key}: schedule table needs start, end, horizon (and optional shape); "
            f"missing {missing}, unknown {unknown}"
        )
    try:
        start, end, horizon = float(value["start"]), float(value["end"]), int(value["horizon"])
    except (TypeError, ValueError):
        raise CgfsimError(f"hyperparameter {key}: start, end and horizon must be numbers") from None
    shape = str(value.get("shape", "linear"))
    if shape not in SHAPES:
        raise CgfsimError(f"hyperparameter {key}: schedule shape must be one of {SHAPES}")
    if horizon < 1 or not (math.isfinite(start) and math.isfinite(end)):
        raise CgfsimError(f"hyperparameter {key}: horizon must be >= 1 env step, values finite")
    if shape == "exp" and (start <= 0 or end <= 0):
        raise CgfsimError(f"hyperparameter {key}: an 'exp' schedule needs positive start and end")
    return StepSchedule(start, end, horizon, shape)


def value_at(value: float | StepSchedule, env_steps: int | float) -> float:
    """The value of a constant or a schedule after ``env_steps`` env steps."""
    return value.at(env_steps) if isinstance(value, StepSchedule) else float(value)


__all__ = [
    "NETWORK_KEYS",
    "SCHEDULE_KEYS",
    "StepSchedule",
    "load_defaults",
    "network_layout",
    "parse_schedule",
    "resolve",
    "value_at",
]
