"""Hostile scenario input: each class ends in one ScenarioError naming file and field."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError, ScenarioError
from cgfsim.sim.scenario import load_scenario, load_scenario_text
from tests.sim.test_scenarios import BASE


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (
            "hold_ticks = 3",
            "hold_ticks = 3\n[rewards]\nwin = 1e308",
            "rewards.win: expected a finite",
        ),
        (
            "hold_ticks = 3",
            "hold_ticks = 3\n[rewards]\nwin = 4e38",
            "rewards.win: expected a finite",
        ),
        ("hold_ticks = 3", "hold_ticks = 3\n[rewards.red]\nkill = -2e7", "rewards.red.kill"),
        ("hold_ticks = 3", "hold_ticks = 3\n[rewards]\nstep = nan", "rewards.step"),
        ('name = "Probe"', 'name = "Probe"\ndescription = "x\\u001b[2Jy"', r"U\+001B"),
        ('name = "Probe"', 'name = "Probe"\ndescription = "bell\\u0007"', r"U\+0007"),
        ("hold_ticks = 3", "hold_ticks = 3\ncapturable_by = []", "capturable_by: empty"),
        ('doctrine = "hold"', 'doctrine = "sit"', "unknown doctrine 'sit'"),
    ],
)
def test_bad_values(old: str, new: str, fragment: str) -> None:
    assert old in BASE
    with pytest.raises(ScenarioError, match=fragment):
        load_scenario_text(BASE.replace(old, new), "probe.toml")


def test_objective_on_impassable_cells() -> None:
    text = BASE.replace("red_start = [0, 0, 5, 0]", "red_start = [0, 0, 5, 0]\nwall = [2, 1, 3, 1]")
    text = text.replace('zone = "red_start"\nhold_ticks', 'zone = "wall"\nhold_ticks')
    with pytest.raises(ScenarioError, match=r"objectives\[0\]\.zone: every cell of zone 'wall'"):
        load_scenario_text(text, "probe.toml")


def test_doctrine_alias_in_a_file_is_the_canonical_name() -> None:
    sc = load_scenario_text(BASE.replace('doctrine = "hold"', 'doctrine = "assault-nearest"'))
    assert sc.doctrine_hint[1] == "assault"


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "win.toml"
    p.write_bytes(b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode())
    a, b = load_scenario(p), load_scenario_text(BASE)
    assert np.array_equal(a.maps, b.maps) and a.objectives == b.objectives


def test_deep_nesting_is_an_error_not_a_recursion_traceback() -> None:
    text = BASE + "\nx = " + "[" * 50_000 + "]" * 50_000 + "\n"
    with pytest.raises(ScenarioError, match=r"nested too deeply|invalid TOML"):
        load_scenario_text(text, "deep.toml")


def test_directory_and_fifo_are_named_for_what_they_are(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path / "dir.toml")
    os.mkfifo(tmp_path / "pipe.toml")
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(tmp_path / "pipe.toml")  # must not block reading the pipe


_LINES = BASE.splitlines(keepends=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_LINES) - 1),
            st.sampled_from(["delete", "dup", "replace", "insert", "bytes"]),
            st.text(max_size=30),
        ),
        max_size=4,
    )
)
def test_fuzzed_scenarios_load_or_fail_cleanly(edits: list[tuple[int, str, str]]) -> None:
    """Mutations of a valid file: the only outcomes are a Scenario or the project's error."""
    lines = list(_LINES)
    for i, op, s in edits:
        i %= len(lines)
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "replace":
            lines[i] = s + "\n"
        elif op == "insert":
            lines.insert(i, s + "\n")
        else:
            lines[i] = lines[i][: len(s) % (len(lines[i]) + 1)] + s
        if not lines:
            lines = ["\n"]
    try:
        sc = load_scenario_text("".join(lines), "fuzz.toml")
    except CgfsimError:
        return
    e = Engine(sc, 2, seed=0)  # a scenario that loads also runs
    e.step(np.zeros((2, e.U), np.int64))
