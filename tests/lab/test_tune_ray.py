"""A study's trials as Ray tasks on a local Ray (the lab's Ray executor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("lab-sweep")  # one local Ray at a time

ROOT = Path(__file__).parents[2]
CGFSIM = Path(sys.executable).with_name("cgfsim")

SPACE = """
[study]
name = "ray"
strategy = "grid"

[task]
learner = "bc"
record = { scenario = "duel", demonstrator = "assault", opponent = "retreat", episodes = 20 }
test_episodes = 20

[fixed]
epochs = 2

[params]
nodes1 = [4, 8, 16]
"""


@pytest.mark.slow
def test_trials_run_as_ray_tasks(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="install the distributed extra (make setup does)")
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "study"
    home_ray = Path.home() / ".ray"
    had_home_ray = home_ray.exists()
    env = {**os.environ, "SB3_LOGDIR": str(ROOT / "runs" / ".sb3")}
    cmd = [str(CGFSIM), "tune", str(space), "--out", str(out), "--executor", "ray"]
    res = subprocess.run(
        [*cmd, "--workers", "2", "--quiet"], env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] == 3 and summary["distinct"] == 3
    doc = json.loads((out / "tune.json").read_text())
    assert doc["storage"].startswith("journal:") and doc["runs"][0]["executor"] == "ray"
    assert home_ray.exists() == had_home_ray
