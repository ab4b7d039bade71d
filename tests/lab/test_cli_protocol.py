"""The protocol holes closed in the CLI: ``cgfsim evaluate`` defaults to test-split worlds,
``cgfsim train`` reports the selected checkpoint on test worlds, not its validation maximum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.networks import PolicySpec, build_policy
from cgfsim.cli import main
from cgfsim.envs.observations import observation_shape
from cgfsim.sim.splits import describe_key, key_base

torch.set_num_threads(1)


def test_evaluate_defaults_to_the_test_worlds_of_the_training_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = PolicySpec("vector", observation_shape("duel"), 2, 9, hidden=(8,))
    ck = save_checkpoint(
        tmp_path / "p", build_policy(spec, seed=0), spec, {"scenario": "Duel", "seed": 5}
    )
    js = tmp_path / "e.json"
    assert main(["evaluate", str(ck), "--episodes", "12", "--json", str(js)]) == 0
    assert "worlds: test split of training seed 5" in capsys.readouterr().out
    (res,) = json.loads(js.read_text())["results"]
    assert res["seed"] == key_base("test", 5) and describe_key(res["seed"]) == ("test", 5, 0)
    assert main(["evaluate", "assault", "--scenario", "duel", "--episodes", "8"]) == 0
    assert "test split of training seed 0" in capsys.readouterr().out


def test_train_reports_the_selected_checkpoint_on_test_worlds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--algo",
            "ga",
            "--steps",
            "600",
            "--seed",
            "2",
            "--out",
            str(out),
            "--set",
            "pop=4",
            "--set",
            "episodes_per_ind=2",
            "--set",
            "hidden=[8]",
            "--eval-episodes",
            "10",
            "--test-episodes",
            "30",
            "--quiet",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "selected on validation worlds" in text and "so optimistic" in text
    assert "on 30 test-split episodes" in text
    test = json.loads((out / "test.json").read_text())
    assert test["episodes"] == 30 and describe_key(test["seed"])[:2] == ("test", 2)
    assert (
        main(["train", "--algo", "ga", "--test-episodes", "-1", "--out", str(tmp_path / "bad")])
        == 2
    )
