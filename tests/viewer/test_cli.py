"""``cgfsim replay ... --html`` and the policy outputs that ``play``/``evaluate`` record.

Bad input (a truncated or corrupted replay, a scenario changed since recording,
an output path that cannot be written) ends with one line and exit code 2,
and nothing is left half-written.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cgfsim.cli import main
from cgfsim.envs.observations import observation_shape
from cgfsim.sim.replay import load_replay

from ..sim.test_render_replay import TINY
from .conftest import record
from .test_payload import page_document


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cgfsim: error: "), err
    for n in needles:
        assert n in lines[0], (n, err)


def test_html_of_several_files_with_a_selector(
    capsys: pytest.CaptureFixture[str], urban_file: Path, tmp_path: Path
) -> None:
    duel = record("duel", "assault", "random", 1, 5, tmp_path / "duel.npz")
    out = tmp_path / "page.html"
    rc, text, _ = run(capsys, "replay", urban_file, duel, "--html", out)
    assert rc == 0 and "HTML viewer of 3 replay(s) written to" in text
    doc = page_document(out.read_text(encoding="utf-8"))
    labels = [r["label"] for r in doc["replays"]]
    assert [lb.split()[0] for lb in labels] == ["u.npz", "u.npz", "duel.npz"]
    assert "assault vs defend" in labels[0] and "world 1" in labels[1]
    assert [r["scenario"]["name"] for r in doc["replays"]] == ["Urban", "Urban", "Duel"]
    assert doc["title"] == "cgfsim replay: Duel, Urban"
    rc, text, _ = run(capsys, "replay", urban_file, "--html", out, "--world", "1")
    assert rc == 0 and "1 replay(s)" in text
    assert [r["track"]["world"] for r in page_document(out.read_text())["replays"]] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duel.npz", "page.html"]
    rc, _, err = run(capsys, "replay", urban_file, duel, "--gif", tmp_path / "x.gif")
    assert rc == 2
    one_line_error(err, "--gif and --frames take one replay file")


def test_truncated_or_corrupted_replays_write_nothing(
    capsys: pytest.CaptureFixture[str], urban_file: Path, tmp_path: Path
) -> None:
    raw = urban_file.read_bytes()
    flipped = bytearray(raw)
    mid = len(raw) // 2
    flipped[mid : mid + 64] = bytes(b ^ 0xFF for b in flipped[mid : mid + 64])
    cases = {"truncated.npz": raw[: len(raw) // 3], "flipped.npz": bytes(flipped)}
    folder = tmp_path / "out"
    folder.mkdir()
    for name, content in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        rc, _, err = run(capsys, "replay", urban_file, bad, "--html", folder / "page.html")
        assert rc == 2
        one_line_error(err, name)
        assert list(folder.iterdir()) == []


def test_a_scenario_changed_since_recording_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.replay import ReplayRecorder
    from cgfsim.sim.scenario import load_scenario

    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, encoding="utf-8")
    rec = ReplayRecorder(Engine(load_scenario(scenario), 1))
    rec.record()
    rec.save(tmp_path / "tiny.npz")
    out = tmp_path / "tiny.html"
    assert run(capsys, "replay", tmp_path / "tiny.npz", "--html", out)[0] == 0
    out.unlink()
    scenario.write_text(TINY.replace("hold_ticks = 3", "hold_ticks = 4"), encoding="utf-8")
    rc, _, err = run(capsys, "replay", tmp_path / "tiny.npz", "--html", out)
    assert rc == 2
    one_line_error(err, "tiny.npz", "changed since this replay was recorded", "sha256")
    assert not out.exists()
    allow = "--allow-changed-scenario"
    rc, _, _ = run(capsys, "replay", tmp_path / "tiny.npz", "--html", out, allow)
    assert rc == 0 and out.exists()
    # the page shows the scenario as recorded, not as it is now
    doc = page_document(out.read_text(encoding="utf-8"))
    assert doc["replays"][0]["scenario"]["objectives"][0]["hold"] == 3


def test_unwritable_outputs_fail_first_and_leave_nothing(
    capsys: pytest.CaptureFixture[str],
    urban_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    for target, needle in (
        (tmp_path, "is a folder"),
        (a_file / "page.html", "is not a folder"),
        (a_file / "sub" / "page.html", "is not a folder"),
    ):
        rc, _, err = run(capsys, "replay", urban_file, "--html", target)
        assert rc == 2
        one_line_error(err, "--html", needle)
    rc, _, err = run(capsys, "play", "duel", "--episodes", "2", "--replay", tmp_path)
    assert rc == 2
    one_line_error(err, "--replay", "is a folder")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)  # fails after part of the page is written
    out = tmp_path / "new" / "page.html"
    rc, _, err = run(capsys, "replay", urban_file, "--html", out)
    assert rc == 2
    one_line_error(err, "--html", "No space left on device")
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "plain.txt"]


# ----------------------------------------------------------------------------- policy outputs


@pytest.fixture(scope="module")
def duel_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from cgfsim.agents.checkpoints import save_checkpoint
    from cgfsim.agents.networks import PolicySpec, build_policy

    torch.set_num_threads(1)
    spec = PolicySpec("vector", observation_shape("duel"), 2, 9, hidden=(16,))
    d = tmp_path_factory.mktemp("ck") / "policy"
    return save_checkpoint(d, build_policy(spec, seed=3), spec, {"scenario": "Duel"})


def check_greedy_probs(path: Path, side: int) -> None:
    """The recorded probabilities of ``side`` are distributions whose argmax is the action
    taken (in the engine's frame); the other side's are not recorded."""
    rep = load_replay(path)
    assert rep.has_policy and "value" not in rep.fields  # checkpoints hold no critic
    nb = rep.scenario.n_slots[0]
    mine = slice(0, nb) if side == 0 else slice(nb, None)
    other = slice(nb, None) if side == 0 else slice(0, nb)
    for w in range(rep.n_worlds):
        tr = rep.track(w)
        p = tr["probs"][1:, mine]
        alive = tr["alive"][:-1, mine]  # a unit acts while alive at the start of the tick
        assert np.allclose(p.sum(-1), 1.0, atol=1e-5)
        assert np.array_equal(np.argmax(p, -1)[alive], tr["actions"][1:, mine][alive])
        assert np.isnan(tr["probs"][:, other]).all() and np.isnan(tr["probs"][0]).all()


def test_play_records_a_checkpoints_probabilities(
    capsys: pytest.CaptureFixture[str], duel_checkpoint: Path, tmp_path: Path
) -> None:
    for side, flags in (
        (0, ["--blue", duel_checkpoint, "--red", "assault"]),
        (1, ["--blue", "assault", "--red", duel_checkpoint]),
    ):
        rp = tmp_path / f"play{side}.npz"
        args = ["play", "duel", *flags, "--episodes", "3", "--seed", "2", "--replay", rp]
        rc, out, _ = run(capsys, *args, "--replay-worlds", "2")
        assert rc == 0 and str(duel_checkpoint) in out
        check_greedy_probs(rp, side)
    rc, _, err = run(capsys, "play", "skirmish", "--blue", duel_checkpoint, "--episodes", "2")
    assert rc == 2
    one_line_error(err, "--blue", "different scenario or slot counts")
    rc, _, err = run(capsys, "play", "duel", "--red", "no/such/folder", "--episodes", "2")
    assert rc == 2
    one_line_error(err, "--red", "not a doctrine", "a checkpoint folder nor an exported")


def test_evaluate_records_probabilities_without_changing_results(
    duel_checkpoint: Path, tmp_path: Path
) -> None:
    from cgfsim.agents.evaluation import evaluate

    ck = str(duel_checkpoint)
    check_red = tmp_path / "red.npz"
    evaluate(ck, "duel", "assault", 4, side="red", replay=check_red, replay_episodes=2)
    check_greedy_probs(check_red, 1)
    # sampled actions: recording the probabilities must not change a single draw
    kw: dict[str, Any] = dict(deterministic=False, seed=7)
    plain = evaluate(ck, "duel", ck, 12, **kw)
    recorded = evaluate(ck, "duel", ck, 12, replay=tmp_path / "s.npz", replay_episodes=3, **kw)
    a, b = dataclasses.asdict(plain), dataclasses.asdict(recorded)
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b
    rep = load_replay(tmp_path / "s.npz")
    both = rep.track(0)["probs"][1:]
    assert np.isfinite(both).all(axis=(0, 2)).all()  # both networks' probabilities, every unit


def test_evaluate_command_replay_opens_with_probabilities(
    capsys: pytest.CaptureFixture[str], duel_checkpoint: Path, tmp_path: Path
) -> None:
    rp, page = tmp_path / "eval.npz", tmp_path / "eval.html"
    args = ["evaluate", duel_checkpoint, "--scenario", "duel", "--opponent", "assault"]
    rc, out, _ = run(capsys, *args, "--episodes", "2", "--replay", rp, "--replay-episodes", "2")
    assert rc == 0 and f"written to {rp}" in out
    check_greedy_probs(rp, 0)
    rc, out, _ = run(capsys, "replay", rp, "--html", page)
    assert rc == 0
    doc = page_document(page.read_text(encoding="utf-8"))
    assert len(doc["replays"]) == 2
    for i, r in enumerate(doc["replays"]):
        assert sorted(r["policy"]["probs"]) == ["0", "1"] and r["policy"]["value"] == {}
        assert (
            r["label"] == f"track {i}: {duel_checkpoint} (blue) vs assault [world {i}, episode 0]"
        )
