"""Search spaces of ``cgfsim tune``, read from TOML and checked before any trial starts.

.. code-block:: toml

    [study]
    name = "bc-648"              # default: the file's stem
    strategy = "grid"            # grid | random | tpe
    sample = 0.7                 # grid: this fraction of the combinations, drawn without
                                 # replacement (tfruns' ``sample``); default 1 (all)
    trials = 50                  # random / tpe: number of trials (pruned ones count)
    seed = 0                     # the plan's draws and TPE's seed
    metric = "val_loss"          # bc: val_loss | val_accuracy; RL: val_win_rate
    pruner = "median"            # none | median | halving
    pruner_warmup = 3            # reports (BC epochs, RL evaluations) before a trial may stop
    pruner_startup = 5           # median: finished trials before any pruning
    halving_rate = 3             # halving: keep the best 1/rate at every rung
    halving_min = 1              # halving: reports at the first rung

    [task]
    learner = "bc"               # bc | ppo | a2c | maskppo | rppo
    policy = "mlp"               # bc: mlp | lstm (RL: follows the learner; rppo is lstm)
    dataset = "cgfsim/duel-v0"   # bc: a Minari id or folder ... or record one into the study:
    record = { scenario = "duel", demonstrator = "assault", opponent = "retreat", episodes = 300 }
    scenario = "duel"            # RL: the scenario (bc: the dataset's)
    opponent = "random"          # RL: training and evaluation opponent (bc: the dataset's)
    steps = 100000               # RL: env steps per trial
    reports = 5                  # RL: validation win-rate evaluations per trial
    val_episodes = 200           # episodes on validation worlds per in-env evaluation
    test_episodes = 1000         # the final pick, once, on test worlds
    seed = 0                     # every trial's training seed (world-key splits)

    [fixed]                      # hyperparameters every trial shares (the learner's keys)
    epochs = 15

    [params]                     # what the search varies
    nodes1 = [64, 128, 256]                              # a list: categorical choices
    dropout1 = [0.2, 0.3, 0.4]
    lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
    n_epochs = { type = "int", low = 1, high = 20, step = 1 }

Parameter names are the learner's hyperparameters (``cgfsim train --set`` keys:
:mod:`cgfsim.agents.supervised` for BC, ``defaults.toml`` / the SB3 constructor for
RL), plus the talk's layer-wise names: ``nodes1..nodesN`` make ``hidden``
(``[nodes1, ..., nodesN]``) and ``dropout1..dropoutN`` one dropout rate per
layer; ``hidden`` may also be a string such as ``"64x64"``. An unknown name, an
empty choice list, a range with ``low > high``, a grid over a continuous range
(give ``step`` or choices) or a ``sample`` outside (0, 1] is one
:class:`~cgfsim.sim.errors.CgfsimError` line naming the file and the field.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.lab.spec import _Reader as SpecReader
from cgfsim.sim.errors import CgfsimError

STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "halving")
BC_LEARNERS = ("bc",)
RL_LEARNERS = ("ppo", "a2c", "maskppo", "rppo")
LEARNERS = BC_LEARNERS + RL_LEARNERS
#: metric -> direction, per learner family
METRICS = {
    "bc": {"val_loss": "minimize", "val_accuracy": "maximize"},
    "rl": {"val_win_rate": "maximize"},
}
SECTIONS = {
    "study": (
        "name",
        "description",
        "strategy",
        "sample",
        "trials",
        "seed",
        "metric",
        "pruner",
        "pruner_warmup",
        "pruner_startup",
        "halving_rate",
        "halving_min",
    ),
    "task": (
        "learner",
        "policy",
        "obs",
        "dataset",
        "record",
        "scenario",
        "opponent",
        "side",
        "steps",
        "reports",
        "val_episodes",
        "test_episodes",
        "seed",
    ),
    "fixed": (),
    "params": (),
}
RECORD_KEYS = ("scenario", "demonstrator", "opponent", "episodes", "seed", "epsilon", "obs")
PARAM_KEYS = ("type", "choices", "low", "high", "log", "step")
#: Largest grid the planner enumerates by index (mixed radix).
MAX_GRID = 2**62
_LAYER = re.compile(r"^(nodes|dropout)([1-9][0-9]?)$")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Param:
    """One searched parameter: categorical choices, or an int / float range."""

    name: str
    kind: str  # "categorical" | "int" | "float"
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None

    def distribution(self) -> Any:
        """The Optuna distribution (imported on use)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def values(self) -> list[Any]:
        """Every value of a finite parameter, in order (the grid's axis)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        assert self.step is not None
        n = math.floor((self.high - self.low) / self.step + 1e-9)
        return [round(self.low + k * self.step, 12) for k in range(n + 1)]

    def draw(self, rng: np.random.Generator) -> Any:
        """One random value (uniform, or log-uniform with ``log``), as Optuna's random sampler."""
        if self.kind == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.step is not None and not self.log:
            vals = self.values()
            return vals[int(rng.integers(len(vals)))]
        if self.kind == "int":
            lo, hi = self.low - 0.5, self.high + 0.5
            x = (
                math.exp(rng.uniform(math.log(lo), math.log(hi)))
                if self.log
                else rng.uniform(lo, hi)
            )
            return int(min(max(round(x), self.low), self.high))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def suggest(self, trial: Any) -> Any:
        """``trial.suggest_*`` for this parameter (enqueued trials get their planned value)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{{{', '.join(map(str, self.choices))}}}"
        scale = " log" if self.log else ""
        step = f" step {self.step:g}" if self.step is not None else ""
        return f"{self.kind} [{self.low:g}, {self.high:g}]{scale}{step}"


@dataclass(frozen=True)
class SearchSpace:
    """A checked search space (see the module doc)."""

    name: str
    description: str
    strategy: str
    sample: float
    trials: int  # trials the study runs (grid: round(sample * combinations))
    seed: int
    metric: str
    direction: str
    pruner: str
    pruner_warmup: int
    pruner_startup: int
    halving_rate: int
    halving_min: int
    task: dict[str, Any]
    fixed: dict[str, Any]
    params: tuple[Param, ...]
    text: str = ""
    source: str = "<dict>"
    combinations: int | None = None  # grid size (finite spaces)

    @property
    def family(self) -> str:
        return "bc" if self.task["learner"] in BC_LEARNERS else "rl"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def planned(self) -> bool:
        """Grid and random studies draw every trial's parameters up front (see :meth:`plan`)."""
        return self.strategy in ("grid", "random")

    def plan(self) -> list[dict[str, Any]]:
        """The parameters of every trial of a grid or random study, in trial order.

        Grid: ``trials`` distinct combinations drawn without replacement (all of them when
        ``sample = 1``) in a seeded random order. Random: ``trials`` independent draws.
        A pure function of the space and its seed, so a resumed or parallel study runs
        exactly the plan an uninterrupted one does.
        """
        rng = np.random.default_rng([self.seed, 12])
        if self.strategy == "grid":
            axes = [p.values() for p in self.params]
            assert self.combinations is not None
            picks = rng.choice(self.combinations, size=self.trials, replace=False)
            return [dict(zip(self.names, _combination(int(i), axes), strict=True)) for i in picks]
        if self.strategy == "random":
            return [{p.name: p.draw(rng) for p in self.params} for _ in range(self.trials)]
        raise ValueError("only grid and random studies are planned")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {p.name: p.suggest(trial) for p in self.params}

    def hparams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The learner's hyperparameters for one trial: ``[fixed]`` updated by the params,
        with ``nodesK`` / ``dropoutK`` gathered into ``hidden`` / ``dropout``."""
        return to_hparams({**self.fixed, **params})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "sha256": self.sha256,
            "strategy": self.strategy,
            "sample": self.sample,
            "trials": self.trials,
            "combinations": self.combinations,
            "seed": self.seed,
            "metric": self.metric,
            "direction": self.direction,
            "pruner": self.pruner,
            "pruner_warmup": self.pruner_warmup,
            "pruner_startup": self.pruner_startup,
            "halving_rate": self.halving_rate,
            "halving_min": self.halving_min,
            "task": self.task,
            "fixed": self.fixed,
            "params": {p.name: p.describe() for p in self.params},
        }


def _combination(index: int, axes: list[list[Any]]) -> Iterator[Any]:
    """The ``index``-th combination of the axes' Cartesian product (last axis fastest)."""
    out = []
    for ax in reversed(axes):
        index, r = divmod(index, len(ax))
        out.append(ax[r])
    return reversed(out)


def to_hparams(values: Mapping[str, Any]) -> dict[str, Any]:
    """Gather layer-wise names (``nodesK``, ``dropoutK``) and ``"64x64"`` strings into the
    learner's ``hidden`` and ``dropout`` lists; everything else passes unchanged."""
    out: dict[str, Any] = {}
    layers: dict[str, dict[int, Any]] = {"nodes": {}, "dropout": {}}
    for k, v in values.items():
        m = _LAYER.match(k)
        if m:
            layers[m.group(1)][int(m.group(2))] = v
        elif k in ("hidden", "cnn_channels") and isinstance(v, str):
            out[k] = _sizes(k, v)
        else:
            out[k] = v
    for kind, target in (("nodes", "hidden"), ("dropout", "dropout")):
        got = layers[kind]
        if not got:
            continue
        if target in out:
            raise CgfsimError(f"give either {target} or {kind}1..{kind}N, not both")
        if sorted(got) != list(range(1, len(got) + 1)):
            raise CgfsimError(
                f"{kind}1..{kind}N must be numbered from 1 without gaps, got "
                f"{', '.join(f'{kind}{k}' for k in sorted(got))}"
            )
        out[target] = [got[k] for k in sorted(got)]
    return out


def _sizes(name: str, text: str) -> list[int]:
    """``"64x64"`` -> ``[64, 64]``; ``"linear"`` or ``""`` -> ``[]`` (no hidden layer)."""
    if text.strip().lower() in ("", "linear", "none"):
        return []
    try:
        sizes = [int(x) for x in text.lower().split("x")]
    except ValueError:
        raise CgfsimError(f"{name} {text!r}: expected sizes such as '64x64'") from None
    if min(sizes) < 1:
        raise CgfsimError(f"{name} {text!r}: sizes must be >= 1")
    return sizes


# --------------------------------------------------------------------------- reading


class _Reader(SpecReader):
    """The lab's TOML reader (:mod:`cgfsim.lab.spec`) with a space's sections and choices."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        super().__init__(data, source, SECTIONS)

    def count(self, t: dict[str, Any], fld: str, default: int, lo: int) -> int:
        v = self.integer(t, fld, default, lo)
        assert v is not None
        return v

    def choice(self, t: dict[str, Any], fld: str, default: str, allowed: tuple[str, ...]) -> str:
        v = t.get(fld.split(".")[-1], default)
        if v not in allowed:
            raise self.fail(fld, f"expected one of {', '.join(allowed)}, got {v!r}")
        return str(v)


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a search-space TOML file (see the module doc)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CgfsimError(f"{p}: cannot read search space ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CgfsimError(f"{p}: invalid TOML: {e}") from None
    return space_from_dict(data, str(p), text, p.stem)


def space_from_text(text: str, source: str = "<text>") -> SearchSpace:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CgfsimError(f"{source}: invalid TOML: {e}") from None
    return space_from_dict(data, source, text, Path(source).stem)


def _param(r: _Reader, name: str, spec: Any, grid: bool) -> Param:
    fld = f"params.{name}"
    if isinstance(spec, list):
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict):
        raise r.fail(
            fld, f"expected a list of choices or a table with type, low, high; got {spec!r}"
        )
    unknown = sorted(set(spec) - set(PARAM_KEYS))
    if unknown:
        raise r.fail(f"{fld}.{unknown[0]}", f"unknown key; expected one of {', '.join(PARAM_KEYS)}")
    kind = spec.get("type", "categorical" if "choices" in spec else "float")
    if kind not in ("categorical", "int", "float"):
        raise r.fail(f"{fld}.type", f"expected categorical, int or float, got {kind!r}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list):
            raise r.fail(fld, f"categorical needs a list of choices, got {choices!r}")
        if not choices:
            raise r.fail(fld, "empty choice list: give at least one value")
        if not all(isinstance(c, bool | int | float | str) for c in choices):
            bad = next(c for c in choices if not isinstance(c, bool | int | float | str))
            raise r.fail(
                fld,
                f"choices must be numbers, strings or booleans ('64x64' for sizes), got {bad!r}",
            )
        if len({repr(c) for c in choices}) != len(choices):
            raise r.fail(fld, f"choices must be distinct, got {choices}")
        extra = sorted(set(spec) - {"type", "choices"})
        if extra:
            raise r.fail(f"{fld}.{extra[0]}", "only choices belong to a categorical parameter")
        return Param(name, "categorical", tuple(choices))
    if "choices" in spec:
        raise r.fail(f"{fld}.choices", f"a {kind} range takes low and high, not choices")
    low, high, log, step = (
        spec.get("low"),
        spec.get("high"),
        spec.get("log", False),
        spec.get("step"),
    )
    check = _is_int if kind == "int" else _is_num
    for k, v in (("low", low), ("high", high)):
        if not check(v):
            raise r.fail(
                f"{fld}.{k}", f"expected {'an integer' if kind == 'int' else 'a number'}, got {v!r}"
            )
    assert low is not None and high is not None
    if low > high:
        raise r.fail(fld, f"low {low} is above high {high}")
    if not isinstance(log, bool):
        raise r.fail(f"{fld}.log", f"expected true or false, got {log!r}")
    if log and low <= 0:
        raise r.fail(fld, f"a log range needs low > 0, got {low}")
    if step is not None:
        if not check(step) or step <= 0:
            raise r.fail(
                f"{fld}.step",
                f"expected a positive {'integer' if kind == 'int' else 'number'}, got {step!r}",
            )
        if log and (kind == "float" or step != 1):
            raise r.fail(fld, "log ranges take no step")
    if grid and kind == "float" and step is None:
        raise r.fail(fld, "a grid needs finite values: give choices or a step")
    return Param(
        name, kind, (), float(low), float(high), log, None if step is None else float(step)
    )


def space_from_dict(
    data: dict[str, Any], source: str = "<dict>", text: str = "", default_name: str = "study"
) -> SearchSpace:
    """Check a search space given as a dict (the parsed TOML)."""
    r = _Reader(data, source)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise r.fail(unknown[0], f"unknown section; expected one of {', '.join(SECTIONS)}")
    st = r.table("study")
    strategy = r.choice(st, "study.strategy", "tpe", STRATEGIES)
    task = _task(r)
    family = "bc" if task["learner"] in BC_LEARNERS else "rl"
    metric = r.choice(st, "study.metric", next(iter(METRICS[family])), tuple(METRICS[family]))
    pruner = r.choice(st, "study.pruner", "none", PRUNERS)
    params_t = r.table("params")
    if not params_t:
        raise r.fail("params", "the search varies nothing: give at least one parameter")
    params = tuple(_param(r, k, v, strategy == "grid") for k, v in params_t.items())
    fixed = r.table("fixed")
    both = sorted(set(fixed) & set(params_t))
    if both:
        raise r.fail(f"fixed.{both[0]}", "is also searched in [params]")
    combos = None
    if all(p.kind == "categorical" or p.step is not None or p.kind == "int" for p in params):
        combos = math.prod(len(p.values()) for p in params)
    sample = st.get("sample", 1.0)
    if "sample" in st and strategy != "grid":
        raise r.fail(
            "study.sample", f"a sample fraction is for strategy = 'grid', not {strategy!r}"
        )
    if not _is_num(sample) or not 0.0 < float(sample) <= 1.0:
        raise r.fail("study.sample", f"expected a fraction in (0, 1], got {sample!r}")
    if strategy == "grid":
        if "trials" in st:
            raise r.fail(
                "study.trials", "a grid runs round(sample x combinations) trials; use sample"
            )
        assert combos is not None
        if combos > MAX_GRID:
            raise r.fail("params", f"the grid has {combos} combinations, more than {MAX_GRID}")
        trials = max(1, round(float(sample) * combos))
    else:
        if "trials" not in st:
            raise r.fail(
                "study.trials", f"required for strategy = {strategy!r}: a number of trials"
            )
        trials = r.count(st, "study.trials", 1, 1)
    space = SearchSpace(
        name=str(st.get("name", default_name)),
        description=str(st.get("description", "")),
        strategy=strategy,
        sample=float(sample),
        trials=trials,
        seed=r.count(st, "study.seed", 0, 0),
        metric=metric,
        direction=METRICS[family][metric],
        pruner=pruner,
        pruner_warmup=r.count(st, "study.pruner_warmup", 1, 0),
        pruner_startup=r.count(st, "study.pruner_startup", 5, 0),
        halving_rate=r.count(st, "study.halving_rate", 3, 2),
        halving_min=r.count(st, "study.halving_min", 1, 1),
        task=task,
        fixed=dict(fixed),
        params=params,
        text=text,
        source=source,
        combinations=combos,
    )
    _check_learner(r, space)
    return space


def _task(r: _Reader) -> dict[str, Any]:
    t = r.table("task")
    learner = r.choice(t, "task.learner", "bc", LEARNERS)
    out: dict[str, Any] = {"learner": learner, "seed": r.count(t, "task.seed", 0, 0)}
    default_policy = "lstm" if learner == "rppo" else "mlp"
    out["policy"] = r.choice(t, "task.policy", default_policy, ("mlp", "lstm"))
    out["val_episodes"] = r.count(t, "task.val_episodes", 200 if learner != "bc" else 0, 0)
    out["test_episodes"] = r.count(t, "task.test_episodes", 1000, 0)
    out["side"] = r.choice(t, "task.side", "blue", ("blue", "red"))
    for k in ("opponent", "scenario", "dataset", "obs"):
        if k in t and not isinstance(t[k], str):
            raise r.fail(f"task.{k}", f"expected a name, got {t[k]!r}")
    if learner in BC_LEARNERS:
        for k in ("steps", "reports"):
            if k in t:
                raise r.fail(f"task.{k}", "is for RL learners; BC trains for `epochs` (in [fixed])")
        if ("dataset" in t) == ("record" in t):
            raise r.fail("task", "bc needs exactly one of dataset (an id or folder) or record")
        if "record" in t:
            rec = t["record"]
            if not isinstance(rec, dict):
                raise r.fail("task.record", f"expected a table, got {rec!r}")
            bad = sorted(set(rec) - set(RECORD_KEYS))
            if bad:
                raise r.fail(
                    f"task.record.{bad[0]}",
                    f"unknown key; expected one of {', '.join(RECORD_KEYS)}",
                )
            for k in ("scenario", "demonstrator"):
                if not isinstance(rec.get(k), str):
                    raise r.fail(f"task.record.{k}", "required: a name")
            out["record"] = dict(rec)
        else:
            out["dataset"] = t["dataset"]
        if "scenario" in t:
            raise r.fail("task.scenario", "bc takes its scenario from the dataset")
        if "opponent" in t:
            out["opponent"] = t["opponent"]
        if "obs" in t:
            raise r.fail("task.obs", "bc takes its observation mode from the dataset")
    else:
        for k in ("dataset", "record"):
            if k in t:
                raise r.fail(f"task.{k}", f"is for learner = 'bc', not {learner!r}")
        if learner == "rppo" and out["policy"] != "lstm":
            raise r.fail("task.policy", "rppo trains lstm policies")
        if learner in ("a2c", "maskppo") and out["policy"] == "lstm":
            raise r.fail("task.policy", f"{learner} has no lstm policy; use learner = 'rppo'")
        out["scenario"] = t.get("scenario", "duel")
        out["opponent"] = t.get("opponent", "random")
        out["obs"] = t.get("obs", "vector")
        out["steps"] = r.count(t, "task.steps", 50_000, 1)
        out["reports"] = r.count(t, "task.reports", 5, 1)
        if out["val_episodes"] < 1:
            raise r.fail("task.val_episodes", "RL trials are scored by validation win rate: >= 1")
    return out


def representatives(space: SearchSpace) -> list[dict[str, Any]]:
    """Trial configurations that touch every value's type: the first and the last value of
    every parameter (each checked by the learner before any trial)."""
    lo = {p.name: (p.choices[0] if p.kind == "categorical" else _edge(p, 0)) for p in space.params}
    hi = {p.name: (p.choices[-1] if p.kind == "categorical" else _edge(p, 1)) for p in space.params}
    out = [lo, hi]
    for p in space.params:  # every categorical choice once (types may differ between them)
        for c in p.choices[1:-1]:
            out.append({**lo, p.name: c})
    return out


def _edge(p: Param, which: int) -> Any:
    v = p.low if which == 0 else p.high
    return int(v) if p.kind == "int" else float(v)


def _check_learner(r: _Reader, space: SearchSpace) -> None:
    """Every representative configuration must be valid hyperparameters for the learner."""
    for cfg in representatives(space):
        try:
            hp = space.hparams(cfg)
            check_hparams(space.task, hp)
        except CgfsimError as e:
            where = "params" if set(cfg) else "fixed"
            raise r.fail(where, str(e)) from None


def check_hparams(task: Mapping[str, Any], hp: dict[str, Any]) -> dict[str, Any]:
    """The learner's own check of a hyperparameter dict (unknown names fail here)."""
    if task["learner"] in BC_LEARNERS:
        from cgfsim.agents import supervised

        return supervised.resolve_hparams(hp, task["policy"])
    from cgfsim.agents import rl

    a = rl.resolve_algo(task["learner"], task["policy"])
    merged = rl.resolve_hparams(a, _scenario_name(task["scenario"]), hp)
    rl.split_hparams(a, merged, task.get("obs", "vector"))
    return merged


def _scenario_name(name: str) -> str:
    from cgfsim.envs._common import get_scenario

    return str(get_scenario(name).name)


def distinct(params: list[dict[str, Any]]) -> int:
    """Number of distinct parameter dicts (repeats of a random draw count once)."""
    return len({tuple(sorted((k, repr(v)) for k, v in p.items())) for p in params})


__all__ = [
    "LEARNERS",
    "METRICS",
    "PRUNERS",
    "STRATEGIES",
    "Param",
    "SearchSpace",
    "check_hparams",
    "distinct",
    "load_space",
    "space_from_dict",
    "space_from_text",
    "to_hparams",
]
