"""Sweeps end to end: SIGKILL and resume, identical rows on every executor, bad input, report.

The serial run (killed once, then resumed) is the reference the process pool
and Ray runs are compared with; rows are compared without their timing fields.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cgfsim.cli import main
from cgfsim.lab.jobs import TIMING_FIELDS
from cgfsim.lab.spec import load_sweep
from cgfsim.lab.store import JobStore

pytestmark = pytest.mark.xdist_group("lab-sweep")

HERE = Path(__file__).parent
TINY = HERE / "tiny_sweep.toml"
CGFSIM = Path(sys.executable).with_name("cgfsim")
ROOT = HERE.parent.parent


def _rows(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """job id -> its rows without timing fields."""
    out = {}
    for rec in JobStore(folder).records():
        out[rec["job_id"]] = [
            {k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rec["rows"]
        ]
    return out


def _lines(folder: Path) -> list[str]:
    p = folder / "results.jsonl"
    return p.read_text().splitlines() if p.exists() else []


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SB3_LOGDIR", str(ROOT / "runs" / ".sb3"))
    return env


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep killed with SIGKILL after its first finished job, then resumed."""
    out = tmp_path_factory.mktemp("serial") / "sweep"
    cmd = [str(CGFSIM), "lab", "run", str(TINY), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(
        cmd, env=_env(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not _lines(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _lines(out)
    total = len(load_sweep(TINY).jobs(out))
    assert 1 <= len(first) < total, "the kill should land between the first and the last job"
    # a write torn by a kill in the middle of a line must cost nothing but itself
    with open(out / "results.jsonl", "a") as f:
        f.write('{"job_id": "torn", "rows": [{"budget": 2')
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = _lines(out)
    assert lines[: len(first)] == first  # finished rows kept byte for byte
    ids = [json.loads(ln)["job_id"] for ln in lines]
    assert len(ids) == len(set(ids)) == total  # none lost, none repeated, torn line gone
    session = [json.loads(ln) for ln in (out / "sessions.jsonl").read_text().splitlines()]
    assert session[-1]["jobs_skipped"] == len(first)
    assert session[-1]["jobs_run"] == total - len(first)
    return out


def test_killed_sweep_resumes_without_loss_or_repeats(serial_run: Path) -> None:
    rows = _rows(serial_run)
    assert len(rows) == 4
    for job_rows in rows.values():
        assert [r["budget"] for r in job_rows] == [256, 1024, 2048]
        assert all(r["env_steps"] <= r["budget"] and r["episodes"] == 40 for r in job_rows)


def test_process_executor_gives_identical_rows(serial_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "process"
    rc = main(
        [
            "lab",
            "run",
            str(TINY),
            "--out",
            str(out),
            "--executor",
            "process",
            "--workers",
            "2",
            "--quiet",
        ]
    )
    assert rc == 0
    assert _rows(out) == _rows(serial_run)


@pytest.mark.slow
def test_ray_executor_gives_identical_rows(serial_run: Path, tmp_path: Path) -> None:
    """A two-job sweep (seed 0 of the tiny sweep) on a local Ray: the same job ids and rows;
    Ray's session files go to a temp dir that is removed, nothing to the home folder."""
    pytest.importorskip("ray", reason="install the distributed extra (make setup does)")
    text = TINY.read_text().replace("seeds = [0, 1]", "seeds = [0]")
    sweep = tmp_path / "two.toml"
    sweep.write_text(text)
    home_ray = Path.home() / ".ray"
    had_home_ray = home_ray.exists()
    out = tmp_path / "ray"
    res = subprocess.run(
        [
            str(CGFSIM),
            "lab",
            "run",
            str(sweep),
            "--out",
            str(out),
            "--executor",
            "ray",
            "--workers",
            "2",
            "--quiet",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    ray_rows = _rows(out)
    reference = _rows(serial_run)
    assert len(ray_rows) == 2
    assert ray_rows == {k: reference[k] for k in ray_rows}
    assert home_ray.exists() == had_home_ray


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('"ga-mlp", "ppo-mlp"', '"ga-mlp", "sac-mlp"'), "unknown approach 'sac-mlp'"),
        (('["duel"]', '["nowhere"]'), "sweep.scenarios: unknown or invalid scenario 'nowhere'"),
        (("[256, 1024, 2048]", "[256, 4096, 1024]"), "budgets must be strictly increasing"),
        (('"one-in-five" = 0.2', '"one-in-five" = 1.5'), "threshold must be a win rate in [0, 1]"),
        (("hidden = [8]", 'hidden = [8]\ndataset = "no/such/demos.h5"'), "missing dataset"),
        (("pop = 4", "pops = 4"), "unknown GA hyperparameters ['pops']"),
        (("opponent = ", "oponent = "), "sweep.oponent: unknown key"),
    ],
)
def test_bad_sweeps_fail_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], message: str
) -> None:
    text = TINY.read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    out = tmp_path / "out"
    assert main(["lab", "run", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(bad) in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--executor", "ray", "--address", "127.0.0.1:9"], "no Ray cluster reachable"),
        (["--executor", "threads"], "unknown --executor 'threads'"),
        (["--executor", "process", "--workers", "0"], "--workers: expected an integer >= 1"),
        (["--address", "127.0.0.1:9"], "--address is for --executor ray"),
    ],
)
def test_bad_executor_flags_fail_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    if "ray" in flags:
        pytest.importorskip("ray", reason="install the distributed extra (make setup does)")
    out = tmp_path / "out"
    assert main(["lab", "run", str(TINY), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_report_is_rebuilt_from_the_store(
    serial_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(serial_run, folder)
    for f in ("report.md", "results.csv", "summary.csv"):
        (folder / f).unlink()
    shutil.rmtree(folder / "plots")
    assert main(["lab", "report", str(folder)]) == 0
    assert "| Duel | GA-MLP | parity" in capsys.readouterr().out
    md = (folder / "report.md").read_text()
    for needle in (
        "## Answer",
        "Samples-to-reliability",
        "Below the protocol's minimum",
        "stratified bootstrap",
        "best doctrine against `random` is `assault`",
    ):
        assert needle in md
    summary = (folder / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("scenario,approach,target,target_win_rate")
    assert len(summary) == 1 + 2 * 3  # 2 approaches x (parity, exceed, one-in-five)
    results = (folder / "results.csv").read_text().splitlines()
    assert len(results) == 1 + 4 * 3  # 4 jobs x 3 budgets, one eval set (fixed map)
    for png in ("win_rate_vs_data", "samples_to_reliability", "performance_profile"):
        assert (folder / "plots" / f"{png}.png").stat().st_size > 1000
    assert main(["lab", "report", str(tmp_path)]) == 2  # not a sweep folder


def test_presets_are_valid_sweeps() -> None:
    presets = {p.stem: load_sweep(p) for p in (ROOT / "experiments" / "data_volume").glob("*.toml")}
    assert {"quick", "full", "maps"} <= set(presets)
    quick, full = presets["quick"], presets["full"]
    assert len(quick.seeds) >= 3 and quick.protocol.test_episodes >= 1000
    assert len(full.seeds) >= 5 and full.budgets[-1] / full.budgets[0] >= 1000
    assert any(s.random_maps for s in full.scenarios)
    res = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "data_volume.py"), "--preset", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "unknown --preset 'nope'" in res.stderr
