"""The learning-from-demonstration approaches in the lab (BC-MLP, BC-LSTM, DAgger-MLP,
BC-then-PPO) on tiny budgets: each row on its data axis with the right counters, one shared
demonstration dataset per seed, and a cache that stays whole when jobs race for it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from cgfsim.cli import main
from cgfsim.lab import demos as lab_demos
from cgfsim.lab.spec import load_sweep, sweep_from_dict
from cgfsim.lab.store import JobStore
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.scenario import load_scenario

from .conftest import assert_bad_sweep_fails

torch.set_num_threads(1)
pytestmark = pytest.mark.xdist_group("lab-imitation")
SWEEP = Path(__file__).with_name("imitation_sweep.toml")


@pytest.fixture(scope="module")
def imitation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imitation") / "sweep"
    assert main(["lab", "run", str(SWEEP), "--out", str(out), "--quiet"]) == 0
    return out


def _records(folder: Path) -> dict[str, dict[str, Any]]:
    return {r["job"]["approach"]: r for r in JobStore(folder).records()}


def test_rows_are_on_each_approach_axis_with_its_counters(imitation_run: Path) -> None:
    recs = _records(imitation_run)
    assert set(recs) == {"bc-mlp", "bc-lstm", "dagger-mlp", "bc-ppo"}
    targets = json.loads((imitation_run / "targets.json").read_text())["scenarios"]["Duel"]
    assert targets["source"] == "calibration" and targets["best_doctrine"] == "advance"
    for name, rec in recs.items():
        assert rec["job"]["demonstrator"] == "advance"  # the best doctrine vs `retreat`
        rows = rec["rows"]
        axis = "total_steps" if name == "bc-ppo" else "demo_steps"
        assert {r["axis"] for r in rows} == {axis}
        assert [r["budget"] for r in rows] == ([256, 768] if name == "bc-ppo" else [256, 512])
        for r in rows:
            used = r["env_steps"] + r["demo_steps"] if axis == "total_steps" else r["demo_steps"]
            assert 0 < used <= r["budget"] and r["episodes"] == 40
        if name.startswith("bc-") and name != "bc-ppo":  # BC: demonstrations only
            assert all(r["env_steps"] == 0 for r in rows)
            assert all(r["record_env_steps"] == r["demo_steps"] for r in rows)
            assert rec["result"]["test_accuracy"] > 0
        if name == "dagger-mlp":  # expert labels in its own rollouts: exact budgets
            assert [r["snapshot_demo_steps"] for r in rows] == [256, 512]
            assert all(r["snapshot_env_steps"] >= r["snapshot_demo_steps"] for r in rows)
            assert all(r["record_env_steps"] == 0 for r in rows)
    ppo = recs["bc-ppo"]["rows"]
    assert ppo[0]["snapshot_env_steps"] == 0  # the clone is the first snapshot
    assert ppo[-1]["snapshot_env_steps"] > 0
    assert len({r["snapshot_demo_steps"] for r in ppo}) == 1
    assert ppo[0]["snapshot_demo_steps"] == ppo[0]["record_env_steps"] > 200


def test_one_dataset_per_seed_is_recorded_once_and_reused(imitation_run: Path) -> None:
    recs = _records(imitation_run)
    used = {a: r["result"]["demos"] for a, r in recs.items() if "demos" in r["result"]}
    assert set(used) == {"bc-mlp", "bc-lstm", "bc-ppo"}
    assert len({d["dataset_id"] for d in used.values()}) == 1
    assert sum(d["recorded"] for d in used.values()) == 1
    d = next(iter(used.values()))
    assert d["usable_steps"] >= 512 and d["recording_env_steps"] == d["transitions"]
    root = imitation_run / "demos"
    assert [p.name for p in (root / "lab").iterdir() if p.is_dir()] == [
        d["dataset_id"].split("/")[1]
    ]
    assert not [p for p in root.iterdir() if p.name.startswith(".cgfsim-tmp")]
    md = (imitation_run / "report.md").read_text()
    assert "## Demonstrations" in md and "BC-LSTM, BC-MLP, BC-then-PPO" in md
    # a rerun finds every job done and records nothing
    assert main(["lab", "run", str(SWEEP), "--out", str(imitation_run), "--quiet"]) == 0
    assert len(JobStore(imitation_run).records()) == 4


def test_a_dataset_of_ones_own_replaces_the_recording(imitation_run: Path, tmp_path: Path) -> None:
    (ds,) = [p for p in (imitation_run / "demos" / "lab").iterdir() if p.is_dir()]
    sweep = (
        SWEEP.read_text()
        .replace('["bc-mlp", "bc-lstm", "dagger-mlp", "bc-ppo"]', '["bc-mlp"]')
        .replace("epochs = 3", f'epochs = 3\ndataset = "{ds}"')
    )
    sweep = sweep[: sweep.index("[options.bc-lstm]")]
    f = tmp_path / "own.toml"
    f.write_text(sweep)
    out = tmp_path / "own"
    assert main(["lab", "run", str(f), "--out", str(out), "--quiet"]) == 0
    (rec,) = JobStore(out).records()
    assert rec["result"]["demos"]["given"] and rec["result"]["demos"]["path"] == str(ds)
    assert not (out / "demos").exists()  # nothing recorded
    other = f.read_text().replace('scenarios = ["duel"]', 'scenarios = ["skirmish"]')
    f.write_text(other)
    assert main(["lab", "run", str(f), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_the_demonstrator_is_part_of_a_demonstration_job_identity(tmp_path: Path) -> None:
    spec = load_sweep(SWEEP)
    a = {j["approach"]: j for j in spec.jobs(tmp_path, {"Duel": "advance"})}
    b = {j["approach"]: j for j in spec.jobs(tmp_path, {"Duel": "assault"})}
    assert all(a[k]["id"] != b[k]["id"] for k in a)
    c = {j["approach"]: j for j in spec.jobs(tmp_path / "elsewhere", {"Duel": "advance"})}
    assert all(a[k]["id"] == c[k]["id"] for k in a)  # the cache folder is not identity
    assert a["bc-mlp"]["demo_record_steps"] == a["bc-ppo"]["demo_record_steps"] == 512
    assert "demo_record_steps" not in a["dagger-mlp"]
    with pytest.raises(CgfsimError, match="no demonstrator"):
        spec.jobs(tmp_path)


def _demos(cache: Path, steps: int = 100) -> dict[str, Any]:
    return lab_demos.cached_demos(
        load_scenario("duel"), "assault", "retreat", "blue", 5, steps, cache
    )


def test_jobs_racing_for_a_dataset_share_one_whole_recording(tmp_path: Path) -> None:
    out: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: out.append(_demos(tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3 and len({d["dataset_id"] for d in out}) == 1
    assert sum(d["recorded"] for d in out) == 1  # the others waited and reused it
    assert out[0]["usable_steps"] >= 100
    assert len([p for p in (tmp_path / "lab").iterdir() if p.is_dir()]) == 1


def test_a_recording_that_loses_the_rename_adopts_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the lock (another machine sharing the folder), two recordings race: the
    second rename fails, and that job uses the first one's whole dataset."""
    import cgfsim.agents.demos as agent_demos

    real = agent_demos.record_demos

    def record_then_lose(*args: Any, **kw: Any) -> dict[str, Any]:
        real(*args, **kw)  # "the other process" finishes first ...
        raise OSError(39, "Directory not empty")  # ... and our rename finds its folder

    monkeypatch.setattr(agent_demos, "record_demos", record_then_lose)
    d = _demos(tmp_path)
    assert not d["recorded"] and d["usable_steps"] >= 100

    def broken(*args: Any, **kw: Any) -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(agent_demos, "record_demos", broken)
    with pytest.raises(CgfsimError, match="No space left"):
        _demos(tmp_path / "other")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("demo_steps = [256, 512], ", ""), "sweep.budgets.demo_steps: required"),
        (("[256, 512]", "[512, 256]"), "sweep.budgets.demo_steps: budgets must be strictly"),
        (("demo_steps = [256", "demos = [256"), "sweep.budgets.demos: not a data axis"),
        (("demo_steps = 256", "demo_steps = 300"), "must be at most the first budget (256)"),
        (("iterations = 2", "iterations = 300"), "must be >= its iterations (300)"),
        (("bc = { epochs = 2", "hidden = [4]\nbc = { epochs = 2"), "set it in the bc table"),
        (("epochs = 3", "epoch = 3"), "options.bc-mlp: unknown hyperparameters ['epoch']"),
        (('opponent = "retreat"', 'opponent = "retreat"\ndemonstrator = "x"'), "demonstrator"),
    ],
)
def test_bad_imitation_sweeps_fail_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], message: str
) -> None:
    assert_bad_sweep_fails(SWEEP, edit, message, tmp_path, capsys)


def test_targets_source_calibration_needs_one(tmp_path: Path) -> None:
    sweep = {
        "sweep": {
            "approaches": ["ga-mlp"],
            "scenarios": [str(Path(__file__).with_name("random_duel.toml"))],
            "seeds": [0],
            "budgets": [64],
        },
        "targets": {"source": "calibration"},
    }
    with pytest.raises(CgfsimError, match=r"targets\.source: 'calibration' for RandomDuel"):
        sweep_from_dict(sweep)
