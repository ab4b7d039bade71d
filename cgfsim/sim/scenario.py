"""Scenario files: TOML with an ASCII map, forces, zones, objectives, victory rules and rewards.

A scenario is loaded and validated as a whole; any error raises
:class:`~cgfsim.sim.errors.ScenarioError` naming the file, the field (and
line where there is one) and what was expected, so nothing half-loads.
See ``README.md`` ("Writing a scenario") for the format and the built-in
files in ``cgfsim/scenarios/`` for examples.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.sim import doctrine_names, mapgen
from cgfsim.sim.errors import ScenarioError
from cgfsim.sim.terrain import LEGEND, PASSABLE
from cgfsim.sim.units import TYPE_INDEX, UNIT_TYPES

SIDES = ("blue", "red")
MAX_SIDE = 48  # largest map width/height: precomputed tables grow with cells^2
MAX_SLOTS = 32  # per side
MAX_FILE_BYTES = 1 << 20  # a scenario is a few kB; refuse to parse megabytes
#: Bound on any float in a scenario (reward weights...): per-tick sums stay finite in float32.
MAX_FLOAT = 1e6
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_OBJECTIVES = 32  # observations keep one bit per objective


@dataclass(frozen=True)
class Objective:
    name: str
    zone: str
    rect: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive
    hold_ticks: int
    capturable_by: tuple[bool, bool]  # (blue, red)


@dataclass(frozen=True)
class RewardWeights:
    """Per-tick reward terms of a side.

    Damage is in fractions of the target's max hp and counts only the hit
    points the target still had (overkill earns nothing). ``objective_tick``
    pays per objective the side controls this tick whether or not it may
    capture it: holding ground denies it to the enemy (blue on the hill in
    Defend).
    """

    damage_dealt: float = 1.0
    damage_taken: float = -1.0
    kill: float = 0.0
    loss: float = 0.0
    objective_tick: float = 0.05
    win: float = 10.0
    defeat: float = -10.0
    draw: float = 0.0
    step: float = 0.0


@dataclass(frozen=True)
class VictoryPoints:
    """How the end of time is scored when ``[victory] time_limit = "points"``.

    Each side scores ``unit_values[type]`` for every enemy unit it destroyed
    (``attrition = "destroyed"``) or that value times the fraction of the unit's
    hit points it took (``"damage"``), ``objective_held`` per objective it
    controls when time runs out, and ``objective_tick`` per objective per tick
    it controlled one. A side wins on points when its lead exceeds
    ``draw_margin``; otherwise the episode is a draw.
    """

    unit_values: tuple[float, ...]  # per unit type, in UNIT_TYPES order
    attrition: str = "destroyed"  # "destroyed" | "damage"
    objective_held: float = 0.0
    objective_tick: float = 0.0
    draw_margin: float = 0.0


#: Default points per destroyed unit, by type (roughly its fighting value).
DEFAULT_UNIT_POINTS = {"infantry": 1.0, "armour": 3.0, "recon": 1.0, "artillery": 2.0}
#: Largest accepted value of any points setting.
MAX_POINTS = 1000.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    text: str  # the TOML source, embedded in replays so they are self-contained
    maps: np.ndarray  # (M, H, W) uint8 terrain codes; M > 1 for a random-map pool
    zones: dict[str, tuple[int, int, int, int]]
    n_slots: tuple[int, int]  # (blue, red) maxima; units are padded to these
    unit_type: np.ndarray  # (U,) int8 type code per slot (0 for absent slots)
    present: np.ndarray  # (U,) bool, slot holds a unit at episode start
    start_zone: np.ndarray  # (U,) int16 index into zone_names, -1 for fixed or absent
    start_at: np.ndarray  # (U, 2) int16 fixed (row, col), -1 when placed in a zone
    zone_names: tuple[str, ...]
    objectives: tuple[Objective, ...]
    max_ticks: int
    annihilation: bool
    objective_victory: bool
    combat: str  # "stochastic" | "expected"
    rewards: tuple[RewardWeights, RewardWeights]
    doctrine_hint: tuple[str | None, str | None] = (None, None)
    random_map: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    time_limit: str = "draw"  # "draw" | "points": how the end of time is decided
    points: VictoryPoints | None = None  # set when time_limit == "points"

    def max_points(self, side: int) -> float:
        """Most victory points ``side`` can score (0 without points)."""
        vp = self.points
        if vp is None:
            return 0.0
        sl = self.side_slice(1 - side)
        enemy = self.unit_type[sl][self.present[sl]]
        k = len(self.objectives)
        return float(
            sum(vp.unit_values[int(t)] for t in enemy)
            + k * vp.objective_held
            + k * vp.objective_tick * self.max_ticks
        )

    @property
    def height(self) -> int:
        return int(self.maps.shape[1])

    @property
    def width(self) -> int:
        return int(self.maps.shape[2])

    @property
    def n_units(self) -> int:
        return self.n_slots[0] + self.n_slots[1]

    def side_slice(self, side: int) -> slice:
        return slice(0, self.n_slots[0]) if side == 0 else slice(self.n_slots[0], self.n_units)

    def force_summary(self, side: int) -> str:
        from cgfsim.sim.units import UNIT_TYPES

        sl = self.side_slice(side)
        types = self.unit_type[sl][self.present[sl]]
        parts = [f"{int((types == i).sum())} {t.name}" for i, t in enumerate(UNIT_TYPES)]
        parts = [p for p in parts if not p.startswith("0 ")]
        return f"{', '.join(parts)} ({int(self.present[sl].sum())}/{self.n_slots[side]} slots)"


# --------------------------------------------------------------------------- loading


def builtin_dir() -> Path:
    return Path(str(resources.files("cgfsim") / "scenarios"))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def resolve(name_or_path: str | Path) -> Path:
    """A built-in name (case-insensitive, e.g. ``skirmish``) or a path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        if p.is_dir():
            raise ScenarioError(f"{p}: is a directory, expected a scenario .toml file")
        if p.exists() and not p.is_file():
            raise ScenarioError(
                f"{p}: not a regular file (a pipe or device?), expected a .toml file"
            )
        if not p.is_file():
            raise ScenarioError(f"{p}: no such scenario file")
        return p
    for stem in builtin_names():
        if stem.lower() == str(name_or_path).lower().replace("-", "_"):
            return builtin_dir() / f"{stem}.toml"
    raise ScenarioError(
        f"unknown scenario {str(name_or_path)!r}; expected a path to a .toml file or one of: "
        + ", ".join(builtin_names())
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = resolve(name_or_path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes; not a scenario")
        raw = path.read_bytes()
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (expected UTF-8 TOML)") from None
    return load_scenario_text(text, str(path))


def load_scenario_text(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate a scenario's TOML text (a UTF-8 byte-order mark and CRLF are fine)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise ScenarioError(f"{source}: empty file (expected a TOML scenario)")
    if "\x00" in text:
        raise ScenarioError(f"{source}: not a text file (expected UTF-8 TOML)")
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(f"{source}: larger than {MAX_FILE_BYTES:,} bytes; not a scenario")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        where = f"{source}:{m.group(1)}" if m else source
        raise ScenarioError(f"{where}: invalid TOML: {e}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: invalid TOML: nested too deeply") from None
    return _Parser(data, source, text).parse()


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    return _Parser(data, source, "").parse()


# --------------------------------------------------------------------------- parsing

_MISSING = object()


class _Parser:
    def __init__(self, data: dict[str, Any], source: str, text: str) -> None:
        self.d, self.src, self.text = data, source, text

    # -- helpers
    def err(self, fld: str, msg: str, needle: str | None = None, line: int | None = None) -> None:
        if line is None and needle is not None and self.text:
            line = self._line_of(needle, fld)
        where = f"{self.src}:{line}" if line else self.src
        raise ScenarioError(f"{where}: {fld}: {msg}")

    def _line_of(self, needle: str, fld: str = "") -> int | None:
        """First line holding ``needle``, searched from the header of ``fld``'s table on."""
        lines = self.text.splitlines()
        start = self._section_start(lines, fld)
        for i in [*range(start, len(lines)), *range(start)]:
            if needle in lines[i]:
                return i + 1
        return None

    @staticmethod
    def _section_start(lines: list[str], fld: str) -> int:
        """0-based index of the table header a field lives under (0 when not found)."""
        m = re.match(r"\[*objectives\]*(?:\[(\d+)\])?", fld)
        if m:
            head = re.compile(r"\s*\[\[\s*objectives\s*\]\]")
            heads = [i for i, ln in enumerate(lines) if head.match(ln)]
            k = int(m.group(1) or 0)
            return heads[k] if k < len(heads) else 0
        parts = re.sub(r"\[\d+\]", "", fld).strip("[]").split(".")
        for n in range(len(parts), 0, -1):
            head = re.compile(r"\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, parts[:n])) + r"\s*\]")
            for i, ln in enumerate(lines):
                if head.match(ln):
                    return i
        return 0

    def get(
        self,
        tbl: dict[str, Any],
        key: str,
        fld: str,
        typ: type | tuple[type, ...],
        default: Any = _MISSING,
    ) -> Any:
        if key not in tbl:
            if default is _MISSING:
                self.err(fld, "missing (required field)")
            return default
        v = tbl[key]
        ok = isinstance(v, typ) and not (isinstance(v, bool) and typ in (int, float, (int, float)))
        if not ok:
            types = (typ,) if isinstance(typ, type) else typ
            names = " or ".join(_TOML_TYPE.get(t, t.__name__) for t in types)
            got = _TOML_TYPE.get(type(v), type(v).__name__)
            self.err(fld, f"expected {names}, got {got} {_short(v)}", needle=f"{key}")
        self.check_value(v, fld, key)
        return v

    def check_value(self, v: Any, fld: str, key: str) -> None:
        """Every value read must survive the engine: floats finite in float32, printable
        strings (no terminal escape codes). Integers and floats are range-checked where they
        are read (reward weights within +-MAX_FLOAT, so per-tick float32 sums stay finite)."""
        if isinstance(v, float) and not (math.isfinite(v) and abs(v) <= FLOAT32_MAX):
            self.err(fld, f"expected a number finite in float32, got {v!r}", needle=key)
        if isinstance(v, str) and fld != "map.ascii":
            bad = next((c for c in v if unicodedata.category(c) in ("Cc", "Cf")), None)
            if bad is not None:
                self.err(fld, f"control character U+{ord(bad):04X} is not allowed", needle=key)
        if isinstance(v, list):
            for item in v:
                self.check_value(item, fld, key)

    def known(self, tbl: dict[str, Any], fld: str, allowed: tuple[str, ...]) -> None:
        """Reject keys a table does not know (typos must not be silently ignored)."""
        for k in tbl:
            if k not in allowed:
                self.err(f"{fld}.{k}", "unknown field; expected " + ", ".join(allowed), needle=k)

    def table(
        self, tbl: dict[str, Any], key: str, fld: str, required: bool = True
    ) -> dict[str, Any]:
        v: dict[str, Any] = self.get(tbl, key, fld, dict, default=_MISSING if required else {})
        return v

    # -- main
    def parse(self) -> Scenario:
        d = self.d
        known = {"scenario", "map", "zones", "forces", "objectives", "victory", "rewards"}
        for k in d:
            if k not in known:
                self.err(
                    k,
                    f"unknown section; expected one of {', '.join(sorted(known))}",
                    needle=f"[{k}",
                )
        sc = self.table(d, "scenario", "[scenario]")
        self.known(sc, "scenario", ("name", "description", "combat"))
        name = self.get(sc, "name", "scenario.name", str)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            self.err(
                "scenario.name",
                f"expected letters and digits only (an id part), got {name!r}",
                needle="name",
            )
        desc = self.get(sc, "description", "scenario.description", str, "")
        combat = self.get(sc, "combat", "scenario.combat", str, "stochastic")
        if combat not in ("stochastic", "expected"):
            self.err(
                "scenario.combat",
                f"expected 'stochastic' or 'expected', got {combat!r}",
                needle="combat",
            )

        maps, random_cfg = self.parse_map()
        h, w = maps.shape[1:]
        self.h, self.w = int(h), int(w)
        zones = self.parse_zones(h, w)
        slots, utype, present, zone_of, at = self.parse_forces(zones)
        objectives = self.parse_objectives(zones)

        vic = self.table(d, "victory", "[victory]", required=False)
        self.known(
            vic, "victory", ("max_ticks", "annihilation", "objective", "time_limit", "points")
        )
        max_ticks = self.get(vic, "max_ticks", "victory.max_ticks", int, 200)
        if not 1 <= max_ticks <= 100_000:
            self.err(
                "victory.max_ticks", f"expected 1..100000, got {max_ticks}", needle="max_ticks"
            )
        annihilation = self.get(vic, "annihilation", "victory.annihilation", bool, True)
        obj_vic = self.get(vic, "objective", "victory.objective", bool, bool(objectives))
        if obj_vic and not objectives:
            self.err(
                "victory.objective",
                "true, but the scenario has no [[objectives]]",
                needle="objective",
            )

        time_limit = self.get(vic, "time_limit", "victory.time_limit", str, "draw")
        if time_limit not in ("draw", "points"):
            self.err(
                "victory.time_limit",
                f"expected 'draw' or 'points', got {time_limit!r}",
                needle="time_limit",
            )
        points = self.parse_points(vic, time_limit, utype, present, slots, objectives, max_ticks)

        rewards = self.parse_rewards()
        zone_names = tuple(zones)
        if random_cfg is not None:
            clear = [zones[z] for z in zone_names]
            maps = mapgen.generate_pool(h, w, random_cfg, clear, self.src)
        self.check_placement(maps, zones, zone_names, zone_of, at, present)
        for i, o in enumerate(objectives):
            x0, y0, x1, y1 = o.rect
            if not PASSABLE[maps[:, y0 : y1 + 1, x0 : x1 + 1]].reshape(len(maps), -1).any(1).all():
                self.err(
                    f"objectives[{i}].zone",
                    f"every cell of zone {o.zone!r} is impassable; no unit could ever hold it",
                    needle=f'"{o.zone}"',
                )
        zidx = np.array([zone_names.index(z) if z else -1 for z in zone_of], dtype=np.int16)
        hints = tuple(self.parse_doctrine_hint(s) for s in SIDES)
        return Scenario(
            name=name,
            description=desc,
            source=self.src,
            text=self.text,
            maps=maps,
            zones=zones,
            n_slots=slots,
            unit_type=utype,
            present=present,
            start_zone=zidx,
            start_at=at,
            zone_names=zone_names,
            objectives=objectives,
            max_ticks=max_ticks,
            annihilation=annihilation,
            objective_victory=obj_vic,
            combat=combat,
            rewards=rewards,
            doctrine_hint=hints,  # type: ignore[arg-type]
            random_map=random_cfg,
            time_limit=time_limit,
            points=points,
        )

    def parse_map(self) -> tuple[np.ndarray, dict[str, Any] | None]:
        m = self.table(self.d, "map", "[map]")
        self.known(m, "map", ("ascii", "random"))
        if "random" in m and "ascii" in m:
            self.err(
                "map",
                "give exactly one of ascii (a fixed map) or random (generated maps)",
                needle="random",
            )
        if "random" in m:
            cfg = self.get(m, "random", "map.random", dict)
            return mapgen.validate_config(cfg, self.src), cfg
        ascii_ = self.get(m, "ascii", "map.ascii", str)
        first, multiline = self._map_first_line()
        step = 1 if multiline else 0  # a one-line string ("..\n..") keeps every row on its line
        lines = [ln.rstrip("\r") for ln in ascii_.split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
            first = first + step if first else None
        while lines and not lines[-1].strip():
            lines.pop()
        lines = [ln.strip() for ln in lines]
        if not lines:
            self.err("map.ascii", "empty map", needle="ascii")
        w = len(lines[0])
        if not 2 <= w <= MAX_SIDE or not 2 <= len(lines) <= MAX_SIDE:
            self.err(
                "map.ascii",
                f"map must be 2..{MAX_SIDE} cells each way, got {len(lines)} rows x {w} columns",
                needle="ascii",
            )
        grid = np.zeros((len(lines), w), dtype=np.uint8)
        for r, ln in enumerate(lines):
            line_no = first + r * step if first else None
            if len(ln) != w:
                self.err(
                    "map.ascii",
                    f"row {r} has {len(ln)} cells, expected {w} like row 0",
                    line=line_no,
                )
            for c, ch in enumerate(ln):
                if ch not in LEGEND:
                    self.err(
                        "map.ascii",
                        f"unknown map character {ch!r} at row {r}, column {c}; "
                        f"expected one of {' '.join(LEGEND)}",
                        line=line_no,
                    )
                grid[r, c] = LEGEND[ch]
        return grid[None], None

    def _map_first_line(self) -> tuple[int | None, bool]:
        """Line of the map's first row, and whether its rows stand on lines of their own."""
        if not self.text:
            return None, False
        for i, ln in enumerate(self.text.splitlines(), 1):
            if re.match(r"\s*ascii\s*=", ln):
                rest = ln.split("=", 1)[1].strip()
                multiline = rest.startswith(('"""', "'''"))
                return (i + 1 if rest in ('"""', "'''") else i), multiline
        return None, False

    def rect(self, v: Any, fld: str, h: int, w: int) -> tuple[int, int, int, int]:
        if not (
            isinstance(v, list)
            and len(v) == 4
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        ):
            self.err(
                fld,
                f"expected [x0, y0, x1, y1] (4 integers, inclusive), got {v!r}",
                needle=fld.split(".")[-1],
            )
        x0, y0, x1, y1 = v
        if not (0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h):
            self.err(
                fld,
                f"rectangle {v} is outside the {w}x{h} map or has x0>x1 / y0>y1",
                needle=fld.split(".")[-1],
            )
        return (x0, y0, x1, y1)

    def parse_zones(self, h: int, w: int) -> dict[str, tuple[int, int, int, int]]:
        z = self.table(self.d, "zones", "[zones]", required=False)
        return {k: self.rect(v, f"zones.{k}", h, w) for k, v in z.items()}

    def parse_forces(
        self, zones: dict[str, tuple[int, int, int, int]]
    ) -> tuple[tuple[int, int], np.ndarray, np.ndarray, list[str], np.ndarray]:
        f = self.table(self.d, "forces", "[forces]")
        slots, types, present, zone_of, at = [], [], [], [], []
        self._at_field: list[str] = []  # per slot: the field of its fixed cell, "" for none
        for s in f:
            if s not in SIDES:
                self.err(f"forces.{s}", "unknown side; expected blue and red", needle=f"forces.{s}")
        for side in SIDES:
            t = self.table(f, side, f"[forces.{side}]")
            self.known(t, f"forces.{side}", ("slots", "doctrine", "units"))
            units = self.get(t, "units", f"forces.{side}.units", list)
            n_units = 0
            s_types, s_zone, s_at = [], [], []
            for i, u in enumerate(units):
                fld = f"forces.{side}.units[{i}]"
                if not isinstance(u, dict):
                    self.err(
                        fld,
                        f'expected a table like {{type = "infantry", count = 2, '
                        f'zone = "{side}_start"}}, got {u!r}',
                    )
                for k in u:
                    if k not in ("type", "count", "zone", "at"):
                        self.err(
                            f"{fld}.{k}",
                            "unknown field; expected type, count, zone or at",
                            needle=k,
                        )
                tn = self.get(u, "type", f"{fld}.type", str)
                if tn not in TYPE_INDEX:
                    self.err(
                        f"{fld}.type",
                        f"unknown unit type {tn!r}; expected one of " + ", ".join(TYPE_INDEX),
                        needle=f'"{tn}"',
                    )
                if ("zone" in u) == ("at" in u):
                    self.err(
                        fld,
                        "give exactly one of zone (a start zone name) or at "
                        "(a list of [x, y] cells)",
                        needle=f'"{tn}"',
                    )
                if "zone" in u:
                    zn = self.get(u, "zone", f"{fld}.zone", str)
                    if zn not in zones:
                        self.err(
                            f"{fld}.zone",
                            f"unknown zone {zn!r}; defined zones: "
                            + (", ".join(zones) or "none ([zones] is empty)"),
                            needle=f'"{zn}"',
                        )
                    count = self.get(u, "count", f"{fld}.count", int, 1)
                    if not 1 <= count <= MAX_SLOTS:
                        self.err(
                            f"{fld}.count", f"expected 1..{MAX_SLOTS}, got {count}", needle="count"
                        )
                    s_zone += [zn] * count
                    s_at += [(-1, -1)] * count
                    self._at_field += [""] * count
                else:
                    cells = self.get(u, "at", f"{fld}.at", list)
                    for c in cells:
                        if not (
                            isinstance(c, list)
                            and len(c) == 2
                            and all(isinstance(x, int) and not isinstance(x, bool) for x in c)
                        ):
                            self.err(
                                f"{fld}.at",
                                f"expected a list of [x, y] integer cells, got {c!r}",
                                needle="at",
                            )
                        if not (0 <= c[0] < self.w and 0 <= c[1] < self.h):
                            w, h = self.w, self.h
                            self.err(
                                f"{fld}.at",
                                f"unit at [x={c[0]}, y={c[1]}] is outside the "
                                f"{w}x{h} map (x 0..{w - 1}, y 0..{h - 1})",
                                needle=f"[{c[0]}, {c[1]}]",
                            )
                    if "count" in u and self.get(u, "count", f"{fld}.count", int) != len(cells):
                        self.err(
                            f"{fld}.count",
                            f"count {u['count']} does not match {len(cells)} cells in at",
                            needle="count",
                        )
                    s_zone += [""] * len(cells)
                    s_at += [(c[1], c[0]) for c in cells]  # stored as (row, col)
                    count = len(cells)
                    self._at_field += [f"{fld}.at"] * count
                s_types += [TYPE_INDEX[tn]] * count
                n_units += count
            if n_units == 0:
                self.err(f"forces.{side}.units", "a side needs at least one unit", needle="units")
            n_slots = self.get(t, "slots", f"forces.{side}.slots", int, n_units)
            if not 1 <= n_slots <= MAX_SLOTS:
                self.err(
                    f"forces.{side}.slots",
                    f"expected 1..{MAX_SLOTS}, got {n_slots}",
                    needle="slots",
                )
            if n_units > n_slots:
                self.err(
                    f"forces.{side}.slots",
                    f"{n_units} units do not fit in {n_slots} slots",
                    needle="slots",
                )
            pad = n_slots - n_units
            self._at_field += [""] * pad
            slots.append(n_slots)
            types += s_types + [0] * pad
            present += [True] * n_units + [False] * pad
            zone_of += s_zone + [""] * pad
            at += s_at + [(-1, -1)] * pad
        return (
            (slots[0], slots[1]),
            np.array(types, dtype=np.int8),
            np.array(present),
            zone_of,
            np.array(at, dtype=np.int16).reshape(-1, 2),
        )

    def parse_doctrine_hint(self, side: str) -> str | None:
        t = self.d["forces"][side]
        v = self.get(t, "doctrine", f"forces.{side}.doctrine", str, None)
        if v is None:
            return None
        name = doctrine_names.canonical(v)
        if name is None:
            self.err(
                f"forces.{side}.doctrine",
                f"unknown doctrine {v!r}; expected one of " + ", ".join(doctrine_names.NAMES),
                needle=f'"{v}"',
            )
        return name

    def check_placement(
        self,
        maps: np.ndarray,
        zones: dict[str, tuple[int, int, int, int]],
        zone_names: tuple[str, ...],
        zone_of: list[str],
        at: np.ndarray,
        present: np.ndarray,
    ) -> None:
        h, w = maps.shape[1:]
        seen: set[tuple[int, int]] = set()
        for (r, c), z, p, fld in zip(
            at.tolist(), zone_of, present.tolist(), self._at_field, strict=True
        ):
            if not p or z:
                continue
            if not (0 <= r < h and 0 <= c < w):
                self.err(
                    fld,
                    f"unit at [x={c}, y={r}] is outside the {w}x{h} map "
                    f"(x 0..{w - 1}, y 0..{h - 1})",
                    needle=f"[{c}, {r}]",
                )
            if not PASSABLE[maps[:, r, c]].all():
                self.err(
                    fld,
                    f"unit at [x={c}, y={r}] stands on an impassable cell",
                    needle=f"[{c}, {r}]",
                )
            if (r, c) in seen:
                self.err(fld, f"two units at [x={c}, y={r}]", needle=f"[{c}, {r}]")
            seen.add((r, c))
        names = [n for n in zone_names if n in zone_of]
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if _overlap(zones[a], zones[b]):
                    self.err(
                        f"zones.{b}", f"start zone {b!r} overlaps start zone {a!r}", needle=f"{b} ="
                    )
        for zn in names:
            need = zone_of.count(zn)
            x0, y0, x1, y1 = zones[zn]
            sub = PASSABLE[maps[:, y0 : y1 + 1, x0 : x1 + 1]]
            free = sub.reshape(len(maps), -1).sum(1).min()
            for (r, c), z, p in zip(at.tolist(), zone_of, present.tolist(), strict=True):
                if p and not z and x0 <= c <= x1 and y0 <= r <= y1:
                    free -= 1
            if free < need:
                self.err(
                    f"zones.{zn}",
                    f"start zone {zn!r} has {free} free passable cells "
                    f"but {need} units start in it",
                    needle=f"{zn} =",
                )

    def parse_objectives(
        self, zones: dict[str, tuple[int, int, int, int]]
    ) -> tuple[Objective, ...]:
        objs = self.get(self.d, "objectives", "[[objectives]]", list, [])
        if len(objs) > MAX_OBJECTIVES:
            self.err("[[objectives]]", f"at most {MAX_OBJECTIVES} objectives, got {len(objs)}")
        out = []
        for i, o in enumerate(objs):
            fld = f"objectives[{i}]"
            if not isinstance(o, dict):
                self.err(fld, f"expected a table, got {o!r}")
            self.known(o, fld, ("name", "zone", "hold_ticks", "capturable_by"))
            zn = self.get(o, "zone", f"{fld}.zone", str)
            if zn not in zones:
                self.err(
                    f"{fld}.zone",
                    f"unknown zone {zn!r}; defined zones: {', '.join(zones)}",
                    needle=f'"{zn}"',
                )
            hold = self.get(o, "hold_ticks", f"{fld}.hold_ticks", int, 10)
            if not 1 <= hold <= 100_000:
                self.err(
                    f"{fld}.hold_ticks", f"expected 1..100000, got {hold}", needle="hold_ticks"
                )
            cap = self.get(o, "capturable_by", f"{fld}.capturable_by", list, list(SIDES))
            for s in cap:
                if s not in SIDES:
                    self.err(
                        f"{fld}.capturable_by",
                        f"unknown side {_short(s)}; expected blue, red",
                        needle="capturable_by",
                    )
            if not cap:
                self.err(
                    f"{fld}.capturable_by",
                    "empty: an objective nobody can capture; name blue, red or both",
                    needle="capturable_by",
                )
            name = self.get(o, "name", f"{fld}.name", str, zn)
            out.append(Objective(name, zn, zones[zn], hold, ("blue" in cap, "red" in cap)))
        return tuple(out)

    def parse_points(
        self,
        vic: dict[str, Any],
        time_limit: str,
        utype: np.ndarray,
        present: np.ndarray,
        slots: tuple[int, int],
        objectives: tuple[Objective, ...],
        max_ticks: int,
    ) -> VictoryPoints | None:
        """``[victory.points]``: validated, ranges checked; None when time ends in a draw."""
        has = "points" in vic
        if time_limit == "draw":
            if has:
                self.err(
                    "victory.points",
                    "given, but victory.time_limit is 'draw'; set time_limit = \"points\"",
                    needle="points",
                )
            return None
        p = self.table(vic, "points", "[victory.points]", required=False)
        fld = "victory.points"
        self.known(
            p,
            fld,
            (
                *DEFAULT_UNIT_POINTS,
                "attrition",
                "objective_held",
                "objective_tick",
                "draw_margin",
            ),
        )

        def number(key: str, default: float) -> float:
            v = self.get(p, key, f"{fld}.{key}", (int, float), default)
            if not (math.isfinite(v) and 0 <= v <= MAX_POINTS):
                self.err(f"{fld}.{key}", f"expected a number in 0..{MAX_POINTS:g}, got {v!r}", key)
            return float(v)

        values = tuple(number(t.name, DEFAULT_UNIT_POINTS[t.name]) for t in UNIT_TYPES)
        attrition = self.get(p, "attrition", f"{fld}.attrition", str, "destroyed")
        if attrition not in ("destroyed", "damage"):
            self.err(
                f"{fld}.attrition",
                f"expected 'destroyed' or 'damage', got {attrition!r}",
                needle="attrition",
            )
        held, tick = number("objective_held", 0.0), number("objective_tick", 0.0)
        if (held or tick) and not objectives:
            key = "objective_held" if held else "objective_tick"
            self.err(f"{fld}.{key}", "points for objectives, but the scenario has none", key)
        margin = number("draw_margin", 0.0)
        vp = VictoryPoints(values, attrition, held, tick, margin)
        k = len(objectives)
        best = []
        for side in (0, 1):
            other = slice(0, slots[0]) if side == 1 else slice(slots[0], sum(slots))
            enemy = utype[other][present[other]]
            best.append(sum(values[int(t)] for t in enemy) + k * held + k * tick * max_ticks)
        if max(best) <= margin:
            self.err(
                f"{fld}.draw_margin",
                f"{margin:g} is not below the most points a side can score ({max(best):g}): "
                "every time-out would be a draw",
                needle="draw_margin",
            )
        return vp

    def parse_rewards(self) -> tuple[RewardWeights, RewardWeights]:
        r = self.table(self.d, "rewards", "[rewards]", required=False)
        fields = RewardWeights.__dataclass_fields__
        base: dict[str, float] = {}
        per_side: list[dict[str, float]] = [{}, {}]
        for k, v in r.items():
            if k in SIDES:
                if not isinstance(v, dict):
                    self.err(f"rewards.{k}", f"expected a table, got {v!r}")
                for kk, vv in v.items():
                    per_side[SIDES.index(k)][kk] = self._weight(f"rewards.{k}.{kk}", kk, vv, fields)
            else:
                base[k] = self._weight(f"rewards.{k}", k, v, fields)
        return (RewardWeights(**{**base, **per_side[0]}), RewardWeights(**{**base, **per_side[1]}))

    def _weight(self, fld: str, k: str, v: Any, fields: Any) -> float:
        if k not in fields:
            self.err(fld, "unknown reward weight; expected one of " + ", ".join(fields), needle=k)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok or not (math.isfinite(v) and abs(v) <= MAX_FLOAT):
            self.err(fld, f"expected a finite number within +-{MAX_FLOAT:g}, got {v!r}", needle=k)
        return float(v)


def _short(v: Any, n: int = 60) -> str:
    """``repr`` cut to ``n`` characters, for error messages about arbitrary input."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


_TOML_TYPE: dict[type, str] = {
    dict: "table",
    list: "array",
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
}


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])
