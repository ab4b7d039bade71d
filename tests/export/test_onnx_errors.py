"""Bad input: one line on stderr, exit code 2, nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.export_onnx import exporter
from cgfsim.agents.export_onnx.contract import CONTRACT, MODEL
from cgfsim.cli import main
from tests.export.helpers import Recording, make_policy


@pytest.fixture
def ck(tmp_path: Path, recordings: dict[str, Recording]) -> Path:
    policy = make_policy(recordings["vector"], "mlp")
    return save_checkpoint(tmp_path / "ck", policy, meta={"scenario": "duel", "side": "blue"})


def _fails(capsys: pytest.CaptureFixture[str], args: list[str], *needles: str) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cgfsim: error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    return err


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_bad_checkpoints_and_flags_write_nothing(
    tmp_path: Path, ck: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ex"
    before = _siblings(out)
    _fails(capsys, ["export", str(ck), "--out", str(out), "--opset", "9"], "--opset", "14..20")
    _fails(capsys, ["export", str(tmp_path / "nope"), "--out", str(out)], "no such folder")
    bad = tmp_path / "corrupt"
    shutil.copytree(ck, bad)
    data = bytearray((bad / "policy.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "policy.pt").write_bytes(bytes(data))
    _fails(capsys, ["export", str(bad), "--out", str(out)], "corrupted")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "policy.json").write_text(json.dumps({"format": "keras", "layers": []}))
    (foreign / "policy.pt").write_bytes(b"not torch")
    _fails(capsys, ["export", str(foreign), "--out", str(out)], "not a cgfsim-policy file")
    sb3 = tmp_path / "sb3"
    sb3.mkdir()
    (sb3 / "sb3_model.zip").write_bytes(b"PK")
    _fails(capsys, ["export", str(sb3), "--out", str(out)], "policy.json is missing")
    other = ["export", str(ck), "--out", str(out), "--scenario", "skirmish"]
    _fails(capsys, other, "on Skirmish", "(93,)")
    _fails(capsys, ["export", str(ck), "--out", str(ck), "--force"], "would replace")
    assert _siblings(out) == [*before, "corrupt", "foreign", "sb3"]  # no output folder


def test_existing_output_needs_force_and_is_replaced_whole(
    tmp_path: Path, ck: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ex"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _fails(capsys, ["export", str(ck), "--out", str(out)], "not empty", "--force")
    assert os.listdir(out) == ["notes.txt"]
    assert main(["export", str(ck), "--out", str(out), "--force"]) == 0
    assert sorted(os.listdir(out)) == [CONTRACT, MODEL]
    assert _siblings(out) == ["ck", "ex"]  # no temp folders left behind
    (tmp_path / "empty").mkdir()
    assert main(["export", str(ck), "--out", str(tmp_path / "empty")]) == 0  # empty is fine


def test_interrupted_export_leaves_the_old_folder(
    tmp_path: Path, ck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ex"
    assert main(["export", str(ck), "--out", str(out)]) == 0
    old = (out / CONTRACT).read_bytes()
    real = os.replace
    calls = {"n": 0}

    def dying_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the old folder is aside, the new one not yet in place
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(exporter.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        exporter.export_policy(ck, out, force=True, opset=16)
    monkeypatch.undo()
    assert (out / CONTRACT).read_bytes() == old  # the previous export is back, whole
    assert json.loads(old)["model"]["opset"] == 17
    assert _siblings(out) == ["ck", "ex"]


def test_exported_folder_that_no_longer_matches_is_refused(
    tmp_path: Path,
    ck: Path,
    recordings: dict[str, Recording],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "ex"
    assert main(["export", str(ck), "--out", str(out)]) == 0
    capsys.readouterr()
    ev = ["evaluate", str(out), "--episodes", "2"]
    # the checkpoint was trained further (or overwritten) after the export
    other = make_policy(recordings["vector"], "mlp", seed=9)
    save_checkpoint(ck, other, meta={"scenario": "duel"})
    _fails(capsys, ev, "does not match its checkpoint", "--force")
    _fails(capsys, ["play", "duel", "--blue", str(out)], "does not match its checkpoint")
    assert main(["export", str(ck), "--out", str(out), "--force"]) == 0
    assert main(ev) == 0
    capsys.readouterr()
    # a model file that is not the one the contract was written for
    model = out / MODEL
    model.write_bytes(model.read_bytes()[:-10])
    _fails(capsys, ev, "policy.onnx does not match the digest")
    (out / CONTRACT).write_text("{not json")
    _fails(capsys, ev, "contract.json is not valid JSON")
    (out / CONTRACT).write_text(json.dumps({"format": "something-else"}))
    _fails(capsys, ev, "not a cgfsim-onnx-contract file")
