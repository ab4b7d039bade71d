"""The CleanRL-style single-file PPO trains on ``gymnasium.make_vec`` and evaluates on test keys."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "cleanrl_ppo.py"


def test_cleanrl_ppo_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(SCRIPT), "--total-timesteps", "2048", "--num-envs", "16", "--num-steps", "64"]
    argv += ["--eval-episodes", "32", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert "iteration 2/2 global_step=2048" in out
    assert "test split, 32 episodes, greedy over valid actions: win_rate" in out
    events = list(tmp_path.glob("cgfsim-Duel-v0__ppo__1__*/events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
