"""Scenario files: the built-ins load and run with every doctrine; random maps are
reproducible, clear and connected; bad input fails with one clear ScenarioError
naming the file, the field and (where there is one) the line."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from cgfsim.sim import actions as A
from cgfsim.sim import doctrines as D
from cgfsim.sim import mapgen
from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError, ScenarioError
from cgfsim.sim.scenario import (
    builtin_names,
    load_scenario,
    load_scenario_text,
    resolve,
    scenario_from_dict,
)
from cgfsim.sim.terrain import PASSABLE, Terrain
from tests.sim.helpers import make_scenario

BUILTINS = builtin_names()


def test_the_builtin_scenarios_are_there() -> None:
    assert {"ambush", "defend", "duel", "random_field", "skirmish", "urban"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_scenario_loads_consistently(name: str) -> None:
    sc = load_scenario(name)
    assert load_scenario(name.upper()).name == sc.name  # names resolve case-insensitively
    nb, nr = sc.n_slots
    assert sc.unit_type.shape == sc.present.shape == sc.start_zone.shape == (nb + nr,)
    assert sc.present[:nb].any() and sc.present[nb:].any()
    assert sc.maps.ndim == 3 and sc.maps.shape[1:] == (sc.height, sc.width)
    for hint in sc.doctrine_hint:
        assert hint is None or hint in D.DOCTRINES
    assert sc.text and sc.source.endswith(f"{name}.toml")
    # the embedded text reloads to the same scenario
    again = load_scenario_text(sc.text, "again")
    assert np.array_equal(again.maps, sc.maps) and again.n_slots == sc.n_slots


@pytest.mark.parametrize("doctrine", sorted(D.DOCTRINES))
@pytest.mark.parametrize("name", BUILTINS)
def test_every_doctrine_runs_on_every_builtin_for_both_sides(name: str, doctrine: str) -> None:
    sc = load_scenario(name)
    e = Engine(sc, 8, seed=5)
    policy = D.get_doctrine(doctrine)
    other = D.get_doctrine("assault" if doctrine != "assault" else "hold")
    for t in range(40):
        # the doctrine plays both sides; in odd worlds blue plays another doctrine instead
        blue, red = policy(e, 0), policy(e, 1)
        for side, a in ((0, blue), (1, red)):
            n = sc.n_slots[side]
            assert a.shape == (8, n) and np.issubdtype(a.dtype, np.integer), (side, a.dtype)
            lim = e.n_act[sc.side_slice(side)]
            assert ((a >= 0) & (a < lim[None, :])).all(), f"{doctrine} side {side} tick {t}"
        act = np.concatenate([blue, red], 1)
        act[1::2, : sc.n_slots[0]] = other(e, 0)[1::2]  # and against another doctrine
        e.check_actions(act)
        r = e.step(act)
        e.reset(r.done)


def test_doctrine_aliases_resolve() -> None:
    for alias, name in D.ALIASES.items():
        assert D.get_doctrine(alias) is D.DOCTRINES[name]
    with pytest.raises(ValueError, match="unknown doctrine"):
        D.get_doctrine("charge")


def test_doctrine_goals_follow_each_engines_own_map() -> None:
    # Regression: doctrine goal cells were cached by id(maps), so a scenario created
    # after another was freed could inherit the dead one's goals (ids get reused).
    for i in range(40):
        w, ox, oy = 12 + i % 5, 3, 1  # same objective rectangle, maps of different widths
        row = "." * w
        sc = make_scenario(
            f"{row}\n{row}\n{row}",
            [("infantry", 0, oy)],
            [("infantry", w - 1, 0)],
            zones={"obj": [ox, oy, ox, oy]},
            objectives=[{"zone": "obj"}],
        )
        e = Engine(sc, 1)
        # the objective is straight east of the unit: advance must step east
        assert D.advance(e, 0)[0, 0] == A.EAST, (i, w, ox, oy)
        del e, sc


# --------------------------------------------------------------------------- random maps


def _connected(
    grid: np.ndarray, a: tuple[int, int, int, int], b: tuple[int, int, int, int]
) -> bool:
    """Breadth-first search from any cell of rect a to any cell of rect b."""
    h, w = grid.shape
    ok = PASSABLE[grid]
    start = [(y, x) for y in range(a[1], a[3] + 1) for x in range(a[0], a[2] + 1) if ok[y, x]]
    seen = set(start)
    todo = deque(start)
    while todo:
        y, x = todo.popleft()
        if b[0] <= x <= b[2] and b[1] <= y <= b[3]:
            return True
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w and ok[ny, nx] and (ny, nx) not in seen:
                seen.add((ny, nx))
                todo.append((ny, nx))
    return False


def test_random_map_pool_is_reproducible_clear_and_connected() -> None:
    sc = load_scenario("random_field")
    cfg = sc.random_map
    assert cfg is not None and sc.maps.shape == (cfg["pool"], cfg["height"], cfg["width"])
    assert np.array_equal(load_scenario("random_field").maps, sc.maps)  # same config, same pool
    assert len({m.tobytes() for m in sc.maps}) == len(sc.maps)  # maps differ from each other
    rects = list(sc.zones.values())
    for grid in sc.maps:
        assert len(np.unique(grid)) >= 4  # blobs of several terrain types
        for x0, y0, x1, y1 in rects:
            assert (grid[y0 : y1 + 1, x0 : x1 + 1] == Terrain.OPEN).all()
        for r in rects[1:]:
            assert _connected(grid, rects[0], r)


def test_random_map_generation_depends_on_the_config_only() -> None:
    cfg = {
        "width": 12,
        "height": 10,
        "pool": 6,
        "seed": 7,
        "obstacle": 0.1,
        "forest": 0.15,
        "water": 0.1,
        "rough": 0.1,
        "road": 0.1,
    }
    zones = [(0, 0, 11, 1), (0, 8, 11, 9), (5, 4, 6, 5)]
    a = mapgen.generate_pool(10, 12, cfg, zones, "x")
    b = mapgen.generate_pool(10, 12, dict(cfg), zones, "x")
    c = mapgen.generate_pool(10, 12, {**cfg, "seed": 8}, zones, "x")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for grid in a:
        for x0, y0, x1, y1 in zones:
            assert (grid[y0 : y1 + 1, x0 : x1 + 1] == Terrain.OPEN).all()
        assert _connected(grid, zones[0], zones[1]) and _connected(grid, zones[0], zones[2])


def test_random_map_scenario_draws_maps_per_episode() -> None:
    sc = load_scenario("random_field")
    e = Engine(sc, 32, seed=0)
    first = e.map_id.copy()
    assert len(set(first.tolist())) > 8
    e.reset()
    assert not np.array_equal(first, e.map_id)
    for b in range(e.B):  # units stand in their zones, on passable cells of their map
        grid = sc.maps[e.map_id[b]]
        assert PASSABLE[grid[e.y[b][sc.present], e.x[b][sc.present]]].all()


# --------------------------------------------------------------------------- bad input

BASE = '''[scenario]
name = "Probe"

[map]
ascii = """
......
..##..
......
......
"""

[zones]
blue_start = [0, 3, 5, 3]
red_start = [0, 0, 5, 0]

[forces.blue]
units = [{ type = "infantry", count = 2, zone = "blue_start" }]

[forces.red]
doctrine = "hold"
units = [{ type = "infantry", at = [[1, 1], [4, 1]] }]

[[objectives]]
zone = "red_start"
hold_ticks = 3
'''
FIXED_MAP = 'ascii = """\n......\n..##..\n......\n......\n"""'
RED_AT = 'units = [{ type = "infantry", at = [[1, 1], [4, 1]] }]'
BLUE_UNITS = 'units = [{ type = "infantry", count = 2, zone = "blue_start" }]'

# (id, edit (old, new) or full text, field, line or None, fragment of the message)
BAD: list[tuple[str, tuple[str, str] | str, str, int | None, str]] = [
    ("unknown-map-char", ("..##..", "..#X.."), "map.ascii", 7, "unknown map character 'X'"),
    (
        "unknown-map-char-last-row",
        ('......\n"""', '....?.\n"""'),
        "map.ascii",
        9,
        "row 3, column 4",
    ),
    (
        "unknown-map-char-after-blank-line",
        (FIXED_MAP, 'ascii = """\n\n......\n..#X..\n......\n......\n"""'),
        "map.ascii",
        8,
        "row 1, column 3",
    ),
    (
        "unknown-map-char-in-one-line-map",
        (FIXED_MAP, 'ascii = "......\\n..#X..\\n......\\n......"'),
        "map.ascii",
        5,
        "row 1, column 3",
    ),
    ("ragged-rows", ("..##..", "..##."), "map.ascii", 7, "row 1 has 5 cells, expected 6"),
    (
        "unit-on-obstacle",
        ("[[1, 1], [4, 1]]", "[[1, 1], [2, 1]]"),
        "forces.red.units[0].at",
        21,
        "impassable",
    ),
    (
        "unit-outside-map",
        ("[[1, 1], [4, 1]]", "[[1, 1], [6, 1]]"),
        "forces.red.units[0].at",
        21,
        "outside the 6x4 map",
    ),
    (
        "unit-outside-map-negative",
        ("[[1, 1], [4, 1]]", "[[1, -1], [4, 1]]"),
        "forces.red.units[0].at",
        21,
        "outside",
    ),
    (
        "unit-far-outside",
        ("[[1, 1], [4, 1]]", "[[1, 1], [70000, 1]]"),
        "forces.red.units[0].at",
        21,
        "outside",
    ),
    (
        "two-units-one-cell",
        ("[[1, 1], [4, 1]]", "[[1, 1], [1, 1]]"),
        "forces.red.units[0].at",
        21,
        "two units",
    ),
    (
        "zone-too-small",
        ("count = 2", "count = 7"),
        "zones.blue_start",
        13,
        "6 free passable cells but 7 units",
    ),
    (
        "unknown-unit-type",
        ('"infantry", count', '"cavalry", count'),
        "forces.blue.units[0].type",
        17,
        "unknown unit type 'cavalry'",
    ),
    ("unknown-doctrine", ('"hold"', '"charge"'), "forces.red.doctrine", 20, "unknown doctrine"),
    ("missing-name", ('name = "Probe"\n', ""), "scenario.name", None, "missing"),
    ("missing-map", (FIXED_MAP, ""), "map.ascii", None, "missing"),
    ("missing-side", ("[forces.red]", "[forces.green]"), "forces.green", 19, "unknown side"),
    ("missing-units", (BLUE_UNITS, "slots = 2"), "forces.blue.units", None, "missing"),
    ("empty-units", (BLUE_UNITS, "units = []"), "forces.blue.units", 17, "at least one unit"),
    (
        "wrong-type-int",
        ("hold_ticks = 3", 'hold_ticks = "3"'),
        "objectives[0].hold_ticks",
        25,
        "expected integer, got string",
    ),
    (
        "wrong-type-float",
        ("hold_ticks = 3", "hold_ticks = 3.0"),
        "objectives[0].hold_ticks",
        25,
        "expected integer, got float",
    ),
    (
        "wrong-type-bool",
        ("count = 2", "count = true"),
        "forces.blue.units[0].count",
        17,
        "expected integer, got boolean",
    ),
    (
        "wrong-type-table",
        ('[scenario]\nname = "Probe"', "scenario = 3"),
        "[scenario]",
        1,
        "expected table",
    ),
    ("wrong-type-map", (FIXED_MAP, "ascii = 5"), "map.ascii", 5, "expected string"),
    ("wrong-type-zone", ("[0, 3, 5, 3]", "[0, 3, 5.5, 3]"), "zones.blue_start", 13, "4 integers"),
    (
        "overlapping-start-zones",
        BASE.replace("red_start = [0, 0, 5, 0]", "red_start = [0, 2, 5, 3]").replace(
            RED_AT, 'units = [{ type = "infantry", zone = "red_start" }]'
        ),
        "zones.red_start",
        14,
        "overlaps start zone 'blue_start'",
    ),
    (
        "zone-outside-map",
        ("[0, 3, 5, 3]", "[0, 3, 6, 3]"),
        "zones.blue_start",
        13,
        "outside the 6x4 map",
    ),
    (
        "unknown-zone",
        ('zone = "red_start"\nhold', 'zone = "hill"\nhold'),
        "objectives[0].zone",
        24,
        "unknown zone 'hill'",
    ),
    (
        "typo-in-scenario",
        ('name = "Probe"', 'name = "Probe"\ncombt = "expected"'),
        "scenario.combt",
        3,
        "unknown field",
    ),
    (
        "typo-in-side",
        ('doctrine = "hold"', 'doctrin = "hold"'),
        "forces.red.doctrin",
        20,
        "unknown field",
    ),
    (
        "typo-in-objective",
        ("hold_ticks = 3", "hold_tick = 3"),
        "objectives[0].hold_tick",
        25,
        "unknown field",
    ),
    ("typo-in-map", ('ascii = """', 'asci = """'), "map.asci", 5, "unknown field"),
    ("typo-in-unit", ("count = 2", "cuont = 2"), "forces.blue.units[0].cuont", 17, "unknown field"),
    ("unknown-section", (BASE, BASE + "\n[extra]\nx = 1\n"), "extra", 27, "unknown section"),
    (
        "ascii-and-random",
        ("[map]", "[map]\nrandom = { width = 6, height = 4 }"),
        "map",
        5,
        "exactly one of ascii",
    ),
    (
        "bad-combat",
        ('name = "Probe"', 'name = "Probe"\ncombat = "lanchester"'),
        "scenario.combat",
        3,
        "'stochastic' or 'expected'",
    ),
    ("bad-name", ('name = "Probe"', 'name = "Pro be"'), "scenario.name", 2, "letters and digits"),
    (
        "count-too-large",
        ("count = 2", "count = 100000000"),
        "forces.blue.units[0].count",
        17,
        "1..32",
    ),
    (
        "too-few-slots",
        ('doctrine = "hold"', 'doctrine = "hold"\nslots = 1'),
        "forces.red.slots",
        21,
        "do not fit",
    ),
    (
        "hold-ticks-too-large",
        ("hold_ticks = 3", "hold_ticks = 10000000000"),
        "objectives[0].hold_ticks",
        25,
        "1..100000",
    ),
    (
        "bad-capturable-by",
        ("hold_ticks = 3", 'hold_ticks = 3\ncapturable_by = ["green"]'),
        "objectives[0].capturable_by",
        26,
        "unknown side 'green'",
    ),
    (
        "unknown-reward",
        (BASE, BASE + "\n[rewards]\nwinn = 1\n"),
        "rewards.winn",
        28,
        "unknown reward weight",
    ),
    (
        "non-finite-reward",
        (BASE, BASE + "\n[rewards]\nwin = nan\n"),
        "rewards.win",
        28,
        "finite number",
    ),
    (
        "bad-max-ticks",
        (BASE, BASE + "\n[victory]\nmax_ticks = 0\n"),
        "victory.max_ticks",
        28,
        "1..100000",
    ),
    (
        "objective-victory-without-objectives",
        (BASE, BASE.split("[[objectives]]")[0] + "[victory]\nobjective = true\n"),
        "victory.objective",
        24,
        "no [[objectives]]",
    ),
    (
        "random-map-negative-seed",
        (FIXED_MAP, "random = { width = 6, height = 4, seed = -1 }"),
        "map.random.seed",
        None,
        "0..2**63-1",
    ),
    (
        "random-map-bad-density",
        (FIXED_MAP, "random = { width = 6, height = 4, water = 0.9 }"),
        "map.random.water",
        None,
        "density",
    ),
    (
        "random-map-too-small",
        (FIXED_MAP, "random = { width = 3, height = 4 }"),
        "map.random.width",
        None,
        "4..48",
    ),
    (
        "random-map-unknown-key",
        (FIXED_MAP, "random = { width = 6, height = 4, lakes = 1 }"),
        "map.random.lakes",
        None,
        "unknown field",
    ),
    ("map-too-large", ("......\n..##..", "." * 49 + "\n" + "." * 49), "map.ascii", 5, "2..48"),
    (
        "second-side-line",
        (RED_AT, 'units = [{ type = "infantry", count = 0, zone = "red_start" }]'),
        "forces.red.units[0].count",
        21,
        "1..32",
    ),
    (
        "second-objective-line",
        (BASE, BASE + '\n[[objectives]]\nzone = "blue_start"\nhold_ticks = 0\n'),
        "objectives[1].hold_ticks",
        29,
        "1..100000",
    ),
]


def _text(edit: tuple[str, str] | str) -> str:
    if isinstance(edit, str):
        return edit
    old, new = edit
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def _check_message(
    err: ScenarioError, source: str, fld: str, line: int | None, fragment: str
) -> None:
    msg = str(err)
    prefix = f"{source}:{line}: {fld}: " if line else f"{source}: {fld}: "
    assert msg.startswith(prefix), f"{msg!r} does not start with {prefix!r}"
    assert fragment in msg
    assert "\n" not in msg  # one line, printable as is by the CLI


def test_the_probe_scenario_itself_is_valid() -> None:
    sc = load_scenario_text(BASE, "probe.toml")
    assert sc.n_slots == (2, 2) and sc.doctrine_hint == (None, "hold")


@pytest.mark.parametrize(
    ("edit", "fld", "line", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in BAD]
)
def test_bad_scenario_text_raises_a_clear_error(
    edit: tuple[str, str] | str, fld: str, line: int | None, fragment: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(_text(edit), "probe.toml")
    _check_message(info.value, "probe.toml", fld, line, fragment)


def test_bad_scenario_file_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(BASE.replace("..##..", "..#X.."))
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    _check_message(info.value, str(p), "map.ascii", 7, "unknown map character")


@pytest.mark.parametrize("content", ["", "  \n\n\t\n"], ids=["empty", "blank"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    p = tmp_path / "empty.toml"
    p.write_text(content)
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(p))}: empty file"):
        load_scenario(p)


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        b"name = \x00\x01\x02",
        b"\xff\xfe\x00[\x00s\x00",
    ],
    ids=["png", "nul-bytes", "utf16"],
)
def test_binary_file(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "binary.toml"
    p.write_bytes(content)
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(p))}: not a text file"):
        load_scenario(p)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (BASE.replace('name = "Probe"', 'name = "Probe'), 2),
        (BASE.replace("hold_ticks = 3", "hold_ticks 3"), 25),
        (BASE + "\n[zones]\nx = [1, 1, 1, 1]\n", 27),  # a table defined twice
    ],
    ids=["unterminated-string", "missing-equals", "duplicate-table"],
)
def test_invalid_toml(text: str, line: int) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "probe.toml")
    assert str(info.value).startswith(f"probe.toml:{line}: invalid TOML: ")


def test_unknown_scenario_names_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nowhere'.*skirmish"):
        resolve("nowhere")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "missing.toml")


def test_scenario_error_is_a_value_error_and_a_cgfsim_error() -> None:
    assert issubclass(ScenarioError, ValueError) and issubclass(ScenarioError, CgfsimError)


def test_dict_scenarios_are_validated_too() -> None:
    import tomllib

    data = tomllib.loads(BASE)
    assert scenario_from_dict(data).n_slots == (2, 2)
    data["forces"]["blue"]["units"][0]["type"] = "cavalry"
    with pytest.raises(ScenarioError, match=r"^<dict>: forces\.blue\.units\[0\]\.type: "):
        scenario_from_dict(data)


def test_a_start_zone_exactly_as_large_as_its_force_loads_and_places_everyone() -> None:
    sc = load_scenario_text(BASE.replace("count = 2", "count = 6"), "probe.toml")
    e = Engine(sc, 16, seed=3)
    for b in range(e.B):
        assert sorted(e.x[b, :6].tolist()) == list(range(6)) and (e.y[b, :6] == 3).all()
