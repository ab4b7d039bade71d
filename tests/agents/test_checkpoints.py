"""Checkpoints round trip exactly and reject every bad file with a CgfsimError; run-folder I/O."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from cgfsim.agents.checkpoints import check_compatible, load_checkpoint, save_checkpoint
from cgfsim.agents.networks import PolicySpec, build_policy
from cgfsim.agents.runs import (
    CurveRow,
    DataAccount,
    append_curve_row,
    append_jsonl,
    make_run_dir,
    read_curve,
    read_jsonl,
    write_json,
)
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)

OBS = gym.spaces.Box(-1.0, 1.0, (40,), np.float32)
ACT = gym.spaces.MultiDiscrete([9, 9])


def spec(core: str = "mlp", **kw: object) -> PolicySpec:
    return PolicySpec("vector", (40,), 2, 9, core=core, hidden=(32,), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("core", ["mlp", "lstm"])
def test_round_trip_gives_identical_actions(tmp_path: Path, core: str) -> None:
    policy = build_policy(spec(core), seed=0)
    meta = {"algo": "ppo", "scenario": "Duel", "side": "blue", "env_steps": 123}
    save_checkpoint(tmp_path / "ck", policy, policy.spec, meta)
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"policy.pt", "policy.json"}
    loaded, s, m = load_checkpoint(tmp_path / "ck", OBS, ACT)
    assert s == policy.spec and m == meta and not loaded.training
    obs = np.random.default_rng(0).standard_normal((16, 40)).astype(np.float32)
    st1, st2 = policy.initial_state(16), loaded.initial_state(16)
    for _ in range(3):
        a1, st1 = policy.act(obs, st1)
        a2, st2 = loaded.act(obs, st2)
        np.testing.assert_array_equal(a1, a2)
    # The json file or the weights file are accepted as the path, too.
    load_checkpoint(tmp_path / "ck" / "policy.json")
    load_checkpoint(tmp_path / "ck" / "policy.pt")


def test_missing_and_corrupted(tmp_path: Path) -> None:
    with pytest.raises(CgfsimError, match="no such folder"):
        load_checkpoint(tmp_path / "nope")
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    data = (d / "policy.pt").read_bytes()
    (d / "policy.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CgfsimError, match="corrupted"):
        load_checkpoint(d)
    # A truncated file whose digest matches must still fail cleanly in torch.load.
    _rehash(d)
    with pytest.raises(CgfsimError, match="cannot read"):
        load_checkpoint(d)
    # Without the digest nothing loads: a flipped byte could otherwise pass silently.
    doc = json.loads((d / "policy.json").read_text())
    del doc["weights_sha256"]
    (d / "policy.json").write_text(json.dumps(doc))
    with pytest.raises(CgfsimError, match="no weights_sha256"):
        load_checkpoint(d)
    (d / "policy.pt").unlink()
    with pytest.raises(CgfsimError, match="missing"):
        load_checkpoint(d)
    (d / "policy.json").write_text("{not json")
    with pytest.raises(CgfsimError, match="not valid JSON"):
        load_checkpoint(d)


def test_weights_only_refuses_pickled_code(tmp_path: Path) -> None:
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    torch.save({"x": object()}, d / "policy.pt")  # not loadable with weights_only=True
    _rehash(d)  # even with a matching digest, weights_only refuses the pickle
    with pytest.raises(CgfsimError, match="cannot read"):
        load_checkpoint(d)


def _rehash(d: Path) -> None:
    """Make policy.json's digest match whatever policy.pt now holds."""
    doc = json.loads((d / "policy.json").read_text())
    doc["weights_sha256"] = hashlib.sha256((d / "policy.pt").read_bytes()).hexdigest()
    (d / "policy.json").write_text(json.dumps(doc))


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    pol = build_policy(spec(), seed=0)
    with torch.no_grad():
        pol.action_net.bias[0] = float("nan")
    d = save_checkpoint(tmp_path / "ck", pol)
    with pytest.raises(CgfsimError, match="NaN or infinite"):
        load_checkpoint(d)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hidden": [40000, 40000]}, "out of range"),
        ({"hidden": [8192] * 16}, "parameters, more than"),
        ({"hidden": "64"}, "list of integers"),
        ({"hidden": [64.5]}, "list of integers"),
        ({"hidden": [0]}, ">= 1"),
        ({"n_units": 10**30}, "out of range"),
        ({"n_units": "2"}, "must be an integer"),
        ({"n_actions": True}, "must be an integer"),
        ({"obs_shape": [10**9]}, "out of range"),
        ({"obs_shape": None}, "list of integers"),
        ({"lstm_hidden": -3}, ">= 1"),
        ({"attn_heads": 0}, ">= 1"),
        ({"dropout": "high"}, "must be a number"),
        ({"layer_norm": 1}, "true or false"),
        ({"core": ["mlp"]}, "must be a string"),
        ({"extra": 1}, "unknown fields"),
    ],
)
def test_malformed_architecture_is_refused_before_building(
    tmp_path: Path, change: dict, match: str
) -> None:
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    doc = json.loads((d / "policy.json").read_text())
    (d / "policy.json").write_text(json.dumps({**doc, "spec": {**doc["spec"], **change}}))
    with pytest.raises(CgfsimError, match=match):
        load_checkpoint(d)


def test_malformed_json_documents(tmp_path: Path) -> None:
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    doc = json.loads((d / "policy.json").read_text())
    for text, match in [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|not a cgfsim-policy"),
        (json.dumps({**doc, "version": "1"}), "version must be an integer"),
        (json.dumps({**doc, "spec": [1, 2]}), "no policy spec"),
        (json.dumps({**doc, "weights_sha256": 5}), "no weights_sha256"),
        (" " * (2 << 20), "larger than"),
    ]:
        (d / "policy.json").write_text(text)
        with pytest.raises(CgfsimError, match=match):
            load_checkpoint(d)


def test_oversized_weights_file_is_refused(tmp_path: Path) -> None:
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    with open(d / "policy.pt", "ab") as f:
        f.write(b"\0" * (2 << 20))
    with pytest.raises(CgfsimError, match="more than the architecture"):
        load_checkpoint(d)


def _save_forever(path: str, seed: int) -> None:  # runs in a forked child
    pols = [build_policy(spec(), seed=s) for s in (seed, seed + 1)]
    k = 0
    while True:
        save_checkpoint(path, pols[k % 2], meta={"k": k})
        k += 1


def test_kill_during_save_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    """SIGKILL a process that saves over and over, at random moments: a checkpoint loads."""
    ctx = mp.get_context("fork")
    path = tmp_path / "best"
    save_checkpoint(path, build_policy(spec(), seed=100))
    wanted = {
        json.dumps(build_policy(spec(), seed=s).state_dict()["action_net.bias"].tolist())
        for s in (100, 0, 1)
    }
    rng = np.random.default_rng(0)
    for _ in range(25):
        proc = ctx.Process(target=_save_forever, args=(str(path), 0), daemon=True)
        proc.start()
        time.sleep(float(rng.uniform(0.05, 0.4)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        pol, _, _ = load_checkpoint(path)
        assert json.dumps(pol.state_dict()["action_net.bias"].tolist()) in wanted
    # A later save cleans up whatever the kills left beside the folder.
    save_checkpoint(path, build_policy(spec(), seed=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_wrong_architecture(tmp_path: Path) -> None:
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    doc = json.loads((d / "policy.json").read_text())
    for change in ({"hidden": [64]}, {"core": "lstm"}, {"layer_norm": True}):
        doc2 = {**doc, "spec": {**doc["spec"], **change}}
        (d / "policy.json").write_text(json.dumps(doc2))
        with pytest.raises(CgfsimError, match=r"do not fit|has shape"):
            load_checkpoint(d)
    (d / "policy.json").write_text(json.dumps({**doc, "spec": {**doc["spec"], "core": "gru"}}))
    with pytest.raises(CgfsimError, match="core"):
        load_checkpoint(d)


def test_wrong_env(tmp_path: Path) -> None:
    d = save_checkpoint(tmp_path / "ck", build_policy(spec(), seed=0))
    grid = gym.spaces.Box(0.0, 1.0, (6, 8, 8), np.float32)
    with pytest.raises(CgfsimError, match=r"vector observations .* grid observations"):
        load_checkpoint(d, grid, ACT)
    with pytest.raises(CgfsimError, match="shape"):
        load_checkpoint(d, gym.spaces.Box(-1, 1, (41,), np.float32), ACT)
    with pytest.raises(CgfsimError, match="units"):
        load_checkpoint(d, OBS, gym.spaces.MultiDiscrete([10, 10]))

    class FakeEnv:
        observation_space = OBS
        action_space = gym.spaces.MultiDiscrete([9, 9, 9])

    with pytest.raises(CgfsimError, match="2 units"):
        check_compatible(spec(), FakeEnv())


def test_run_folder_and_curve(tmp_path: Path) -> None:
    a = make_run_dir(tmp_path, "exp/1", "ppo mlp")
    b = make_run_dir(tmp_path, "exp/1", "ppo mlp")
    assert a != b and a.parent == b.parent and a.name.endswith("ppo-mlp")
    write_json(a / "config.json", {"x": np.float32(1.5), "arr": np.arange(2), "p": a})
    assert json.loads((a / "config.json").read_text())["arr"] == [0, 1]
    assert not [p for p in a.iterdir() if p.name.endswith(".tmp")]
    append_curve_row(a, CurveRow("ppo-mlp", 0, 1000, 0.5, 0.3, 0.7, 1.0))
    append_curve_row(a, CurveRow("ppo-mlp", 0, 2000, 0.9, 0.8, 0.95, 2.0))
    assert [r["env_steps"] for r in read_curve(a)] == [1000, 2000]
    lines = (a / "curve.csv").read_text().splitlines()
    assert lines[0].startswith("approach,seed,env_steps,win_rate") and len(lines) == 3
    with open(a / "curve.jsonl", "a") as f:
        f.write('{"torn": ')  # an interrupted write
    assert len(read_jsonl(a / "curve.jsonl")) == 2
    append_jsonl(a / "log.jsonl", {"k": np.int64(3)})
    assert read_jsonl(a / "log.jsonl") == [{"k": 3}]
    acct = DataAccount().add(env_steps=10, wall_s=0.5).add(demo_steps=4)
    assert acct.to_dict() == {"env_steps": 10, "demo_steps": 4, "wall_s": 0.5}


def test_load_falls_back_to_the_complete_sibling_of_an_interrupted_save(tmp_path: Path) -> None:
    """The one window with no folder at the path: old moved aside, new not yet renamed."""
    path = tmp_path / "best"
    old_pol, new_pol = build_policy(spec(), seed=1), build_policy(spec(), seed=2)
    save_checkpoint(path, old_pol)
    save_checkpoint(tmp_path / "staged", new_pol)
    os.replace(path, tmp_path / ".best.old-abc")
    os.replace(tmp_path / "staged", tmp_path / ".best.new-def")
    loaded, _, _ = load_checkpoint(path)
    torch.testing.assert_close(loaded.state_dict(), new_pol.state_dict())
    (tmp_path / ".best.new-def" / "policy.json").unlink()  # the new one was not complete
    loaded, _, _ = load_checkpoint(path)
    torch.testing.assert_close(loaded.state_dict(), old_pol.state_dict())
    for p in tmp_path.glob(".best.*"):
        shutil.rmtree(p)
    with pytest.raises(CgfsimError, match="no such folder"):
        load_checkpoint(path)
