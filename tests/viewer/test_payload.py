"""What the page is given: the replay's arrays unchanged, sight that agrees with the
engine's fog of war, an after-action review that adds up, and a safe, small page."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cgfsim.sim.replay import Replay, load_replay
from cgfsim.sim.units import AMMO
from cgfsim.viewer import after_action, build_html, sight_cells, static_text, track_payload
from cgfsim.viewer.page import embed_json

from .conftest import record


def page_document(html: str) -> dict:
    m = re.search(r'<script id="cgf-data" type="application/json">(.*?)</script>', html, re.S)
    assert m is not None
    return dict(json.loads(m.group(1)))


def test_payload_carries_the_replay_arrays(urban: Replay) -> None:
    for w in range(urban.n_worlds):
        p = track_payload(urban, w, "x")
        tr, f = urban.track(w), p["frames"]
        t, u = tr["x"].shape
        for key, field in (
            ("x", "x"),
            ("y", "y"),
            ("alive", "alive"),
            ("vis", "visible"),
            ("cov", "covered"),
            ("ammo", "ammo"),
            ("act", "actions"),
            ("st", "shot_target"),
            ("sh", "shot_hit"),
        ):
            assert np.array_equal(np.reshape(f[key], (t, u)), tr[field]), key
        assert np.allclose(np.reshape(f["hp"], (t, u)), tr["hp"], atol=0.005)
        assert np.allclose(np.reshape(f["sd"], (t, u)), tr["shot_damage"], atol=0.005)
        assert f["tick"] == tr["tick"].tolist()
        assert np.array_equal(np.reshape(f["hold"], tr["hold"].shape), tr["hold"])
        assert np.array_equal(np.reshape(f["ctrl"], tr["controller"].shape), tr["controller"])
        assert p["policy"] is None and p["scenario"]["name"] == "Urban"
        rows = p["scenario"]["terrain"]
        assert len(rows) == urban.scenario.height and {len(r) for r in rows} == {24}
        assert [u["tag"] for u in p["units"][:2]] == ["B0", "B1"]
        assert p["units"][-1]["tag"] == f"R{urban.scenario.n_slots[1] - 1}"


@pytest.fixture(scope="module")
def ambush(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """Ambush: units hide in forest, so concealment decides what is seen."""
    path = tmp_path_factory.mktemp("amb") / "a.npz"
    return load_replay(record("ambush", "advance", "ambush", 2, 1, path))


@pytest.mark.parametrize("which", ["urban", "ambush"])
def test_sight_agrees_with_the_engines_fog_of_war(
    which: str, request: pytest.FixtureRequest
) -> None:
    urban: Replay = request.getfixturevalue(which)
    sc = urban.scenario
    for w in range(urban.n_worlds):
        tr = urban.track(w)
        seen = sight_cells(urban, w)  # (T, 2, C)
        cell = tr["y"].astype(int) * sc.width + tr["x"]
        live = tr["alive"] & sc.present
        for s in (0, 1):
            enemy = (urban.side_of_slot != s) & live
            at = np.take_along_axis(seen[:, s], cell, 1)
            # an enemy is visible exactly when it stands in a cell its enemy sees
            assert np.array_equal(at[enemy], tr["visible"][enemy])
        own = np.take_along_axis(seen[:, 0], cell, 1)[:, urban.side_of_slot == 0]
        assert own[live[:, urban.side_of_slot == 0]].all()  # a unit sees its own cell
        packed = track_payload(urban, w, "x")["sight"]
        for s in (0, 1):
            raw = np.frombuffer(base64.b64decode(packed[s]), np.uint8).reshape(len(seen), -1)
            bits = np.unpackbits(raw, axis=1)[:, : sc.width * sc.height].astype(bool)
            assert np.array_equal(bits, seen[:, s])


def test_after_action_review_adds_up(urban: Replay) -> None:
    sc = urban.scenario
    for w in range(urban.n_worlds):
        a, tr = after_action(urban, w), urban.track(w)
        lost = sc.present & ~tr["alive"][-1]
        for s in (0, 1):
            side = a["sides"][s]
            mine = urban.side_of_slot == s
            assert side["lost"] == int(lost[mine].sum())
            assert side["kills"] == int(lost[~mine].sum())  # every loss credited to a killer
            rows = [r for r in a["types"] if r["side"] == s]
            assert sum(r["fielded"] for r in rows) == int((sc.present & mine).sum())
            assert sum(r["lost"] for r in rows) == side["lost"]
            assert sum(r["kills"] for r in rows) == side["kills"]
            assert sum(r["shots"] for r in rows) == int((tr["shot_target"][1:, mine] >= 0).sum())
            enemy_lost = int(lost[~mine].sum())
            if side["lost"]:
                assert side["exchange"] == pytest.approx(enemy_lost / side["lost"])
            else:
                assert side["exchange_text"] == ("inf" if enemy_lost else "n/a")
        kills = urban.kills(w)
        assert [(k["t"], k["victim"]) for k in a["kills"]] == [(t, v) for t, _, v in kills]
        seen = np.flatnonzero((tr["visible"] & tr["alive"]).any(1))
        assert a["first_contact"] == (int(tr["tick"][seen[0]]) if seen.size else None)
        events = a["events"]
        assert [e["f"] for e in events] == sorted(e["f"] for e in events)
        assert sum(e["kind"] == "kill" for e in events) == len(kills)
        assert events[-1]["kind"] == "end" and events[-1]["text"] == a["how"]
        for e in events:
            assert int(tr["tick"][e["f"]]) == e["t"]
        ctrl = tr["controller"][:, 0]
        runs = a["objectives"][0]["runs"]
        assert runs[0]["f0"] == 0 and runs[-1]["f1"] == len(ctrl) - 1
        for r in runs:
            assert (ctrl[r["f0"] : r["f1"] + 1] == r["who"]).all()
    # the text says how each battle ended, as the arrays show it
    ways = set()
    for w in range(urban.n_worlds):
        tr, how = urban.track(w), after_action(urban, w)["how"]
        end, winner = int(tr["tick"][-1]), int(tr["outcome"][-1]) - 1
        won = ("blue", "red", "")[winner] + " won"
        left = [
            int((tr["alive"][-1] & sc.present & (urban.side_of_slot == s)).sum()) for s in (0, 1)
        ]
        held = int(tr["hold"][-1, 0, winner]) if winner in (0, 1) else 0
        hold = sc.objectives[0].hold_ticks
        if min(left) == 0:
            ways.add("annihilation")
            assert how == f"{won} by annihilation at tick {end}"
        elif held >= hold:
            ways.add("objective")
            assert how == f"{won}: held objective square for {hold} ticks (tick {end})"
            captured = [e for e in after_action(urban, w)["events"] if "captures" in e["text"]]
            assert captured and captured[0]["t"] == end
    assert ways == {"annihilation", "objective"}, "the urban fixture no longer covers both endings"


def test_page_is_self_contained_and_escapes_replay_text(urban: Replay) -> None:
    html = build_html([("a </script> <!-- b", urban, 0), ("second", urban, 1)], "t<i>tle")
    assert "__CGF_" not in html
    assert html.count("</script>") == 2  # the data element and the viewer script
    assert "<title>t&lt;i&gt;tle</title>" in html
    assert re.search(r"(src|href)\s*=", html) is None  # nothing loaded from elsewhere
    assert "default-src 'none'" in html  # and the browser is told to load nothing
    doc = page_document(html)
    assert doc["version"] == 1 and doc["replays"][0]["label"] == "a </script> <!-- b"
    assert static_text("viewer.js") in html and static_text("viewer.css") in html
    assert embed_json({"s": "</script>\u2028"}) == '{"s":"\\u003c/script>\\u2028"}'
    with pytest.raises(ValueError):
        build_html([])


def test_viewer_script_parses(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser tests still run the script")
    js = tmp_path / "viewer.js"
    js.write_text(static_text("viewer.js"), encoding="utf-8")
    done = subprocess.run([node, "--check", str(js)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_200_tick_16_unit_battle_makes_a_small_page(tmp_path: Path) -> None:
    # Skirmish, 8 v 8: retreat vs ambush often fights until the 200-tick limit.
    path = record("skirmish", "retreat", "ambush", 4, 0, tmp_path / "long.npz")
    rep = load_replay(path)
    full = [w for w in range(rep.n_worlds) if rep.length(w) == 201]
    w = max(full, key=lambda w: int((rep.track(w)["shot_target"] >= 0).sum()))  # most fighting
    assert rep.scenario.n_units == 16 and (rep.track(w)["shot_target"] >= 0).sum() > 50
    html = build_html([("long", rep, w)])
    size = len(html.encode("utf-8"))
    assert size < 1_000_000, size  # "a few MB at most": well under one
    doc = page_document(html)
    assert doc["replays"][0]["aar"]["how"].endswith("at the time limit (200 ticks)")
    assert np.array_equal(
        np.reshape(doc["replays"][0]["frames"]["ammo"], (201, 16))[0], AMMO[rep.unit_type]
    )
