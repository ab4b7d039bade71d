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
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)
CGFSIM = Path(sys.executable).with_name("cgfsim")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = BatchedCommanderEnv("duel", 1)
    spec = PolicySpec.from_spaces(env.observation_space, env.action_space, hidden=(16,))
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
    rc = main(["evaluate", str(checkpoint), "--opponent", "doctrines", "--episodes", "3"])
    assert rc == 0 and capsys.readouterr().out.count("95% CI") == 8


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


def test_bad_league_input_fails_before_any_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = BatchedCommanderEnv("skirmish", 1)
    spec = PolicySpec.from_spaces(env.observation_space, env.action_space, hidden=(8,))
    other = save_checkpoint(tmp_path / "skirmish_policy", build_policy(spec, seed=0), spec)
    bad_toml = tmp_path / "league.toml"
    bad_toml.write_text("[league]\nmembers = { assault = 1.0, hodl = 1.0 }\n")
    base = ["train", "--algo", "ppo", "--scenario", "duel", "--steps", "64"]
    for extra, match in (
        (["--league", "doctrines,nope"], "unknown league member 'nope'"),
        (["--league", str(bad_toml)], f"league config {bad_toml}: unknown league member 'hodl'"),
        (["--league", f"assault,{other}"], "skirmish_policy"),
        (["--league", "doctrines", "--opponent", "hold"], "not both"),
        (["--league", "doctrines", "--algo", "ga"], "not ga"),
    ):
        out = tmp_path / "out"
        assert main([*base, *extra, "--out", str(out)]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cgfsim: error: ") and match in err[0]
        assert not out.exists() and not (tmp_path / "runs").exists()


def test_train_with_a_league(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "league.toml"
    cfg.write_text(
        "[league]\nmembers = { hold = 1.0, random = 1.0, self = 2.0 }\n"
        "snapshot_every = 256\nmax_snapshots = 2\n"
    )
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--algo",
            "ppo",
            "--scenario",
            "duel",
            "--league",
            f"{cfg},assault",
            "--steps",
            "1024",
            "--out",
            str(out),
            "--eval-episodes",
            "4",
            "--final-episodes",
            "6",
            "--quiet",
            "--set",
            "n_envs=8",
            "--set",
            "n_steps=32",
            "--set",
            "batch_size=64",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "against each doctrine" in text and "6 test-split episodes each" in text
    for d in ("hold", "advance", "assault", "defend", "flank", "retreat", "ambush", "random"):
        assert sum(line.startswith(d + " ") for line in text.splitlines()) == 1
    lg = json.loads((out / "league.json").read_text())
    members = {m["member"]: m for m in lg["members"]}
    assert {"hold", "random", "assault", "self@768", "self@1024"} <= set(members)
    assert lg["retired"] == ["self@256", "self@512"]  # at most 2 snapshots play
    assert sum(m["games"] for m in lg["members"]) > 0
    assert sorted(p.name for p in (out / "league").iterdir()) == [
        "self-1024",
        "self-256",
        "self-512",
        "self-768",
    ]
    final = json.loads((out / "final_eval.json").read_text())["results"]
    assert len(final) == 8 and all(r["episodes"] == 6 for r in final)
    curve = [json.loads(x) for x in (out / "curve.jsonl").read_text().splitlines()]
    assert {"win_hold", "win_random", "win_assault"} <= set(curve[-1])
    cfg_json = json.loads((out / "config.json").read_text())
    assert cfg_json["league"]["snapshot_every"] == 256
