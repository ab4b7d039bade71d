"""The viewer page in a real headless Chromium: it loads clean, draws, plays, scrubs to the
positions in the replay file, hides what a side cannot see, and opens unit panels."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cgfsim.sim.render import SIDE_RGB
from cgfsim.sim.replay import Replay
from cgfsim.viewer import after_action, build_html

from .conftest import Opened

# One browser per xdist worker: keep every browser test on the same one.
pytestmark = pytest.mark.xdist_group("browser")


class Screen:
    """One screenshot of the page; ``unit_pixel(x, y)`` reads the colour inside the unit
    shape at map cell (x, y), left of its type letter (the page runs at scale factor 1)."""

    def __init__(self, o: Opened) -> None:
        from PIL import Image

        self.o = o
        self.img = np.asarray(Image.open(io.BytesIO(o.page.screenshot())).convert("RGB"))
        self.cell = o.page.evaluate("cgfViewer.cellSize()")

    def unit_pixel(self, x: int, y: int) -> np.ndarray:
        c = self.o.page.evaluate(f"cgfViewer.cellCenter({x}, {y})")
        return self.img[int(c["y"]), int(c["x"] - 0.27 * self.cell)].astype(int)


def wait_until(o: Opened, predicate: str, timeout_s: float = 5.0) -> None:
    """Poll a JS expression (the page's CSP forbids the eval that wait_for_function uses)."""
    for _ in range(int(timeout_s / 0.05)):
        if o.page.evaluate(predicate):
            return
        o.page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {predicate}")


def scrub(o: Opened, frame: int) -> None:
    o.page.locator("#scrub").fill(str(frame))


def tick_shown(o: Opened) -> int:
    return int(o.page.locator("#tick").inner_text().split()[1])


def test_loads_from_disk_without_errors_or_network(
    open_page: Any, urban_page: Path, urban: Replay
) -> None:
    o = open_page(urban_page)
    assert o.errors == []
    assert o.requests and all(u.startswith(("file:", "data:")) for u in o.requests), o.requests
    assert o.state() == {
        "replay": 0,
        "frame": 0,
        "tick": 0,
        "view": "truth",
        "playing": False,
        "speed": 8,
        "selected": -1,
        "frames": urban.length(0),
    }
    assert tick_shown(o) == 0
    n_blue = int(urban.scenario.present[: urban.scenario.n_slots[0]].sum())
    assert f"blue {n_blue}/{n_blue} alive" in o.page.locator("#score").inner_text()


def test_canvas_is_not_blank(open_page: Any, urban_page: Path) -> None:
    from PIL import Image

    o = open_page(urban_page)
    shot = Image.open(io.BytesIO(o.page.locator("#map").screenshot())).convert("RGB")
    px = np.asarray(shot).reshape(-1, 3)
    colours = {tuple(c) for c in px[:: max(1, len(px) // 20000)].tolist()}
    assert shot.size[0] > 200 and shot.size[1] > 200
    assert len(colours) > 8  # terrain, objective, both sides, marks: not one flat fill
    blue = (np.abs(px.astype(int) - SIDE_RGB[0]).sum(1) < 30).mean()
    red = (np.abs(px.astype(int) - SIDE_RGB[1]).sum(1) < 30).mean()
    assert blue > 0.002 and red > 0.002


def test_play_advances_the_tick_counter(open_page: Any, urban_page: Path) -> None:
    o = open_page(urban_page)
    o.page.locator("#btn-play").click()
    wait_until(o, "cgfViewer.state().tick >= 3")
    o.page.locator("#btn-play").click()
    st = o.state()
    assert not st["playing"] and st["tick"] >= 3
    assert tick_shown(o) == st["tick"]
    o.page.keyboard.press("Space")
    wait_until(o, f"cgfViewer.state().tick > {st['tick']}")
    o.page.keyboard.press("Space")
    assert o.state()["playing"] is False


def test_scrubbing_shows_units_where_the_file_has_them(
    open_page: Any, urban_page: Path, urban: Replay
) -> None:
    o = open_page(urban_page)
    tr = urban.track(0)
    for frame in (0, 7, urban.length(0) // 2, urban.length(0) - 1):
        scrub(o, frame)
        assert o.state()["frame"] == frame and tick_shown(o) == int(tr["tick"][frame])
        drawn = {d["slot"]: d for d in o.drawn() if d["kind"] == "unit"}
        live = np.flatnonzero(tr["alive"][frame] & urban.scenario.present).tolist()
        assert sorted(drawn) == live
        screen = Screen(o)
        for u in live:
            x, y = int(tr["x"][frame, u]), int(tr["y"][frame, u])
            assert (drawn[u]["x"], drawn[u]["y"]) == (x, y)
            side = int(urban.side_of_slot[u])
            assert np.abs(screen.unit_pixel(x, y) - SIDE_RGB[side]).sum() < 20, (frame, u)
        dead = {d["slot"] for d in o.drawn() if d["kind"] == "dead"}
        assert dead == set(np.flatnonzero(~tr["alive"][frame] & urban.scenario.present).tolist())


def test_keyboard_steps_and_views(open_page: Any, urban_page: Path) -> None:
    o = open_page(urban_page)
    kb = o.page.keyboard
    kb.press("ArrowRight")
    kb.press("ArrowRight")
    assert o.state()["frame"] == 2
    kb.press("Shift+ArrowRight")
    assert o.state()["frame"] == 12
    kb.press("ArrowLeft")
    assert o.state()["frame"] == 11
    kb.press("End")
    assert o.state()["frame"] == o.state()["frames"] - 1
    kb.press("Home")
    assert o.state()["frame"] == 0
    kb.press("b")
    assert o.state()["view"] == "blue"
    kb.press("t")
    assert o.state()["view"] == "truth"
    o.page.locator("#btn-fwd").click()
    o.page.locator("#btn-fwd").click()
    o.page.locator("#btn-back").click()
    assert o.state()["frame"] == 1
    assert o.errors == []


def hidden_enemy(rep: Replay, w: int) -> tuple[int, int]:
    """(frame, red slot): a live red unit blue does not see, preferring one seen before."""
    tr = rep.track(w)
    nb = rep.scenario.n_slots[0]
    unseen = tr["alive"][:, nb:] & ~tr["visible"][:, nb:] & rep.scenario.present[nb:]
    seen_before = np.maximum.accumulate(tr["visible"][:, nb:], 0)
    for mask in (unseen & seen_before, unseen):
        hits = np.argwhere(mask[1:]) + np.array([1, nb])
        if len(hits):
            f, u = hits[0]
            return int(f), int(u)
    raise AssertionError("the test replay has no hidden red unit")


def test_blue_view_hides_an_enemy_blue_cannot_see(
    open_page: Any, urban_page: Path, urban: Replay
) -> None:
    o = open_page(urban_page)
    frame, u = hidden_enemy(urban, 0)
    tr = urban.track(0)
    x, y = int(tr["x"][frame, u]), int(tr["y"][frame, u])
    scrub(o, frame)
    assert any(d["slot"] == u and d["kind"] == "unit" for d in o.drawn())
    assert np.abs(Screen(o).unit_pixel(x, y) - SIDE_RGB[1]).sum() < 20  # truth: red is there
    o.page.locator("#view-blue").click()
    assert o.state()["view"] == "blue"
    drawn = o.drawn()
    assert not any(d["slot"] == u and d["kind"] == "unit" for d in drawn)
    assert np.abs(Screen(o).unit_pixel(x, y) - SIDE_RGB[1]).sum() > 60  # no red unit there
    # where blue last saw it, a ghost marks the old position
    seen = np.flatnonzero(tr["visible"][: frame + 1, u])
    ghosts = [d for d in drawn if d["slot"] == u and d["kind"] == "ghost"]
    if seen.size:
        last = int(seen[-1])
        assert ghosts == [
            {
                "slot": u,
                "x": int(tr["x"][last, u]),
                "y": int(tr["y"][last, u]),
                "kind": "ghost",
                "seen": int(tr["tick"][last]),
            }
        ]
    else:
        assert ghosts == []
    # every red unit blue sees now is drawn; all blue units are drawn
    nb = urban.scenario.n_slots[0]
    shown = {d["slot"] for d in drawn if d["kind"] == "unit"}
    live = tr["alive"][frame] & urban.scenario.present
    want = {s for s in np.flatnonzero(live).tolist() if s < nb or tr["visible"][frame, s]}
    assert shown == want
    o.page.locator("#view-red").click()
    red_view = {d["slot"] for d in o.drawn() if d["kind"] == "unit"}
    assert u in red_view
    assert o.errors == []


def test_clicking_a_unit_opens_its_panel(open_page: Any, urban_page: Path, urban: Replay) -> None:
    o = open_page(urban_page)
    frame = 10
    scrub(o, frame)
    tr = urban.track(0)
    u = int(np.flatnonzero(tr["alive"][frame] & urban.scenario.present)[0])
    x, y = int(tr["x"][frame, u]), int(tr["y"][frame, u])
    assert o.page.locator("#panel-unit").is_hidden()
    pt = o.page.evaluate(f"cgfViewer.cellCenter({x}, {y})")
    o.page.mouse.click(pt["x"], pt["y"])
    assert o.state()["selected"] == u
    panel = o.page.locator("#panel-unit")
    assert panel.is_visible()
    assert urban.unit_name(u).split()[0] in o.page.locator("#unit-title").inner_text()
    stats = o.page.locator("#unit-stats").inner_text()
    assert f"alive at ({x}, {y})" in stats
    assert f"{int(tr['ammo'][frame, u])} / " in stats
    assert o.page.locator("#unit-chart").is_visible()
    assert "No policy outputs recorded" in panel.inner_text()  # doctrines record none
    o.page.keyboard.press("Escape")
    assert o.state()["selected"] == -1


def test_after_action_panel_and_events_jump(
    open_page: Any, urban_page: Path, urban: Replay
) -> None:
    o = open_page(urban_page)
    aar = after_action(urban, 0)
    panel = o.page.locator("#panel-aar").inner_text()
    assert aar["how"] in panel
    rows = o.page.locator("#aar-table tr").all_inner_texts()
    assert len(rows) == 1 + len(aar["types"])
    side = aar["sides"][0]
    assert o.page.locator("#exchange-blue").inner_text().startswith(side["exchange_text"])
    events = o.page.locator("#events li button")
    assert events.count() == len(aar["events"])
    kill = next(i for i, e in enumerate(aar["events"]) if e["kind"] == "kill")
    events.nth(kill).click()
    assert o.state()["frame"] == aar["events"][kill]["f"]
    assert tick_shown(o) == aar["events"][kill]["t"]
    marks = o.page.locator("#marks button")
    assert marks.count() == len(aar["events"]) - 1  # every event but the end has a mark
    marks.nth(0).click()
    assert o.state()["frame"] == aar["events"][0]["f"]


def test_several_replays_with_a_selector(
    open_page: Any, urban_page: Path, urban: Replay, tmp_path: Path
) -> None:
    o = open_page(urban_page)
    options = o.page.locator("#replay option")
    assert options.count() == 2
    o.page.locator("#replay").select_option("1")
    st = o.state()
    assert st["replay"] == 1 and st["frame"] == 0 and st["frames"] == urban.length(1)
    assert o.page.locator("#scrub").get_attribute("max") == str(urban.length(1) - 1)
    assert after_action(urban, 1)["how"] in o.page.locator("#panel-aar").inner_text()
    assert o.errors == []


def test_policy_outputs_in_the_unit_panel(
    open_page: Any, policy_replay: Replay, tmp_path: Path
) -> None:
    page_file = tmp_path / "policy.html"
    page_file.write_text(build_html([("duel", policy_replay, 0)]), encoding="utf-8")
    o = open_page(page_file)
    tr = policy_replay.track(0)
    o.page.evaluate("cgfViewer.select(0)")
    o.page.evaluate("cgfViewer.setFrame(2)")
    box = o.page.locator("#unit-policy")
    assert "Decision at tick 2" in box.inner_text()
    probs = tr["probs"][3, 0]
    chosen = int(tr["actions"][3, 0])
    best = float(np.nanmax(probs))
    assert chosen == int(np.nanargmax(probs))  # greedy: the top bar is the order given
    names = ["stay", "north", "east", "south", "west", "fire nearest", "take cover"]
    want = names[chosen] if chosen < 7 else f"fire at {policy_replay.unit_name(2 + chosen - 7)}"
    assert o.page.locator(".bars .chosen").inner_text() == want
    text = box.inner_text()
    assert f"{100 * best:.1f}%" in text
    assert f"{100 * float(probs[chosen]):.1f}%" in text
    value = float(tr["value"][3, 0])
    assert f"value estimate {value:.3f}" in text
    o.page.evaluate("cgfViewer.select(2)")  # the red doctrine: nothing recorded
    assert "No policy outputs recorded" in o.page.locator("#panel-unit").inner_text()
    assert o.errors == []


def test_replay_text_cannot_inject_markup(open_page: Any, urban_file: Path, tmp_path: Path) -> None:
    from .conftest import record

    evil = "</script><script>window.pwned = 1</script><b>x</b>"
    path = record("duel", "assault", "assault", 1, 0, tmp_path / "evil.npz", note=evil)
    from cgfsim.sim.replay import load_replay

    page_file = tmp_path / "evil.html"
    page_file.write_text(build_html([(evil, load_replay(path), 0)], evil), encoding="utf-8")
    o = open_page(page_file)
    assert o.page.evaluate("window.pwned === undefined")
    assert evil in o.page.locator("#panel-aar").inner_text()
    assert o.page.title() == evil
    assert o.errors == []
