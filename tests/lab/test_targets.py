"""Reliability targets from a scenario's calibration, and the live round robin otherwise."""

from __future__ import annotations

import json

import pytest

from cgfsim.agents.calibration import calibration_path
from cgfsim.lab.targets import max_provable, reliability_targets
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.metrics import wilson_interval
from cgfsim.sim.scenario import load_scenario, load_scenario_text

DOCTRINES = ["hold", "advance", "assault", "flank", "retreat"]


def _match(cal: dict, player: str, opponent: str, side: str) -> dict:
    return next(
        m
        for m in cal["round_robin"]["matches"]
        if (m["player"], m["opponent"], m["side"]) == (player, opponent, side)
    )


def test_targets_come_from_the_calibration_per_side_with_the_mirror() -> None:
    cal = json.loads(calibration_path("duel").read_text())
    t = reliability_targets(load_scenario("duel"), "retreat", "blue", DOCTRINES, 50, 1000)
    assert t["source"] == "calibration" and "cgfsim calibrate duel" in t["source_note"]
    assert t["episodes"] == cal["episodes"] == 1000
    rec = {d["doctrine"]: d for d in t["doctrines"]}
    adv = _match(cal, "advance", "retreat", "blue")  # advance as blue against retreat
    assert rec["advance"]["win_rate"] == adv["wins"] / 1000
    assert t["best_doctrine"] == max(rec, key=lambda k: rec[k]["win_rate"]) == "advance"
    lo, hi = wilson_interval(adv["wins"], 1000)
    first, parity, exceed = t["targets"]
    assert (parity["name"], parity["value"]) == ("parity", lo)
    assert (exceed["name"], exceed["value"]) == ("exceed", hi)
    assert parity["reachable"] and exceed["reachable"]
    mirror = next(m for m in cal["mirror"] if m["player"] == "retreat")
    assert rec["retreat"]["mirror"] and rec["retreat"]["win_rate"] == mirror["wins"] / 1000
    assert t["mirror"] == rec["retreat"]
    # retreat against itself: a first target, below parity
    assert (first["name"], first["value"]) == ("mirror", wilson_interval(mirror["wins"], 1000)[0])
    assert first["value"] < parity["value"]


def test_red_reads_the_other_side_of_each_match() -> None:
    cal = json.loads(calibration_path("duel").read_text())
    t = reliability_targets(
        load_scenario("duel"), "assault", "red", ["advance", "assault"], 1, 1000
    )
    rec = {d["doctrine"]: d for d in t["doctrines"]}
    # advance as red vs assault: the match where assault was blue and advance red
    m = next(
        m
        for m in cal["round_robin"]["matches"]
        if {m["player"], m["opponent"]} == {"advance", "assault"}
        and (m["player"], m["side"]) in (("advance", "red"), ("assault", "blue"))
    )
    wins = m["wins"] if m["player"] == "advance" else m["losses"]
    assert rec["advance"]["win_rate"] == wins / 1000
    mirror = next(x for x in cal["mirror"] if x["player"] == "assault")
    assert rec["assault"]["win_rate"] == mirror["losses"] / 1000  # red wins when blue loses
    if t["best_doctrine"] == "assault":  # the mirror is the best record: it is parity
        assert [x["name"] for x in t["targets"]] == ["parity", "exceed"]


def test_without_a_calibration_of_this_text_a_live_round_robin_says_why() -> None:
    text = load_scenario("duel").text.replace("max_ticks = 60", "max_ticks = 59")
    changed = load_scenario_text(text, "<changed duel>")
    t = reliability_targets(changed, "random", "blue", ["assault", "hold"], 30, 30, {"x": 0.5})
    assert t["source"] == "doctrines" and "another version of its text" in t["source_note"]
    assert t["episodes"] == 30 and t["best_doctrine"] == "assault"
    assert [x["name"] for x in t["targets"]] == ["parity", "exceed", "x"]
    assert all(x["value"] <= max_provable(30) or not x["reachable"] for x in t["targets"])
    with pytest.raises(CgfsimError, match="another version"):
        reliability_targets(changed, "random", "blue", ["hold"], 5, 5, source="calibration")
    with pytest.raises(CgfsimError, match="not one of the calibration's doctrines"):
        reliability_targets(
            load_scenario("duel"), "nobody", "blue", ["hold"], 5, 5, source="calibration"
        )
