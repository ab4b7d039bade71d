"""Rendering (text, RGB, GIF) and replays (record, save, load, summarise)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cgfsim.sim.doctrines import get_doctrine, joint_actions
from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.render import (
    OBJECTIVE_RGB,
    SIDE_RGB,
    render_ansi,
    render_rgb,
    render_rgb_arrays,
)
from cgfsim.sim.replay import FIELDS, ReplayRecorder, load_replay
from cgfsim.sim.scenario import load_scenario_text, scenario_from_dict

# 12 x 5 map. Blue: infantry at (x0, y4), armour at (x1, y4), one empty slot.
# Red: recon at (x11, y0), far out of blue's sight; artillery at (x4, y2), in view.
TINY = """
[scenario]
name = "Tiny"
combat = "stochastic"

[map]
ascii = '''
............
..#.........
......TT....
.........%..
...~........
'''

[zones]
obj = [9, 3, 10, 4]

[forces.blue]
slots = 3
units = [{ type = "infantry", at = [[0, 4]] }, { type = "armour", at = [[1, 4]] }]

[forces.red]
slots = 2
units = [{ type = "recon", at = [[11, 0]] }, { type = "artillery", at = [[4, 2]] }]

[[objectives]]
name = "hill"
zone = "obj"
hold_ticks = 3

[victory]
max_ticks = 40
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
INF, ARM, REC, ART = 0, 1, 3, 4  # global slots (slot 2 is blue's empty one)


@pytest.fixture
def tiny() -> Engine:
    return Engine(load_scenario_text(TINY, "tiny.toml"), 2, seed=0)


def grid(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def play(engine: Engine, rec: ReplayRecorder | None = None, doctrine: str = "assault") -> None:
    """Run both sides with a doctrine until every world is done, recording each tick."""
    d = get_doctrine(doctrine)
    while not engine.done.all():
        act = joint_actions(engine, d, d)
        engine.step(act)
        if rec is not None:
            rec.record(act)


# ----------------------------------------------------------------------------- text


def test_ansi_letters_at_unit_cells(tiny: Engine) -> None:
    rows = grid(render_ansi(tiny, 0, color=False))
    assert rows[:5] == [
        "...........r",
        "..#.........",
        "....g.TT....",
        ".........%..",
        "IA.~........",
    ]
    assert rows[5].startswith("tick 0/40 | running | blue 2/2 | red 2/2 | hill: none")


def test_ansi_color_has_same_cells_and_marks_dead(tiny: Engine) -> None:
    plain = render_ansi(tiny, 0, color=False)
    coloured = render_ansi(tiny, 0, color=True)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain
    tiny.alive[0, ARM] = False
    assert grid(render_ansi(tiny, 0, color=False))[4][:2] == "I."  # dead: not drawn
    assert grid(render_ansi(tiny, 0, color=True))[4][:2] == "Ix"  # dead: dim x
    assert "blue 1/2" in render_ansi(tiny, 0, color=False)


def test_fog_hides_unseen_enemies(tiny: Engine) -> None:
    # Blue sees the artillery (d2 = 20 <= 36) but not the recon (d2 >= 116);
    # red's artillery (sight 4) sees the armour (d2 = 13) but not the infantry (d2 = 20).
    assert tiny.visible[0].tolist() == [False, True, False, False, True]
    blue_view = grid(render_ansi(tiny, 0, color=False, side=0))
    assert blue_view[0] == "............"  # recon hidden, terrain shown instead
    assert blue_view[2][4] == "g" and blue_view[4][:2] == "IA"
    assert blue_view[5].endswith("| view: blue")
    red_view = grid(render_ansi(tiny, 0, color=False, side=1))
    assert red_view[4][:2] == ".A" and red_view[0][11] == "r" and red_view[2][4] == "g"
    assert ANSI.sub("", render_ansi(tiny, 0, color=True, side=0)) == "\n".join(blue_view)


# ----------------------------------------------------------------------------- RGB


def cell(img: np.ndarray, x: int, y: int, p: int) -> np.ndarray:
    return img[y * p : (y + 1) * p, x * p : (x + 1) * p].reshape(-1, 3)


def frac(pixels: np.ndarray, rgb: np.ndarray) -> float:
    return float((pixels == rgb).all(1).mean())


def test_rgb_shape_and_side_colours(tiny: Engine) -> None:
    p = 10
    img = render_rgb(tiny, 0, cell_px=p)
    assert img.shape == (5 * p, 12 * p, 3) and img.dtype == np.uint8
    assert frac(cell(img, 0, 4, p), SIDE_RGB[0]) > 0.3  # blue infantry
    assert frac(cell(img, 1, 4, p), SIDE_RGB[0]) > 0.3  # blue armour
    assert frac(cell(img, 4, 2, p), SIDE_RGB[1]) > 0.3  # red artillery
    assert frac(cell(img, 11, 0, p), SIDE_RGB[1]) > 0.3  # red recon
    assert frac(cell(img, 6, 0, p), SIDE_RGB[0]) == frac(cell(img, 6, 0, p), SIDE_RGB[1]) == 0
    assert frac(cell(img, 9, 3, p), OBJECTIVE_RGB) > 0  # objective outline
    fog = render_rgb(tiny, 0, cell_px=p, side=0)
    assert frac(cell(fog, 11, 0, p), SIDE_RGB[1]) == 0  # unseen recon not drawn
    assert frac(cell(fog, 4, 2, p), SIDE_RGB[1]) > 0.3
    with pytest.raises(ValueError, match="cell_px"):
        render_rgb(tiny, 0, cell_px=2)


def test_rgb_types_have_distinct_marks() -> None:
    terrain = np.zeros((1, 4), np.uint8)
    img = render_rgb_arrays(
        terrain, np.zeros(4, int), np.arange(4), np.ones(4, bool), np.arange(4), np.zeros(4, int)
    )
    cells = [cell(img, x, 0, 12) for x in range(4)]
    assert all(not np.array_equal(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :])


# ----------------------------------------------------------------------------- replays


def test_record_save_load_round_trip(tmp_path: Path) -> None:
    sc = load_scenario_text(TINY, "tiny.toml")
    engine = Engine(sc, 3, seed=7)
    rec = ReplayRecorder(engine, worlds=(0, 2))
    rec.meta["blue"] = rec.meta["red"] = "assault"
    live: dict[int, list[tuple[str, str, str, np.ndarray]]] = {0: [], 2: []}
    stopped = {0: False, 2: False}

    def snap() -> None:
        """Render the recorded worlds live, up to and including their last tick."""
        for w in live:
            if not stopped[w]:
                plain = render_ansi(engine, w, color=False)
                coloured = render_ansi(engine, w, color=True)
                fog = render_ansi(engine, w, color=False, side=1)
                live[w].append((plain, coloured, fog, engine.hp[w].copy()))
                stopped[w] = bool(engine.done[w])

    rec.record()
    snap()
    d = get_doctrine("assault")
    while not engine.done.all():
        act = joint_actions(engine, d, d)
        engine.step(act)
        rec.record(act)
        snap()
    assert rec.finished
    path = tmp_path / "tiny.replay.npz"
    rec.save(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left

    rep = load_replay(path)
    assert rep.n_worlds == 2 and rep.meta == {"blue": "assault", "red": "assault"}
    assert [t["world"] for t in rep.tracks] == [0, 2] and all(t["complete"] for t in rep.tracks)
    saved = rec.arrays()
    for k, v in saved.items():
        assert rep.data[k].dtype == v.dtype and np.array_equal(rep.data[k], v), k
    for i, w in enumerate((0, 2)):
        assert rep.length(i) == int(engine.tick[w]) + 1 == len(live[w])
        assert rep.track(i)["tick"].tolist() == list(range(rep.length(i)))
        assert (rep.track(i)["actions"][0] == -1).all() and (rep.track(i)["actions"][1:] >= 0).all()
        for t, (plain, coloured, fog, hp) in enumerate(live[w]):
            assert rep.frame_text(i, t) == plain
            assert rep.frame_text(i, t, color=True) == coloured
            assert rep.frame_text(i, t, side=1) == fog
            assert np.array_equal(rep.frame(i, t)["hp"], hp)
        assert rep.frame_rgb(i, 3).shape == (5 * 12, 12 * 12, 3)


def test_summary_outcome_losses_and_fire(tiny: Engine) -> None:
    rec = ReplayRecorder(tiny, worlds=(0, 1))
    rec.record()
    play(tiny, rec)
    rep = rec.replay()
    names = {1: "blue won", 2: "red won", 3: "draw"}
    losses = tiny.losses()
    for w in (0, 1):
        text = rep.summary(w)
        assert f"outcome: {names[int(tiny.outcome[w])]}" in text
        assert f"after {int(tiny.tick[w])} ticks" in text
        assert f"blue losses: {losses[w, 0]} of 2" in text
        assert f"red losses: {losses[w, 1]} of 2" in text
        for s, side in enumerate(("blue", "red")):
            shots, hits = tiny.stat_shots[w, s], tiny.stat_hits[w, s]
            assert f"{side} fire: {shots} shots, {hits} hits" in text
        kills = rep.kills(w)
        assert len(kills) == losses[w].sum()
        lost = tiny.scenario.present & ~tiny.alive[w]
        assert sorted(v for _, _, v in kills) == np.flatnonzero(lost).tolist()
        for _, killers, victim in kills:  # killers are enemies of the victim
            assert killers and all(tiny.side[k] != tiny.side[victim] for k in killers)
        assert "objective hill:" in text
    assert rep.summary().count("Replay of Tiny") == 2


def test_episodes_per_world_and_duplicate_records(tiny: Engine) -> None:
    rec = ReplayRecorder(tiny, worlds=(1,), episodes_per_world=2)
    rec.record()
    rec.record()  # same frame again: skipped
    d = get_doctrine("assault")
    steps = 0
    while not rec.finished and steps < 500:
        act = joint_actions(tiny, d, d)
        tiny.step(act)
        rec.record(act)
        if tiny.done.any():
            tiny.reset(mask=tiny.done)
            rec.record()  # world 1 untouched unless it was reset
        steps += 1
    rep = rec.replay()
    assert rep.n_worlds == 2 and [t["episode"] for t in rep.tracks] == [0, 1]
    for i in range(2):
        tr = rep.track(i)
        assert tr["tick"].tolist() == list(range(rep.length(i)))
        assert tr["done"][-1] and not tr["done"][:-1].any()


def test_reset_mid_episode_drops_partial_and_incomplete_is_saved(tiny: Engine) -> None:
    rec = ReplayRecorder(tiny, worlds=(0,))
    rec.record()
    for _ in range(3):
        tiny.step(np.zeros((2, tiny.U), np.int64))
        rec.record()
    tiny.reset(seeds=5)
    rec.record()
    tiny.step(np.zeros((2, tiny.U), np.int64))
    rec.record()
    rep = rec.replay()
    assert rep.n_worlds == 1 and rep.length(0) == 2
    assert rep.tracks[0] == {"world": 0, "key": 5, "episode": 0, "complete": False}
    assert "incomplete" in rep.summary(0)


def test_gif_has_one_frame_per_tick(tmp_path: Path, tiny: Engine) -> None:
    from PIL import Image

    rec = ReplayRecorder(tiny)
    rec.record()
    play(tiny, rec)
    rep = rec.replay()
    out = tmp_path / "tiny.gif"
    rep.save_gif(out, world=0, fps=10, cell_px=8)
    with Image.open(out) as im:
        assert im.n_frames == rep.length(0)
        assert im.size[0] == 12 * 8 and im.size[1] > 5 * 8  # map plus status strip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gif"]


def test_random_map_replay_selects_recorded_map(tmp_path: Path) -> None:
    from cgfsim.sim.scenario import load_scenario

    engine = Engine(load_scenario("random_field"), 4, seed=3)
    assert len(set(engine.map_id.tolist())) > 1
    rec = ReplayRecorder(engine, worlds=(1, 3))
    rec.record()
    for _ in range(5):
        engine.step(joint_actions(engine, get_doctrine("advance"), get_doctrine("hold")))
        rec.record()
    rec.save(tmp_path / "rf.npz")
    rep = load_replay(tmp_path / "rf.npz")
    for i, w in enumerate((1, 3)):
        assert rep.frame_text(i, 5, color=True) == render_ansi(engine, w, color=True)


# ----------------------------------------------------------------------------- bad files


def test_bad_replay_files_raise_one_line_errors(tmp_path: Path, tiny: Engine) -> None:
    rec = ReplayRecorder(tiny)
    rec.record()
    good = tmp_path / "good.npz"
    rec.save(good)
    raw = good.read_bytes()
    cases = {
        "missing.npz": None,
        "truncated.npz": raw[: len(raw) // 2],
        "text.npz": b"this is not a replay\n",
        "empty.npz": b"",
    }
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "array.npy", np.arange(3))
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    arrays = rec.arrays()
    np.savez(tmp_path / "noheader.npz", **arrays)  # type: ignore[arg-type]
    for name in [*cases, "array.npy", "other.npz", "noheader.npz"]:
        with pytest.raises(CgfsimError) as err:
            load_replay(tmp_path / name)
        msg = str(err.value)
        assert name in msg and "\n" not in msg, msg
    assert set(FIELDS) <= set(arrays)


def test_recorder_needs_scenario_text() -> None:
    sc = load_scenario_text(TINY, "tiny.toml")
    import tomllib

    engine = Engine(scenario_from_dict(tomllib.loads(TINY)), 1)
    with pytest.raises(CgfsimError, match="no TOML text"):
        ReplayRecorder(engine)
    with pytest.raises(ValueError, match="worlds"):
        ReplayRecorder(Engine(sc, 1), worlds=(1,))
