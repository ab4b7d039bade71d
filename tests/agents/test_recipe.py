"""The recipe: budget-independent schedules and one network layout for RL and GA."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from cgfsim.agents import ga, rl
from cgfsim.agents.checkpoints import load_checkpoint
from cgfsim.agents.recipe import StepSchedule, load_defaults, network_layout, parse_schedule
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)


def test_step_schedules() -> None:
    s = parse_schedule("learning_rate", {"start": 1e-3, "end": 1e-4, "horizon": 1000})
    assert isinstance(s, StepSchedule)
    assert s.at(0) == 1e-3 and s.at(500) == pytest.approx(5.5e-4)
    assert s.at(1000) == s.at(10**9) == pytest.approx(1e-4)  # then constant, whatever the budget
    e = parse_schedule("ent_coef", {"start": 0.1, "end": 0.001, "horizon": 100, "shape": "exp"})
    assert isinstance(e, StepSchedule) and e.at(50) == pytest.approx(0.01)
    assert parse_schedule("clip_range", 0.2) == 0.2
    for bad, match in (
        ("lin_3e-4", "budget-independent"),
        ({"start": 1.0, "end": 0.1}, "missing"),
        ({"start": 1.0, "end": 0.1, "horizon": 0}, "horizon must be >= 1"),
        ({"start": 1.0, "end": 0.0, "horizon": 9, "shape": "exp"}, "positive"),
        ({"start": 1.0, "end": 0.1, "horizon": 9, "shape": "cosine"}, "shape must be"),
        (True, "expected a number"),
    ):
        with pytest.raises(CgfsimError, match=match):
            parse_schedule("learning_rate", bad)


def test_no_default_schedule_depends_on_the_budget() -> None:
    d = load_defaults()
    sections = [d[k] for k in ("ppo", "a2c", "maskable_ppo", "recurrent_ppo")]
    sections += [p for sc in d["scenario"].values() for p in sc.values()]
    for part in sections:
        for key, value in part.items():
            if key in ("learning_rate", "clip_range", "ent_coef"):
                parse_schedule(key, value)  # a number or a {start, end, horizon} table


def test_one_network_layout_for_rl_and_ga() -> None:
    """Every learner builds the same layout on a scenario, and it is stated in one place."""
    d = load_defaults()
    assert not any("hidden" in d[k] for k in ("common", "ppo", "recurrent_ppo", "ga"))
    for scenario in ("Duel", "Skirmish"):
        layout = network_layout(scenario)
        g = ga.resolve_hparams(None, scenario)
        for algo in rl.ALGOS:
            r = rl.resolve_hparams(algo, scenario)
            for key in ("hidden", "activation", "lstm_hidden"):
                assert r[key] == g[key] == layout[key], (scenario, algo, key)
    assert network_layout("Duel")["hidden"] != network_layout("Skirmish")["hidden"]


def test_rl_and_ga_checkpoints_have_the_same_network(tmp_path: Path) -> None:
    kw = {"steps": 256, "eval_episodes": 2, "progress": False, "tensorboard": False}
    r = rl.train_rl(
        "ppo",
        "duel",
        "random",
        out_dir=tmp_path / "rl",
        hparams={"n_envs": 8, "n_steps": 16, "batch_size": 64},
        **kw,
    )
    g = ga.train_ga(
        "duel", "random", out_dir=tmp_path / "ga", hparams={"pop": 4, "episodes_per_ind": 1}, **kw
    )
    rp, rs, _ = load_checkpoint(r["final_dir"])
    gp, gs, _ = load_checkpoint(g["final_dir"])
    shapes = {k: tuple(v.shape) for k, v in rp.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in gp.state_dict().items()}
    assert rs.hidden == gs.hidden == tuple(network_layout("Duel")["hidden"])


def test_a_short_run_equals_the_start_of_a_long_one(tmp_path: Path) -> None:
    """Schedules follow env steps: at 256 steps, a 256-step and a 512-step run are identical."""
    sched = {"start": 3e-3, "end": 1e-4, "horizon": 384}
    hp = {
        "n_envs": 8,
        "n_steps": 16,
        "batch_size": 64,
        "n_epochs": 2,
        "hidden": [16],
        "learning_rate": sched,
        "ent_coef": {"start": 0.05, "end": 0.0, "horizon": 384},
        "clip_range": {"start": 0.3, "end": 0.1, "horizon": 384},
    }
    kw = {"seed": 4, "hparams": hp, "eval_episodes": 0, "progress": False}
    short = rl.train_rl("ppo", "duel", "random", steps=256, out_dir=tmp_path / "s", **kw)
    long = rl.train_rl(
        "ppo", "duel", "random", steps=512, out_dir=tmp_path / "l", save_at=[256], **kw
    )
    a = load_checkpoint(short["final_dir"])[0].state_dict()
    b = load_checkpoint(Path(long["run_dir"]) / "at-256")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with open(Path(long["run_dir"]) / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    lrs = [float(r["train/learning_rate"]) for r in rows if r.get("train/learning_rate")]
    ents = [float(r["schedule/ent_coef"]) for r in rows if r.get("schedule/ent_coef")]
    s = StepSchedule(3e-3, 1e-4, 384)
    # one update per 128-step rollout (SB3 writes a row before each update, so the last is
    # not in the file)
    assert lrs == pytest.approx([s.at(128 * k) for k in range(1, 4)])
    assert ents[-1] == 0.0 and ents[0] > ents[1] > 0
