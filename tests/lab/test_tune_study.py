"""Studies end to end on real behaviour cloning (a tiny Duel dataset, a few epochs per trial):
the sampled grid, SIGKILL and resume, pruning, the best config back into training, TPE on
parallel workers, and an RL study."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import optuna
import pytest

from cgfsim.agents.demos import record_demos
from cgfsim.agents.supervised import resolve_hparams
from cgfsim.cli import main
from cgfsim.lab.tune import run_study
from cgfsim.lab.tune_space import space_from_text

pytestmark = pytest.mark.xdist_group("tune")

ROOT = Path(__file__).parents[2]
CGFSIM = Path(sys.executable).with_name("cgfsim")

SPACE = """
[study]
name = "{name}"
strategy = "grid"
sample = 0.7
seed = 1

[task]
learner = "bc"
dataset = "{dataset}"
test_episodes = 40

[fixed]
epochs = {epochs}
patience = 10
batch_size = 64

[params]
nodes1 = [4, 8, 16]
optimizer = ["adam", "rmsprop", "sgd"]
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("minari")
    info = record_demos(
        "duel",
        "assault",
        "retreat",
        episodes=30,
        dataset_id="cgfsim/tune-v0",
        root=root,
        progress=False,
    )
    return str(info["path"])


def _write(tmp: Path, name: str, dataset: str, epochs: int = 3, text: str = SPACE) -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(text.format(name=name, dataset=dataset, epochs=epochs))
    return p


def _finished(folder: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(states=done)


def _param_set(trials: list[Any]) -> list[tuple[Any, ...]]:
    return sorted(tuple(sorted(t.params.items())) for t in trials)


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory: pytest.TempPathFactory, dataset: str) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("grid")
    space = _write(tmp, "grid", dataset, epochs=4)
    out = tmp / "study"
    run_study(space, out, quiet=True)
    return space, out


def test_a_3x3_grid_at_0_7_runs_6_distinct_trials(grid_run: tuple[Path, Path]) -> None:
    space_file, out = grid_run
    space = space_from_text(space_file.read_text(), str(space_file))
    trials = _finished(out, "grid")
    assert len(trials) == round(0.7 * 9) == 6
    assert len(set(_param_set(trials))) == 6
    assert _param_set(trials) == sorted(tuple(sorted(p.items())) for p in space.plan())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] == 6 and summary["distinct"] == 6
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("trial,state,param_nodes1")
    for png in ("history", "importances", "parallel"):
        assert (out / "plots" / f"{png}.png").stat().st_size > 1000
    best = json.loads((out / "best.json").read_text())
    assert best["trial"] == min(trials, key=lambda t: t.value).number
    assert {"test_loss", "test_accuracy", "test_win_rate"} <= set(best["test"])
    # never selected on test: only the chosen trial has test figures
    with open(out / "trials.csv") as f:
        tested = [r for r in csv.DictReader(f) if r.get("test_accuracy")]
    assert [int(r["trial"]) for r in tested] == [best["trial"]]
    assert "test_accuracy" in (out / "trials.md").read_text().splitlines()[0]


def test_best_config_round_trips_into_training(
    grid_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = grid_run
    best = json.loads((out / "best.json").read_text())
    cfg = tomllib.loads((out / "best.toml").read_text())
    assert cfg["train"]["algo"] == "bc" and cfg["hparams"]["hidden"] == [best["params"]["nodes1"]]
    run = tmp_path / "train"
    assert main(["train", "--config", str(out / "best.toml"), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    config = json.loads((run / "config.json").read_text())
    assert config["hparams"] == resolve_hparams(cfg["hparams"], "mlp")
    assert config["seed"] == cfg["train"]["seed"] and config["algo"] == "bc"
    result = json.loads((run / "result.json").read_text())
    # the same training on the same data: the same model, the same test figures
    assert result["test_accuracy"] == pytest.approx(best["test"]["test_accuracy"], abs=1e-12)
    assert result["val_loss"] == pytest.approx(best["val_loss"], abs=1e-12)
    assert result["win_rate"] == pytest.approx(best["test"]["test_win_rate"], abs=1e-12)


def test_a_killed_study_resumes_to_the_same_trials(
    grid_run: tuple[Path, Path], dataset: str, tmp_path: Path
) -> None:
    _, reference = grid_run
    # the same space with longer trials, so a loaded machine still catches it mid-study
    space_file = _write(tmp_path, "grid", dataset, epochs=30)
    out = tmp_path / "study"
    env = {**os.environ, "SB3_LOGDIR": str(ROOT / "runs" / ".sb3")}
    cmd = [str(CGFSIM), "tune", str(space_file), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        done: list[Any] = []
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if (out / "tune.json").exists():  # written once the study and its tables exist
                try:
                    done = _finished(out, "grid")
                except Exception:  # the study is being created
                    continue
                if len(done) >= 2:
                    break
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"the study ended before it could be killed: {err}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed = _finished(out, "grid")
    assert 2 <= len(killed) < 6
    run_study(space_file, out, quiet=True)  # the same command again: resume
    after = _finished(out, "grid")
    assert _param_set(after) == _param_set(_finished(reference, "grid"))
    assert len(after) == 6  # nothing finished twice, nothing lost
    assert {t.number for t in killed} <= {t.number for t in after}
    doc = json.loads((out / "tune.json").read_text())
    assert len(doc["runs"]) == 2 and doc["runs"][0]["wall_s"] is None  # the killed run


PRUNE = """
[study]
name = "prune"
strategy = "grid"
seed = {seed}
pruner = "median"
pruner_startup = 2
pruner_warmup = 0

[task]
learner = "bc"
dataset = "{dataset}"
test_episodes = 0

[fixed]
epochs = 5
patience = 10
batch_size = 32
hidden = [16]

[params]
lr = [0.01, 0.005, 1e-7]
"""


def test_pruning_stops_a_clearly_worse_curve(dataset: str, tmp_path: Path) -> None:
    # a seed whose (shuffled) plan runs the hopeless learning rate last
    seed = next(
        s
        for s in range(100)
        if space_from_text(PRUNE.format(seed=s, dataset=dataset)).plan()[-1]["lr"] == 1e-7
    )
    space = tmp_path / "prune.toml"
    space.write_text(PRUNE.format(seed=seed, dataset=dataset))
    run_study(space, tmp_path / "study", quiet=True)
    trials = {t.params["lr"]: t for t in _finished(tmp_path / "study", "prune")}
    bad = trials[1e-7]
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert len(bad.intermediate_values) < 5
    for lr in (0.01, 0.005):
        assert trials[lr].state == optuna.trial.TrialState.COMPLETE
        assert len(trials[lr].intermediate_values) == 5


TPE = """
[study]
name = "tpe"
strategy = "tpe"
trials = 4
seed = 0

[task]
learner = "bc"
dataset = "{dataset}"
test_episodes = 0

[fixed]
epochs = 2
batch_size = 64

[params]
nodes1 = {{ type = "int", low = 4, high = 32, log = true }}
lr = {{ type = "float", low = 1e-4, high = 1e-2, log = true }}
"""


def test_tpe_on_two_local_processes(dataset: str, tmp_path: Path) -> None:
    space = tmp_path / "tpe.toml"
    space.write_text(TPE.format(dataset=dataset))
    out = tmp_path / "study"
    s = run_study(space, out, executor="process", workers=2, quiet=True)
    assert s["errors"] == []
    doc = json.loads((out / "tune.json").read_text())
    assert doc["storage"].startswith("journal:")  # several local processes: the journal file
    study = optuna.load_study(
        study_name="tpe",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(out / "study.journal"))
        ),
    )
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 4 <= len(done) <= 5  # two workers may both start the last trial
    assert {t.user_attrs["worker"] for t in done} == {0, 1}
    assert (out / "best.toml").is_file()


RL = """
[study]
name = "rl"
strategy = "grid"
seed = 0

[task]
learner = "ppo"
scenario = "duel"
opponent = "random"
steps = 2048
reports = 2
val_episodes = 16
test_episodes = 16

[fixed]
n_envs = 16
n_steps = 16
batch_size = 128
n_epochs = 1
hidden = "16x16"

[params]
learning_rate = [1e-3, 3e-4]
"""


def test_an_rl_study_reports_validation_win_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "rl.toml"
    space.write_text(RL)
    out = tmp_path / "study"
    run_study(space, out, quiet=True)
    trials = _finished(out, "rl")
    assert len(trials) == 2
    for t in trials:
        assert sorted(t.intermediate_values) == [1, 2]  # two reports, the last at 2048 steps
        assert t.value == t.intermediate_values[2] == t.user_attrs["val_win_rate"]
        assert t.user_attrs["env_steps"] >= 2048
    cfg = tomllib.loads((out / "best.toml").read_text())
    assert cfg["train"]["algo"] == "ppo" and cfg["train"]["steps"] == 2048
    assert cfg["hparams"]["hidden"] == [16, 16]
    run = tmp_path / "train"
    flags = ["--out", str(run), "--quiet", "--eval-episodes", "0", "--test-episodes", "0"]
    assert main(["train", "--config", str(out / "best.toml"), *flags]) == 0
    capsys.readouterr()
    config = json.loads((run / "config.json").read_text())
    assert config["hparams"]["learning_rate"] == cfg["hparams"]["learning_rate"]
    assert config["steps"] == 2048 and config["hparams"]["n_envs"] == 16


def test_a_trial_orphaned_before_it_names_its_owner_is_queued_again() -> None:
    """A worker killed between taking a trial and recording its host and pid leaves an
    ownerless RUNNING trial: stale once every worker that could hold it is a dead local
    process, left alone while one may be alive."""
    import platform

    from cgfsim.lab.tune import fail_stale

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="orphan", storage=storage)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    worker = {"host": platform.node(), "pid": dead.pid, "started": time.time() - 5}
    study.set_user_attr(f"worker:{platform.node()}:{dead.pid}", worker)
    study.enqueue_trial({"x": 1})
    study.ask()  # RUNNING, no owner recorded
    alive = {"host": platform.node(), "pid": os.getpid(), "started": time.time() - 5}
    study.set_user_attr(f"worker:{platform.node()}:{os.getpid()}", alive)
    assert fail_stale(study, storage) == []  # this live process might hold it
    study.set_user_attr(f"worker:{platform.node()}:{os.getpid()}", {**alive, "pid": dead.pid})
    assert fail_stale(study, storage) == [0]
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
