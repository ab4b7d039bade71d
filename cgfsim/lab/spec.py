"""Sweep specifications: approaches x scenarios x seeds x data budgets, read from TOML.

.. code-block:: toml

    [sweep]
    name = "duel-vs-random"
    approaches = ["ppo-mlp", "ga-mlp"]     # see cgfsim.lab.approaches.REGISTRY
    scenarios = ["duel"]                  # built-in names or scenario files
    seeds = [0, 1, 2]                     # training seeds (world-key splits per seed)
    budgets = [4096, 16384, 65536]        # strictly increasing, on each approach's data axis,
    # or one list per data axis: budgets = { env_steps = [...], demo_steps = [...] }
    opponent = "random"                   # the evaluation (and training) opponent
    side = "blue"
    demonstrator = "auto"                 # demonstrations' doctrine: the best against the
                                          # opponent (from the targets), or a doctrine name
    torch_threads = 1                     # per job; part of the job, so results never
                                          # depend on the executor

    [evaluation]
    test_episodes = 1000                  # per reported point (>= 1000 unless stated)
    validation_episodes = 500             # per checkpoint-selection evaluation

    [targets]                             # what "reliable" is measured against
    source = "auto"                       # the scenario's calibration if it ships one,
                                          # else "doctrines" (a live round robin)
    doctrines = ["assault", "flank"]      # candidates; default: every doctrine but "random"
    episodes = 1000                       # live round robin: default evaluation.test_episodes
    fixed = { "win 80%" = 0.8 }           # optional extra targets, each in [0, 1]

    [options.ga-mlp]                      # per-approach hyperparameters
    pop = 32

Everything is checked when the file is read, before any job or output folder
exists; a problem is one :class:`~cgfsim.sim.errors.CgfsimError` line naming the
file, the field and what was expected.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cgfsim.lab.protocol import Protocol
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import MAX_SEED

#: Bump when a change to the protocol changes what a job computes (old results then rerun).
PROTOCOL_VERSION = 1
TARGET_SOURCES = ("auto", "calibration", "doctrines")
SECTIONS = {
    "sweep": (
        "name",
        "description",
        "approaches",
        "scenarios",
        "seeds",
        "budgets",
        "opponent",
        "side",
        "demonstrator",
        "torch_threads",
    ),
    "evaluation": ("test_episodes", "validation_episodes", "n_envs"),
    "targets": ("source", "doctrines", "episodes", "fixed"),
    "options": (),
}


@dataclass(frozen=True)
class TargetSpec:
    """Where the reliability targets come from (see :mod:`cgfsim.lab.targets`)."""

    source: str = "auto"
    doctrines: tuple[str, ...] = ()
    episodes: int = 1000
    fixed: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "doctrines": list(self.doctrines),
            "episodes": self.episodes,
            "fixed": dict(self.fixed),
        }


@dataclass(frozen=True)
class ScenarioRef:
    """A resolved scenario: its name, where it came from, its text and the text's hash."""

    name: str
    source: str
    text: str
    sha256: str
    random_maps: bool

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        d = {"name": self.name, "source": self.source, "sha256": self.sha256}
        if with_text:
            d["text"] = self.text
        return d


@dataclass(frozen=True)
class SweepSpec:
    name: str
    description: str
    approaches: tuple[str, ...]
    scenarios: tuple[ScenarioRef, ...]
    seeds: tuple[int, ...]
    #: budgets per data axis (an axis no approach of the sweep uses may be absent)
    budgets: dict[str, tuple[int, ...]]
    opponent: str
    side: str
    torch_threads: int
    protocol: Protocol
    targets: TargetSpec
    options: dict[str, dict[str, Any]]
    source: str = "<dict>"
    #: "auto" (the best doctrine against the opponent, from the targets) or a doctrine
    demonstrator: str = "auto"

    def budgets_for(self, approach: str) -> tuple[int, ...]:
        """The budgets of ``approach``: those of its data axis."""
        from cgfsim.lab.approaches import get_approach

        return self.budgets[get_approach(approach).axis]

    def demo_approaches(self) -> list[str]:
        """The sweep's approaches that learn from a demonstrator."""
        from cgfsim.lab.approaches import get_approach

        return [a for a in self.approaches if get_approach(a).demonstrations != "none"]

    def demo_record_steps(self) -> int:
        """Demonstration steps the sweep's recorded datasets must hold (train + validation
        splits): the most any approach asks for, so every job of a seed shares one dataset."""
        from cgfsim.lab.approaches import get_approach

        need = [
            get_approach(a).record_steps(self.options.get(a, {}), list(self.budgets_for(a)))
            for a in self.approaches
        ]
        return max([0, *need])

    def jobs(
        self, folder: str | Path, demonstrators: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every job, in sweep order (scenario, seed, approach); ``run_dir`` under ``folder``.

        ``demonstrators`` (scenario name -> doctrine) is required when the sweep has
        approaches that learn from demonstrations: the demonstrator (and the size of the
        recorded dataset) are part of those jobs' identity. The demonstration cache
        (``<folder>/demos``) is not.
        """
        from cgfsim.lab.approaches import get_approach

        record = self.demo_record_steps()
        out = []
        for sc in self.scenarios:
            for seed in self.seeds:
                for a in self.approaches:
                    job: dict[str, Any] = {
                        "protocol_version": PROTOCOL_VERSION,
                        "approach": a,
                        "options": self.options.get(a, {}),
                        "scenario": sc.to_dict(),
                        "opponent": self.opponent,
                        "side": self.side,
                        "seed": seed,
                        "budgets": list(self.budgets_for(a)),
                        "protocol": self.protocol.to_dict(),
                        "torch_threads": self.torch_threads,
                    }
                    uses = get_approach(a).demonstrations
                    if uses != "none":
                        if not demonstrators or sc.name not in demonstrators:
                            raise CgfsimError(f"{a}: no demonstrator known for scenario {sc.name}")
                        job["demonstrator"] = demonstrators[sc.name]
                        if uses == "recorded":
                            job["demo_record_steps"] = record
                    job["id"] = job_id(job)
                    job["run_dir"] = str(
                        Path(folder) / "jobs" / f"{a}-{sc.name}-s{seed}-{job['id']}"
                    )
                    job["demo_cache"] = str(Path(folder) / "demos")
                    out.append(job)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "approaches": list(self.approaches),
            "scenarios": [s.to_dict(with_text=False) for s in self.scenarios],
            "seeds": list(self.seeds),
            "budgets": {k: list(v) for k, v in self.budgets.items()},
            "approach_budgets": {a: list(self.budgets_for(a)) for a in self.approaches},
            "approach_axes": {a: _axis(a) for a in self.approaches},
            "opponent": self.opponent,
            "side": self.side,
            "demonstrator": self.demonstrator,
            "torch_threads": self.torch_threads,
            "evaluation": self.protocol.to_dict(),
            "targets": self.targets.to_dict(),
            "options": self.options,
            "protocol_version": PROTOCOL_VERSION,
        }


def _axis(approach: str) -> str:
    from cgfsim.lab.approaches import get_approach

    return get_approach(approach).axis


#: Job keys that say where a job runs, not what it computes: not part of its id.
PLACE_KEYS = ("id", "run_dir", "demo_cache")


def job_id(job: Mapping[str, Any]) -> str:
    """The hash of a job's resolved spec (everything but ``id`` and where it runs)."""
    ident = {k: v for k, v in job.items() if k not in PLACE_KEYS}
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


class _Reader:
    """Reads a parsed TOML file's tables; every problem names the file and the field.
    ``sections`` maps a table to its allowed keys (an empty tuple: any key)."""

    def __init__(
        self,
        data: dict[str, Any],
        source: str,
        sections: Mapping[str, tuple[str, ...]] = SECTIONS,
    ) -> None:
        self.data, self.source, self.sections = data, source, sections

    def fail(self, fld: str, msg: str) -> CgfsimError:
        return CgfsimError(f"{self.source}: {fld}: {msg}")

    def table(self, name: str) -> dict[str, Any]:
        t = self.data.get(name, {})
        if not isinstance(t, dict):
            raise self.fail(name, f"expected a table [{name}]")
        allowed = self.sections[name]
        if allowed:
            unknown = sorted(set(t) - set(allowed))
            if unknown:
                raise self.fail(
                    f"{name}.{unknown[0]}", f"unknown key; expected one of {', '.join(allowed)}"
                )
        return t

    def str_list(self, t: dict[str, Any], fld: str, default: list[str] | None = None) -> list[str]:
        v = t.get(fld.split(".")[-1], default)
        if v is None:
            raise self.fail(fld, "required: a list of names")
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
            raise self.fail(fld, f"expected a non-empty list of names, got {v!r}")
        if len(set(v)) != len(v):
            raise self.fail(fld, f"names must be distinct, got {v}")
        return v

    def int_list(self, t: dict[str, Any], fld: str, lo: int, hi: int | None = None) -> list[int]:
        v = t.get(fld.split(".")[-1])
        if not isinstance(v, list) or not v or not all(_is_int(x) for x in v):
            raise self.fail(fld, f"expected a non-empty list of integers, got {v!r}")
        bad = [x for x in v if x < lo or (hi is not None and x > hi)]
        if bad:
            rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise self.fail(fld, f"values must be {rng}, got {bad[0]}")
        return [int(x) for x in v]

    def integer(self, t: dict[str, Any], fld: str, default: int | None, lo: int) -> int | None:
        v = t.get(fld.split(".")[-1], default)
        if v is None:
            return None
        if not _is_int(v) or v < lo:
            raise self.fail(fld, f"expected an integer >= {lo}, got {v!r}")
        return int(v)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def resolve_scenario(name: str, fld: str = "scenario") -> ScenarioRef:
    from cgfsim.envs._common import get_scenario

    sc = get_scenario(name)  # ScenarioError (a CgfsimError) names the file or the name
    text = sc.text
    if not text:
        raise CgfsimError(f"{fld}: {name!r} has no scenario text to send to a job")
    return ScenarioRef(
        sc.name,
        str(sc.source),
        text,
        hashlib.sha256(text.encode("utf-8")).hexdigest(),
        sc.random_map is not None,
    )


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep TOML file (see the module doc)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CgfsimError(f"{p}: cannot read sweep file ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CgfsimError(f"{p}: invalid TOML: {e}") from None
    return sweep_from_dict(data, str(p))


def sweep_from_dict(data: dict[str, Any], source: str = "<dict>") -> SweepSpec:
    """Check a sweep given as a dict (the parsed TOML) and resolve it."""
    from cgfsim.lab.approaches import get_approach

    r = _Reader(data, source)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise r.fail(unknown[0], f"unknown section; expected one of {', '.join(SECTIONS)}")
    sw = r.table("sweep")
    name = str(sw.get("name", Path(source).stem))
    approaches = r.str_list(sw, "sweep.approaches")
    for a in approaches:
        try:
            get_approach(a)
        except CgfsimError as e:
            raise r.fail("sweep.approaches", str(e)) from None
    scen_names = r.str_list(sw, "sweep.scenarios", ["duel"])
    scenarios = []
    for s in scen_names:
        try:
            scenarios.append(resolve_scenario(s, "sweep.scenarios"))
        except CgfsimError as e:
            raise r.fail("sweep.scenarios", f"unknown or invalid scenario {s!r}: {e}") from None
    seeds = r.int_list(sw, "sweep.seeds", 0, MAX_SEED)
    if len(set(seeds)) != len(seeds):
        raise r.fail("sweep.seeds", f"seeds must be distinct, got {seeds}")
    budgets = _budgets(r, sw, approaches)
    opponent = sw.get("opponent", "random")
    if not isinstance(opponent, str):
        raise r.fail("sweep.opponent", f"expected a doctrine name or checkpoint, got {opponent!r}")
    from cgfsim.agents.evaluation import load_player

    try:
        kind, what = load_player(opponent)
    except CgfsimError as e:
        raise r.fail("sweep.opponent", str(e)) from None
    if kind == "doctrine":
        opponent = what
    side = sw.get("side", "blue")
    if side not in ("blue", "red"):
        raise r.fail("sweep.side", f"expected 'blue' or 'red', got {side!r}")
    threads = r.integer(sw, "sweep.torch_threads", 1, 1) or 1
    demonstrator = sw.get("demonstrator", "auto")
    if demonstrator != "auto":
        from cgfsim.sim.doctrines import ALIASES, DOCTRINES

        if not isinstance(demonstrator, str) or ALIASES.get(demonstrator, demonstrator) not in (
            DOCTRINES
        ):
            raise r.fail(
                "sweep.demonstrator",
                f"expected 'auto' or a doctrine ({', '.join(DOCTRINES)}), got {demonstrator!r}",
            )
        demonstrator = ALIASES.get(demonstrator, demonstrator)

    ev = r.table("evaluation")
    protocol = Protocol(
        test_episodes=r.integer(ev, "evaluation.test_episodes", 1000, 1) or 1000,
        validation_episodes=r.integer(ev, "evaluation.validation_episodes", 500, 1) or 500,
        n_envs=r.integer(ev, "evaluation.n_envs", None, 1),
    )
    targets = _targets(r, protocol.test_episodes, scenarios, opponent)
    options = _options(r, approaches, scenarios, budgets)
    return SweepSpec(
        name=name,
        description=str(sw.get("description", "")),
        approaches=tuple(approaches),
        scenarios=tuple(scenarios),
        seeds=tuple(seeds),
        budgets=budgets,
        opponent=opponent,
        side=side,
        torch_threads=threads,
        protocol=protocol,
        targets=targets,
        options=options,
        source=source,
        demonstrator=demonstrator,
    )


def _budgets(r: _Reader, sw: dict[str, Any], approaches: list[str]) -> dict[str, tuple[int, ...]]:
    """``sweep.budgets``: one list for every axis, or a table of lists keyed by data axis."""
    from cgfsim.lab.approaches import get_approach
    from cgfsim.lab.protocol import AXES

    raw = sw.get("budgets")
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - set(AXES))
        if unknown:
            raise r.fail(
                f"sweep.budgets.{unknown[0]}", f"not a data axis; expected one of {', '.join(AXES)}"
            )
        lists = {k: r.int_list(raw, f"sweep.budgets.{k}", 1) for k in raw}
    else:
        lists = {k: r.int_list(sw, "sweep.budgets", 1) for k in AXES}
    for k, v in lists.items():
        fld = "sweep.budgets" + (f".{k}" if isinstance(raw, dict) else "")
        if any(b <= a for a, b in itertools.pairwise(v)):
            raise r.fail(fld, f"budgets must be strictly increasing, got {v}")
    for a in approaches:
        axis = get_approach(a).axis
        if axis not in lists:
            raise r.fail(f"sweep.budgets.{axis}", f"required: {a} counts its data in {axis}")
    return {k: tuple(v) for k, v in lists.items()}


def _targets(
    r: _Reader, test_episodes: int, scenarios: list[ScenarioRef], opponent: str
) -> TargetSpec:
    from cgfsim.sim.doctrines import ALIASES, DOCTRINES

    t = r.table("targets")
    src = t.get("source", "auto")
    if src not in TARGET_SOURCES:
        raise r.fail("targets.source", f"expected one of {', '.join(TARGET_SOURCES)}, got {src!r}")
    if src == "calibration":
        from cgfsim.lab.targets import find_calibration

        for ref in scenarios:
            _, why = find_calibration(ref, opponent)
            if why:
                raise r.fail("targets.source", f"'calibration' for {ref.name}: {why}")
    default = [d for d in DOCTRINES if d != "random"]
    docs = r.str_list(t, "targets.doctrines", default)
    for d in docs:
        if ALIASES.get(d, d) not in DOCTRINES:
            raise r.fail("targets.doctrines", f"unknown doctrine {d!r}")
    fixed = t.get("fixed", {})
    if not isinstance(fixed, dict):
        raise r.fail("targets.fixed", f"expected a table of name = win rate, got {fixed!r}")
    for k, v in fixed.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= float(v) <= 1.0:
            raise r.fail(f"targets.fixed.{k}", f"threshold must be a win rate in [0, 1], got {v!r}")
    episodes = r.integer(t, "targets.episodes", test_episodes, 1) or test_episodes
    return TargetSpec(
        src,
        tuple(ALIASES.get(d, d) for d in docs),
        episodes,
        {k: float(v) for k, v in fixed.items()},
    )


def _options(
    r: _Reader,
    approaches: list[str],
    scenarios: list[ScenarioRef],
    budgets: dict[str, tuple[int, ...]],
) -> dict[str, dict[str, Any]]:
    from cgfsim.envs._common import get_scenario
    from cgfsim.lab.approaches import get_approach

    opts = r.table("options")
    out: dict[str, dict[str, Any]] = {}
    for a, o in opts.items():
        fld = f"options.{a}"
        if a not in approaches:
            raise r.fail(fld, f"not an approach of this sweep ({', '.join(approaches)})")
        if not isinstance(o, dict):
            raise r.fail(fld, f"expected a table of hyperparameters, got {o!r}")
        for k, v in o.items():  # datasets must exist before any job starts
            if k == "dataset" or k.endswith("_dataset"):
                if not isinstance(v, str) or not Path(v).exists():
                    raise r.fail(f"{fld}.{k}", f"missing dataset {v!r}: no such file or folder")
        appr = get_approach(a)
        for ref in scenarios:
            try:
                appr.check(o, get_scenario(ref.source))
                appr.check_budgets(o, list(budgets[appr.axis]))
            except CgfsimError as e:
                raise r.fail(fld, str(e)) from None
        out[a] = dict(o)
    for a in approaches:  # approaches without options: their defaults must fit the budgets
        if a not in out:
            try:
                get_approach(a).check_budgets({}, list(budgets[get_approach(a).axis]))
            except CgfsimError as e:
                raise r.fail(f"options.{a}", str(e)) from None
    return out


__all__ = [
    "PLACE_KEYS",
    "PROTOCOL_VERSION",
    "ScenarioRef",
    "SweepSpec",
    "TargetSpec",
    "job_id",
    "load_sweep",
]
