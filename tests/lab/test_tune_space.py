"""Search spaces: the planned grid (tfruns' sample), layer-wise names, and bad input that
stops before any folder or trial exists."""

from __future__ import annotations

import itertools
import math
import tomllib
from pathlib import Path

import pytest

from cgfsim.cli import main
from cgfsim.lab.tune import check_study, resolve_storage
from cgfsim.lab.tune_report import toml_text
from cgfsim.lab.tune_space import space_from_text, to_hparams
from cgfsim.sim.errors import CgfsimError

BASE = """
[study]
strategy = "grid"
sample = 0.7
seed = 3

[task]
learner = "bc"
record = { scenario = "duel", demonstrator = "assault", opponent = "retreat", episodes = 20 }

[params]
nodes1 = [8, 16, 32]
optimizer = ["adam", "rmsprop", "sgd"]
"""


def test_grid_sample_draws_distinct_combinations_up_front() -> None:
    space = space_from_text(BASE, "grid.toml")
    assert space.combinations == 9
    assert space.trials == round(0.7 * 9) == 6
    plan = space.plan()
    keys = [(p["nodes1"], p["optimizer"]) for p in plan]
    assert len(set(keys)) == 6  # without replacement
    assert set(keys) <= set(itertools.product([8, 16, 32], ["adam", "rmsprop", "sgd"]))
    assert space.plan() == plan  # a pure function of the space: resumes run the same plan
    other = space_from_text(BASE.replace("seed = 3", "seed = 4"), "grid.toml").plan()
    assert other != plan
    full = space_from_text(BASE.replace("sample = 0.7", "sample = 1"), "g.toml").plan()
    assert len({(p["nodes1"], p["optimizer"]) for p in full}) == 9


def test_the_talks_648_grid() -> None:
    text = Path(__file__).parents[2] / "experiments" / "tune" / "bc648.toml"
    space = space_from_text(text.read_text(), str(text))
    assert space.combinations == 3 * 3 * 3 * 3 * 2 * 4 == 648
    assert space.trials == round(0.7 * 648)
    assert len({tuple(sorted(p.items())) for p in space.plan()}) == space.trials
    hp = space.hparams(space.plan()[0])
    assert len(hp["hidden"]) == 2 and len(hp["dropout"]) == 2


def test_random_and_ranges() -> None:
    text = BASE.replace('strategy = "grid"\nsample = 0.7', 'strategy = "random"\ntrials = 25')
    text += 'lr = { type = "float", low = 1e-4, high = 1e-2, log = true }\n'
    text += 'patience = { type = "int", low = 2, high = 6, step = 2 }\n'
    plan = space_from_text(text, "r.toml").plan()
    assert len(plan) == 25
    assert all(1e-4 <= p["lr"] <= 1e-2 and p["patience"] in (2, 4, 6) for p in plan)
    logs = [math.log10(p["lr"]) for p in plan]
    assert min(logs) < -3.3 and max(logs) > -2.7  # log-uniform, not bunched at the top


def test_layer_names_become_lists() -> None:
    hp = to_hparams({"nodes1": 64, "nodes2": 32, "dropout1": 0.2, "dropout2": 0.4, "lr": 0.1})
    assert hp == {"hidden": [64, 32], "dropout": [0.2, 0.4], "lr": 0.1}
    assert to_hparams({"hidden": "64x32"}) == {"hidden": [64, 32]}
    assert to_hparams({"hidden": "linear"}) == {"hidden": []}
    with pytest.raises(CgfsimError, match="without gaps"):
        to_hparams({"nodes1": 8, "nodes3": 8})


def test_best_config_toml_round_trips() -> None:
    tables = {
        "train": {"algo": "bc", "dataset": 'a "b" c', "seed": 0, "x": None},
        "hparams": {"hidden": [64, 32], "dropout": [0.2, 0.3], "lr": 1e-3, "ln": True},
    }
    back = tomllib.loads(toml_text(tables, "header\nline two"))
    assert back == {
        "train": {"algo": "bc", "dataset": 'a "b" c', "seed": 0},
        "hparams": tables["hparams"],
    }


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("nodes1 = [8, 16, 32]", "nodes1 = []"), "params.nodes1: empty choice list"),
        (("nodes1 = [8, 16, 32]", "nodes1 = [8]\nlearning_rat = [0.1]"), "learning_rat"),
        (("nodes1 = [8, 16, 32]", "nodes2 = [8]"), "nodes1..nodesN"),
        (("sample = 0.7", "sample = 0"), r"study.sample: expected a fraction in \(0, 1\]"),
        (("sample = 0.7", "sample = 1.5"), r"study.sample: expected a fraction in \(0, 1\]"),
        (("sample = 0.7", "sample = -0.2"), "study.sample"),
        (("sample = 0.7", 'sample = "most"'), "study.sample"),
        (
            ("optimizer = [", 'lr = { type = "float", low = 0.1, high = 0.01 }\noptimizer = ['),
            "above high",
        ),
        (
            ("optimizer = [", 'lr = { type = "float", low = 1e-4, high = 1e-2 }\noptimizer = ['),
            "a grid needs finite values",
        ),
        (('strategy = "grid"', 'strategy = "bayes"'), "study.strategy"),
        (("[params]", "[params]\n[extra]"), "extra: unknown section"),
        (("episodes = 20 }", "episodes = 20, demonstrtor = 'x' }"), "task.record.demonstrtor"),
    ],
)
def test_bad_spaces_name_the_field(edit: tuple[str, str], needle: str) -> None:
    with pytest.raises(CgfsimError, match=needle):
        space_from_text(BASE.replace(*edit), "bad.toml")


def test_bad_input_stops_before_any_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "space.toml"
    good.write_text(BASE)
    out = tmp_path / "study"
    bad = tmp_path / "bad.toml"
    cases = [
        (BASE.replace("nodes1 = [8, 16, 32]", "nodes1 = []"), [], "empty choice list"),
        (BASE.replace("sample = 0.7", "sample = 2"), [], "study.sample"),
        (BASE.replace("optimizer", "optimiser"), [], "unknown hyperparameters"),
        (BASE, ["--storage", "sqlite:////nonexistent-cgfsim-dir/x.db"], "cannot open the study"),
        (BASE, ["--storage", "postgresql://nobody@127.0.0.1:9/none"], "cannot open the study"),
        (BASE, ["--storage", "journal:/nonexistent-cgfsim-dir/j.log"], "cannot open the study"),
        (BASE, ["--storage", "mystery"], "expected sqlite, journal"),
        (BASE.replace('demonstrator = "assault"', 'demonstrator = "nobody"'), [], "nobody"),
        (BASE, ["--executor", "ray", "--address", "127.0.0.1:9"], "no Ray cluster"),
    ]
    for text, flags, needle in cases:
        bad.write_text(text)
        code = main(["tune", str(bad), "--out", str(out), "--quiet", *flags])
        err = capsys.readouterr().err.strip()
        assert code == 2, (needle, err)
        assert needle in err and len(err.splitlines()) == 1, err
        assert not out.exists()


def test_a_study_folder_keeps_its_space(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "tune.json").write_text(
        '{"space": {"sha256": "0"}, "storage": "sqlite:///x", "task_resolved": {}}'
    )
    space = tmp_path / "space.toml"
    space.write_text(BASE)
    with pytest.raises(CgfsimError, match="another search space"):
        check_study(space, folder, None, 1)
    (folder / "tune.json").unlink()
    (folder / "junk").write_text("x")
    with pytest.raises(CgfsimError, match="holds no study"):
        check_study(space, folder, None, 1)
    assert resolve_storage(None, folder, 1).endswith("study.db")
    assert resolve_storage(None, folder, 2).startswith("journal:")


@pytest.mark.parametrize(
    ("train", "needle"),
    [
        ('algo = "bc"\nsteps = 0', "train.steps: expected an integer >= 1"),
        ('algo = "ppo"\nseed = -1', "train.seed: expected a seed"),
        ('algo = "ppo"\nthreads = "4"', "train.threads: expected an integer"),
        ('algo = "ppo"\nside = "green"', "train.side: expected blue or red"),
        ('algo = "ppo"\nlearning = 1', "train.learning: unknown key"),
    ],
)
def test_a_config_files_values_pass_the_flags_checks(
    train: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "best.toml"
    cfg.write_text(f"[train]\n{train}\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert not out.exists()
