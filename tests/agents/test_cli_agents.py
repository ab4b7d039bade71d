"""``cgfsim train / evaluate / tournament``: run folders, tables, JSON, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.networks import PolicySpec, build_policy
from cgfsim.cli import main
from cgfsim.cli.agents import check_combo, parse_sets
from cgfsim.envs.observations import observation_shape
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)
CGFSIM = Path(sys.executable).with_name("cgfsim")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = PolicySpec("vector", observation_shape("duel", "vector"), 2, 9, hidden=(16,))
    d = tmp_path_factory.mktemp("ck") / "policy"
    return save_checkpoint(d, build_policy(spec, seed=0), spec, {"scenario": "Duel"})


def test_parse_sets_and_combos() -> None:
    assert parse_sets(["hidden=[64, 64]", "sigma=0.1", "masked=false", "name=abc"]) == {
        "hidden": [64, 64],
        "sigma": 0.1,
        "masked": False,
        "name": "abc",
    }
    with pytest.raises(CgfsimError):
        parse_sets(["novalue"])
    assert check_combo("ppo", "grid", "lstm") == "ppo"
    for bad in (
        ("sac", "vector", "mlp"),
        ("ga", "grid", "mlp"),
        ("a2c", "vector", "lstm"),
        ("rppo", "vector", "mlp"),
        ("ppo", "pixels", "mlp"),
        ("ppo", "vector", "gru"),
    ):
        with pytest.raises(CgfsimError):
            check_combo(*bad)


@pytest.mark.parametrize(
    ("algo", "extra"),
    [
        ("ga", ["--set", "pop=6", "--set", "episodes_per_ind=2", "--set", "hidden=[8]"]),
        ("ppo", ["--set", "n_envs=8", "--set", "n_steps=16", "--set", "batch_size=64"]),
    ],
)
def test_train_writes_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algo: str, extra: list[str]
) -> None:
    out = tmp_path / algo
    rc = main(
        [
            "train",
            "--algo",
            algo,
            "--scenario",
            "duel",
            "--opponent",
            "random",
            "--steps",
            "600",
            "--seed",
            "1",
            "--out",
            str(out),
            "--eval-episodes",
            "10",
            "--quiet",
            *extra,
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert f"run folder: {out}" in text
    for f in ("config.json", "result.json", "curve.csv"):
        assert (out / f).is_file()
    for ck in ("best", "final"):
        assert (out / ck / "policy.json").is_file() and (out / ck / "policy.pt").is_file()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["seed"] == 1 and cfg["scenario"] == "Duel" and "hparams" in cfg
    assert any(p.name.startswith("events.out.tfevents") for p in out.rglob("*"))


def test_evaluate_prints_tables_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path
) -> None:
    js, rp = tmp_path / "e.json", tmp_path / "r.replay.npz"
    rc = main(
        [
            "evaluate",
            str(checkpoint),
            "--opponent",
            "random,assault",
            "--episodes",
            "12",
            "--json",
            str(js),
            "--replay",
            str(rp),
            "--seed",
            "4",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("95% CI") == 2 and "actions: greedy" in out and "vs assault" in out
    doc = json.loads(js.read_text())
    assert [r["opponent"] for r in doc["results"]] == ["random", "assault"]
    assert all(r["episodes"] == 12 and r["seed"] == 4 for r in doc["results"])
    assert len(list(tmp_path.glob("r-*.replay.npz"))) == 2
    rc = main(
        [
            "evaluate",
            "assault",
            "--scenario",
            "duel",
            "--opponent",
            str(checkpoint),
            "--episodes",
            "5",
            "--sample",
        ]
    )
    assert rc == 0 and "actions: scripted" in capsys.readouterr().out
    rc = main(["evaluate", str(checkpoint), "--episodes", "5", "--sample"])
    assert rc == 0 and "actions: sampled" in capsys.readouterr().out


def test_tournament_prints_elo_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path
) -> None:
    js = tmp_path / "t.json"
    rc = main(
        [
            "tournament",
            f"assault,random,{checkpoint}",
            "--scenario",
            "duel",
            "--episodes",
            "10",
            "--json",
            str(js),
            "--quiet",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "elo" in out and "score of row vs column" in out
    doc = json.loads(js.read_text())
    assert doc["ranking"][0]["player"] == "assault"
    assert sum(r["games"] for r in doc["ranking"]) == 2 * 3 * 2 * 10


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--algo", "sac", "--steps", "10"],
        ["train", "--algo", "ga", "--obs", "grid", "--steps", "10"],
        ["train", "--algo", "a2c", "--policy", "lstm", "--steps", "10"],
        ["train", "--algo", "ppo", "--obs", "pixels", "--steps", "10"],
        ["train", "--algo", "ga", "--set", "nosuch=1", "--steps", "10"],
        ["evaluate", "no-such-player", "--scenario", "duel"],
        ["tournament", "assault", "--scenario", "duel"],
    ],
)
def test_bad_input_is_one_line_exit_2(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cgfsim: error: ")
    assert not (tmp_path / "runs").exists()  # nothing half-made


def test_corrupted_or_mismatched_checkpoint_fails_cleanly(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "policy.json").write_text((checkpoint / "policy.json").read_text())
    (bad / "policy.pt").write_bytes(b"not a torch file")
    # the real command line, in a fresh process: one line on stderr, no traceback
    p = subprocess.run(
        [str(CGFSIM), "evaluate", str(bad), "--scenario", "duel", "--episodes", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupted" in lines[0] and "Traceback" not in p.stderr
    for args in (
        [str(checkpoint), "--scenario", "skirmish"],  # other slot counts
        [str(checkpoint), "--obs", "grid"],  # other observation mode
    ):
        assert main(["evaluate", *args, "--episodes", "3"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cgfsim: error: ")
