"""Replay format additions: ammunition, policy outputs, the scenario's hash and source.

Format 1 grew without breaking readers: files written before these fields
still load (ammunition derived from shots), and a changed scenario file or a
tampered embedded scenario is caught.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cgfsim.sim.doctrines import get_doctrine
from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.replay import (
    ReplayRecorder,
    load_replay,
    policy_width,
    scenario_drift,
    scenario_ref,
    scenario_sha256,
    side_policy,
)
from cgfsim.sim.scenario import builtin_dir, load_scenario

from .test_render_replay import TINY


def play(engine: Engine, rec: ReplayRecorder, policy: bool = False) -> list[np.ndarray]:
    """Assault vs assault to the end; with ``policy``, blue reports one-hot 'probabilities'
    of its orders and a value, red nothing. Returns the live ammo after each record."""
    d = get_doctrine("assault")
    ammo = [engine.ammo.copy()]
    while not engine.done.all():
        blue, red = d(engine, 0), d(engine, 1)
        act = np.concatenate([blue, red], 1)
        engine.step(act)
        if policy:
            n = engine.scenario.n_slots[1] + 7
            probs = np.eye(n, dtype=np.float32)[blue]
            value = engine.tick.astype(np.float32) / 10
            rec.record(act, *side_policy(engine, 0, probs, value))
        else:
            rec.record(act)
        ammo.append(engine.ammo.copy())
    return ammo


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_ammo_is_recorded_and_derived_for_old_files(tmp_path: Path) -> None:
    engine = Engine(load_scenario("skirmish"), 2, seed=4)
    rec = ReplayRecorder(engine, worlds=(0, 1))
    rec.record()
    live = play(engine, rec)
    rep = rec.replay()
    for w in (0, 1):
        tr = rep.track(w)
        want = np.stack([a[w] for a in live[: rep.length(w)]])
        assert np.array_equal(tr["ammo"], want)
        assert (tr["ammo"][0] > tr["ammo"][-1]).any()  # somebody fired
    # the same file without the new fields, as an older cgfsim wrote it
    rec.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as z:
        data = {k: z[k] for k in z.files if k != "ammo"}
    header = json.loads(str(data["header"]))
    del header["scenario_sha256"], header["scenario_ref"]
    data["header"] = np.array(json.dumps(header))
    np.savez_compressed(tmp_path / "old.npz", **data)  # type: ignore[arg-type]
    old = load_replay(tmp_path / "old.npz")
    assert "ammo" in old.fields and not old.has_policy
    for w in (0, 1):
        assert np.array_equal(old.track(w)["ammo"], rep.track(w)["ammo"])
        assert old.summary(w) == rep.summary(w)
    assert scenario_drift(old) is None  # source recovered from the stored path


def test_policy_outputs_round_trip(tmp_path: Path) -> None:
    sc = load_scenario("duel")
    engine = Engine(sc, 3, seed=0)
    rec = ReplayRecorder(engine, worlds=(0, 2))
    rec.record()
    play(engine, rec, policy=True)
    rec.save(tmp_path / "p.npz")
    rep = load_replay(tmp_path / "p.npz")
    assert rep.has_policy and {"probs", "value"} <= set(rep.fields)
    nb = sc.n_slots[0]
    for w in range(rep.n_worlds):
        tr = rep.track(w)
        assert tr["probs"].shape == (rep.length(w), sc.n_units, policy_width(sc))
        assert np.isnan(tr["probs"][0]).all() and np.isnan(tr["value"][0]).all()  # reset frame
        blue = tr["probs"][1:, :nb]
        assert np.array_equal(np.argmax(blue, -1), tr["actions"][1:, :nb])
        assert np.allclose(blue.sum(-1), 1.0)
        assert np.isnan(tr["probs"][1:, nb:]).all() and np.isnan(tr["value"][1:, nb:]).all()
        assert np.allclose(tr["value"][1:, 0], tr["tick"][1:] / 10)
        assert np.array_equal(tr["value"][:, 0], tr["value"][:, 1], equal_nan=True)  # per side


def test_record_and_side_policy_check_shapes() -> None:
    engine = Engine(load_scenario("duel"), 2)
    rec = ReplayRecorder(engine)
    with pytest.raises(ValueError, match="probs"):
        rec.record(probs=np.zeros((2, engine.U, 3)))
    with pytest.raises(ValueError, match="value"):
        rec.record(value=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="probs of side 1"):
        side_policy(engine, 1, np.zeros((2, 2, 5)))
    with pytest.raises(ValueError, match="value of side 0"):
        side_policy(engine, 0, value=np.zeros((2, 3)))
    p, v = side_policy(engine, 1, np.full((2, 2, 9), 0.5), np.ones((2, 2)))
    p, v = side_policy(engine, 0, value=np.zeros(2), into=(p, v))
    assert (p[:, 2:] == 0.5).all() and np.isnan(p[:, :2]).all()
    assert (v[:, 2:] == 1).all() and (v[:, :2] == 0).all()


def test_scenario_reference_and_drift(tmp_path: Path, tiny_file: Path) -> None:
    assert scenario_ref(str(builtin_dir() / "duel.toml")) == "builtin:duel"
    assert scenario_ref(str(tiny_file)) == str(tiny_file.resolve())
    assert scenario_ref("<string>") == "<string>"
    engine = Engine(load_scenario(tiny_file), 1)
    rec = ReplayRecorder(engine)
    rec.record()
    rec.save(tmp_path / "t.npz")
    header = rec.header()
    assert header["scenario_sha256"] == scenario_sha256(TINY)
    rep = load_replay(tmp_path / "t.npz")
    assert scenario_drift(rep) is None
    tiny_file.write_text(TINY.replace("max_ticks = 40", "max_ticks = 41"), encoding="utf-8")
    msg = scenario_drift(load_replay(tmp_path / "t.npz"))
    assert msg is not None and "Tiny" in msg and "changed since" in msg and "\n" not in msg
    tiny_file.unlink()
    assert scenario_drift(load_replay(tmp_path / "t.npz")) is None  # nothing to compare with
    duel = ReplayRecorder(Engine(load_scenario("duel"), 1))
    duel.record()
    assert duel.header()["scenario_ref"] == "builtin:duel"
    assert scenario_drift(duel.replay()) is None


def test_tampered_embedded_scenario_is_refused(tmp_path: Path) -> None:
    engine = Engine(load_scenario("duel"), 1)
    rec = ReplayRecorder(engine)
    rec.record()
    rec.save(tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz") as z:
        data = {k: z[k] for k in z.files}
    text = data["scenario_text"].tobytes().decode().replace("max_ticks = 60", "max_ticks = 61")
    data["scenario_text"] = np.frombuffer(text.encode(), np.uint8)
    np.savez_compressed(tmp_path / "bad.npz", **data)  # type: ignore[arg-type]
    with pytest.raises(CgfsimError, match=r"bad\.npz: corrupt replay: the embedded scenario"):
        load_replay(tmp_path / "bad.npz")
