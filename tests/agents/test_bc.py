"""Behaviour cloning, DAgger and BC-then-RL on real scenarios (learning tests are ``slow``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.agents.bc import train_bc
from cgfsim.agents.checkpoints import load_checkpoint, save_checkpoint
from cgfsim.agents.dagger import train_dagger
from cgfsim.agents.demos import Demo, record_demos
from cgfsim.agents.export import export_sb3, load_into_sb3
from cgfsim.agents.networks import PolicySpec, build_policy
from cgfsim.agents.runs import DataAccount
from cgfsim.cli import main
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)

#: Dead-end pockets open towards the start: a clone that drifts into one has never seen
#: the expert back out of it (the expert never goes in). The classic compounding error.
TRAPS = Path(__file__).resolve().parents[2] / "experiments" / "traps.toml"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(r))
    return r


@pytest.mark.slow
def test_bc_clones_a_doctrine(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_demos(
        "duel", "assault", "random", episodes=500, dataset_id="cgfsim/bc-v0", progress=False
    )
    out = tmp_path / "run"
    hp = {"epochs": 40, "patience": 5, "lr": 3e-3, "batch_size": 128, "hidden": [128, 128]}
    r = train_bc("cgfsim/bc-v0", out_dir=out, hparams=hp, eval_episodes=400, progress=False)
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Epoch ")]
    assert len(lines) == r["epochs_run"] and lines[0].startswith("Epoch 1/40 - ")
    # imitation and behaviour, side by side with the demonstrator on the same held-out worlds
    assert r["test_accuracy"] >= 0.95
    assert r["win_rate"] >= r["demonstrator_test_win_rate"] - 0.03
    assert r["demonstrator_test_win_rate"] >= 0.95 and r["demonstrator_win_rate"] >= 0.95
    assert r["env_steps"] == 0 and r["demo_steps"] == r["train_steps"] + r["val_steps"] > 0
    assert r["recording_env_steps"] == r["demo_steps"] and r["approach"] == "bc-mlp"
    for f in (
        "config.json",
        "history.csv",
        "history.json",
        "history.png",
        "curve.csv",
        "result.json",
    ):
        assert (out / f).is_file(), f
    assert any((out / "tb").iterdir())
    hist = json.loads((out / "history.json").read_text())
    assert hist["best_epoch"] == r["best_epoch"] and len(hist["history"]) == r["epochs_run"]
    _, _, meta = load_checkpoint(r["policy_dir"])
    assert meta["demo_steps"] == r["demo_steps"] and meta["algo"] == "bc"
    # the checkpoint is the one `cgfsim evaluate` plays: same worlds, same number
    from cgfsim.agents.evaluation import evaluate

    ev = evaluate(r["policy_dir"], "duel", "random", 400, seed=r["eval_seed"])
    assert ev.win_rate == r["win_rate"]


@pytest.mark.slow
def test_dagger_beats_bc_at_the_same_label_budget(root: Path, tmp_path: Path) -> None:
    scenario = TRAPS
    budget = 150
    # Fixed-length training (no early stopping, the last epoch's weights) for both
    # learners: DAgger's first rounds hold a few dozen labels, too few to pick an epoch.
    hp = {
        "epochs": 150,
        "patience": 150,
        "restore_best": False,
        "lr": 0.01,
        "batch_size": 32,
        "hidden": [64, 64],
    }
    bcs, dgs = [], []
    for seed in (0, 1):  # two seeds: the effect, not one lucky draw (10 seeds: see README)
        did = f"cgfsim/traps-s{seed}-v0"
        record_demos(
            scenario,
            "advance",
            "hold",
            episodes=60,
            seed=seed,
            dataset_id=did,
            fractions=(0.5, 0.25, 0.25),
            progress=False,
        )
        bc = train_bc(
            did,
            seed=seed,
            out_dir=tmp_path / f"bc{seed}",
            hparams=hp,
            max_demo_steps=budget,
            eval_episodes=100,
            progress=False,
            verbose=False,
            tensorboard=False,
        )
        dg = train_dagger(
            scenario,
            "advance",
            "hold",
            labels=budget,
            seed=seed,
            out_dir=tmp_path / f"dg{seed}",
            hparams={**hp, "iterations": 4, "oversample": 4.0},
            eval_episodes=100,
            progress=False,
            verbose=False,
            tensorboard=False,
        )
        assert bc["demo_steps"] <= budget and dg["demo_steps"] == budget
        assert bc["env_steps"] == 0
        assert [r["beta"] for r in dg["iterations"]] == [1.0, 0.5, 0.25, 0.125]
        assert [r["demo_steps"] for r in dg["iterations"]] == [38, 76, 113, 150]
        # the learner's rounds visited four ticks per label and labelled a sample of them
        assert dg["env_steps"] >= 38 + 4 * (150 - 38)
        # BC imitates the expert well on the expert's own states ...
        assert bc["test_accuracy"] > 0.9 and bc["demonstrator_test_win_rate"] == 1.0
        bcs.append(bc["win_rate"])
        dgs.append(dg["win_rate"])
    # ... yet drifts into pockets it never saw the expert leave; DAgger, labelling the
    # states its own policy visits, learns to leave them. Over seeds 0-9 DAgger won by
    # 0.10 to 0.41 (mean 0.95 vs 0.70); seeds 0 and 1 by 0.32 and 0.23.
    assert all(d >= b + 0.1 for d, b in zip(dgs, bcs, strict=True)), (bcs, dgs)
    assert np.mean(bcs) < 0.8 and np.mean(dgs) >= np.mean(bcs) + 0.2, (bcs, dgs)


def test_bc_budgets_train_nested_prefixes(root: Path, tmp_path: Path) -> None:
    record_demos("duel", episodes=40, dataset_id="cgfsim/budget-v0", progress=False)
    hp = {"epochs": 2, "hidden": [8]}
    offers: list[tuple[int, int, Any]] = []

    def hook(account: DataAccount, make_policy: Callable[[], Any]) -> None:
        offers.append((account.demo_steps, account.env_steps, make_policy()))

    r = train_bc(
        "cgfsim/budget-v0",
        out_dir=tmp_path / "b",
        hparams=hp,
        eval_at=[300, 100],
        eval_episodes=10,
        progress=False,
        verbose=False,
        tensorboard=False,
        budget_hook=hook,
    )
    steps = [row["demo_steps"] for row in r["curve"]]
    assert len(steps) == 2 and steps[0] <= 100 < steps[1] == r["demo_steps"] <= 300
    assert [(d, e) for d, e, _ in offers] == [(steps[0], 0), (steps[1], 0)]
    assert not offers[-1][2].training
    assert (tmp_path / "b" / "demo-100" / "best" / "policy.pt").is_file()
    assert (tmp_path / "b" / "best" / "policy.pt").is_file()
    with pytest.raises(CgfsimError, match="unknown player"):
        train_bc(
            "cgfsim/budget-v0",
            opponent="nobody",
            eval_episodes=5,
            out_dir=tmp_path / "x",
            progress=False,
            verbose=False,
        )
    assert not (tmp_path / "x").exists()


def test_dagger_offers_every_iteration(tmp_path: Path) -> None:
    offers: list[DataAccount] = []
    r = train_dagger(
        "duel",
        labels=60,
        out_dir=tmp_path / "d",
        eval_episodes=0,
        hparams={"iterations": 2, "epochs": 2, "hidden": [8]},
        progress=False,
        verbose=False,
        tensorboard=False,
        budget_hook=lambda account, make: offers.append(account),
    )
    assert [a.demo_steps for a in offers] == [30, 60] and r["demo_steps"] == 60
    assert 30 <= offers[0].env_steps < offers[1].env_steps == r["env_steps"]
    assert r["win_rate"] is None and r["curve"] == []


@pytest.mark.parametrize("policy", ["mlp", "lstm"])
def test_dagger_oversample_labels_a_sample_of_the_visited_ticks(
    tmp_path: Path, policy: str
) -> None:
    hp = {"iterations": 2, "epochs": 2, "hidden": [8], "lstm_hidden": 8, "oversample": 3.0}
    r = train_dagger(
        "duel",
        policy=policy,
        labels=60,
        out_dir=tmp_path / "d",
        eval_episodes=0,
        hparams=hp,
        progress=False,
        verbose=False,
        tensorboard=False,
    )
    first, second = r["iterations"]
    assert (first["labels"], second["labels"], r["demo_steps"]) == (30, 30, 60)
    # the expert-only first round labels what it visits; the second visits 3 ticks per label
    assert second["env_steps"] - first["env_steps"] >= 90
    with pytest.raises(CgfsimError, match="oversample"):
        train_dagger("duel", labels=60, hparams={"oversample": 0.5}, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_to_demo_keeps_sampled_ticks_as_rows_or_as_decisions_in_the_sequence() -> None:
    from cgfsim.agents import demo_collect as DC
    from cgfsim.agents import supervised as S
    from cgfsim.agents.dagger import to_demo

    T, U, A = 5, 2, 7
    rng = np.random.default_rng(0)
    ep = DC.Episode(
        key=1,
        index=0,
        obs=rng.random((T + 1, 3), dtype=np.float32),
        actions=np.ones((T, U), np.int64),
        labels=np.ones((T, U), np.int64),
        rewards=np.zeros(T, np.float32),
        terminated=np.zeros(T, bool),
        truncated=np.zeros(T, bool),
        masks=np.ones((T + 1, U * A), bool),
        outcome=0,
    )
    ticks = np.array([1, 3])
    rows = to_demo(ep, U, A, ticks)
    assert len(rows.obs) == 2 and np.array_equal(rows.obs, ep.obs[ticks])
    seq = to_demo(ep, U, A, ticks, keep_sequence=True)
    assert len(seq.obs) == T and (seq.labels[[0, 2, 4]] == S.STAY).all()
    assert (seq.masks[[0, 2, 4]].sum(-1) == 1).all() and seq.masks[[1, 3]].all()
    assert (seq.labels[ticks] == 1).all() and (ep.labels == 1).all()  # ep is untouched


def test_fit_keeps_the_last_epoch_without_restore_best() -> None:
    from cgfsim.agents import supervised as S
    from cgfsim.envs.batched import BatchedCommanderEnv

    env = BatchedCommanderEnv("duel", 1)
    U, A = env.n_own, env.n_actions
    rng = np.random.default_rng(0)
    train, val = (
        Demo(
            rng.random((40, *env.observation_space.shape), dtype=np.float32),
            rng.integers(1, 5, (40, U)),
            np.ones((40, U, A), bool),
        )
        for _ in range(2)
    )
    for restore in (True, False):
        hp = S.resolve_hparams({"epochs": 8, "patience": 8, "restore_best": restore})
        spec = S.policy_spec("vector", env.observation_space.shape, U, A, "mlp", hp)
        net = build_policy(spec, seed=0)
        res = S.fit(net, [train], [val], hp)
        held = net.state_dict()
        at_last = all(torch.equal(held[k], v) for k, v in res.final_state.items())
        losses = [r["val_loss"] for r in res.history]
        if restore:
            assert res.best_epoch == 1 + int(np.argmin(losses))
            assert at_last == (res.best_epoch == len(losses))
        else:
            assert at_last and res.best_epoch == len(losses) == 8
    with pytest.raises(CgfsimError, match="restore_best"):
        S.resolve_hparams({"restore_best": "no"})


def _bc_checkpoint(tmp_path: Path, core: str, layer_norm: bool = False) -> Path:
    from cgfsim.envs.batched import BatchedCommanderEnv

    env = BatchedCommanderEnv("duel", 1)
    spec = PolicySpec.from_spaces(
        env.observation_space,
        env.action_space,
        "vector",
        core=core,
        hidden=(32, 16),
        lstm_hidden=8,
        layer_norm=layer_norm,
    )
    meta = {"algo": "bc", "demo_steps": 1234, "recording_env_steps": 1234}
    return save_checkpoint(
        tmp_path / f"bc-{core}-{layer_norm}", build_policy(spec, seed=3), spec, meta
    )


@pytest.mark.parametrize(
    ("algo", "core"), [("ppo", "mlp"), ("maskable_ppo", "mlp"), ("recurrent_ppo", "lstm")]
)
def test_init_from_copies_the_actor(tmp_path: Path, algo: str, core: str) -> None:
    from cgfsim.agents.rl import algo_class, sb3_policy_kwargs
    from cgfsim.envs.sb3 import CgfsimVecEnv

    ck = _bc_checkpoint(tmp_path, core)
    pol, spec, _ = load_checkpoint(ck)
    env = CgfsimVecEnv("duel", 4)
    kw = sb3_policy_kwargs(algo, "vector", {"hidden": [32, 16], "lstm_hidden": 8})
    policy = "MlpLstmPolicy" if algo == "recurrent_ppo" else "MlpPolicy"
    model = algo_class(algo)(policy, env, policy_kwargs=kw, n_steps=8, seed=0)
    load_into_sb3(model, pol)
    back, _ = export_sb3(model)
    obs = torch.rand(5, *spec.obs_shape)
    with torch.no_grad():
        torch.testing.assert_close(back(obs)[0], pol(obs)[0])


def test_init_from_runs_and_counts_demonstrations(tmp_path: Path) -> None:
    from cgfsim.agents.rl import train_rl

    ck = _bc_checkpoint(tmp_path, "mlp")
    hp = {"n_envs": 8, "n_steps": 16, "batch_size": 64}
    r = train_rl(
        "ppo",
        "duel",
        steps=256,
        out_dir=tmp_path / "ppo",
        hparams=hp,
        eval_episodes=10,
        progress=False,
        init_from=ck,
    )
    assert r["demo_steps"] == 1234 and r["env_steps"] >= 256
    assert r["init_from"] == str(ck) and r["recording_env_steps"] == 1234
    rows = [json.loads(x) for x in (tmp_path / "ppo" / "curve.jsonl").read_text().splitlines()]
    assert rows and all(x["demo_steps"] == 1234 for x in rows)
    cfg = json.loads((tmp_path / "ppo" / "config.json").read_text())
    assert cfg["hparams"]["hidden"] == [32, 16]  # the network takes the checkpoint's shape
    bad = [
        (dict(algo="ppo", init_from=_bc_checkpoint(tmp_path, "lstm")), "cannot start"),
        (dict(algo="ppo", init_from=_bc_checkpoint(tmp_path, "mlp", True)), "layer_norm"),
        (dict(algo="ppo", init_from=ck, obs="grid"), "trained on vector"),
        (dict(algo="ppo", init_from=ck, hparams={"hidden": [64]}), "conflicts"),
        (dict(algo="ppo", init_from=ck, resume=ck), "not both"),
    ]
    for kw, msg in bad:
        with pytest.raises(CgfsimError, match=msg):
            train_rl(scenario="duel", steps=64, out_dir=tmp_path / "x", progress=False, **kw)


@pytest.mark.parametrize(
    ("algo", "core"), [("ppo", "mlp"), ("maskable_ppo", "mlp"), ("recurrent_ppo", "lstm")]
)
def test_critic_warmup_trains_only_the_critic(tmp_path: Path, algo: str, core: str) -> None:
    from cgfsim.agents.finetune import CriticWarmup, actor_parameters
    from cgfsim.agents.rl import algo_class, sb3_policy_kwargs
    from cgfsim.envs.sb3 import CgfsimVecEnv

    pol, _, _ = load_checkpoint(_bc_checkpoint(tmp_path, core))
    kw = sb3_policy_kwargs(algo, "vector", {"hidden": [32, 16], "lstm_hidden": 8})
    policy = "MlpLstmPolicy" if algo == "recurrent_ppo" else "MlpPolicy"
    model = algo_class(algo)(
        policy, CgfsimVecEnv("duel", 4), policy_kwargs=kw, n_steps=16, batch_size=32, seed=0
    )
    load_into_sb3(model, pol)
    actor = {id(p) for p in actor_parameters(model)}
    before = {n: p.detach().clone() for n, p in model.policy.named_parameters()}

    def moved() -> tuple[set[str], set[str]]:
        out = {n for n, p in model.policy.named_parameters() if not torch.equal(p, before[n])}
        named = dict(model.policy.named_parameters())
        return {n for n in out if id(named[n]) in actor}, {
            n for n in out if id(named[n]) not in actor
        }

    model.learn(128, callback=CriticWarmup(128))
    actor_moved, critic_moved = moved()
    assert not actor_moved and critic_moved  # the value function learned, the clone did not
    assert all(p.requires_grad for p in model.policy.parameters())  # released at the end
    model.learn(64, callback=CriticWarmup(128), reset_num_timesteps=False)
    assert moved()[0]  # past the warm-up the actor trains


def test_finetune_defaults_apply_only_from_a_checkpoint(tmp_path: Path) -> None:
    from cgfsim.agents.finetune import FINETUNE_DEFAULTS, finetune_hparams
    from cgfsim.agents.rl import train_rl

    assert finetune_hparams("ppo", {"ent_coef": 0.01}) == {
        **FINETUNE_DEFAULTS["ppo"],
        "ent_coef": 0.01,
    }
    r = train_rl(
        "ppo",
        "duel",
        steps=64,
        out_dir=tmp_path / "ft",
        hparams={"n_envs": 8, "n_steps": 8, "batch_size": 64},
        eval_episodes=0,
        progress=False,
        init_from=_bc_checkpoint(tmp_path, "mlp"),
    )
    cfg = json.loads((Path(r["run_dir"]) / "config.json").read_text())["hparams"]
    assert cfg["critic_warmup"] == 4096 and cfg["learning_rate"] == 3e-4
    with pytest.raises(CgfsimError, match="critic_warmup"):
        train_rl("ppo", "duel", steps=64, hparams={"critic_warmup": 64}, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_bc_then_ppo_keeps_what_it_cloned(root: Path, tmp_path: Path) -> None:
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.rl import train_rl
    from cgfsim.sim.splits import key_base

    # The clone wins 0.865 on these worlds; fine-tuned with the defaults (critic warm-up,
    # learning rate 3e-4, no entropy bonus) 0.8675. Before the masked action regime (g7b),
    # Duel's PPO settings with a fresh critic took it to 0.35 in these 8k steps; since, to
    # 0.8725 (experiments/bc_then_ppo.py compares both settings over seeds and budgets).
    record_demos(
        "duel", "assault", "retreat", episodes=100, dataset_id="cgfsim/ft-v0", progress=False
    )
    bc = train_bc(
        "cgfsim/ft-v0",
        hparams={"epochs": 15, "lr": 3e-3, "batch_size": 64},
        eval_episodes=0,
        out_dir=tmp_path / "bc",
        progress=False,
        verbose=False,
        tensorboard=False,
    )
    r = train_rl(
        "ppo",
        "duel",
        "retreat",
        steps=8192,
        out_dir=tmp_path / "ft",
        eval_episodes=0,
        progress=False,
        tensorboard=False,
        init_from=bc["policy_dir"],
    )
    test = key_base("test", 0)
    clone = evaluate(bc["policy_dir"], "duel", "retreat", 400, seed=test).win_rate
    tuned = evaluate(r["final_dir"], "duel", "retreat", 400, seed=test).win_rate
    # Same 400 test worlds for both: 0.05 is about three standard errors of a
    # difference between two 400-episode win rates near 0.9.
    assert clone > 0.8 and tuned >= clone - 0.05, (clone, tuned)


@pytest.mark.slow
def test_cli_trains_bc_dagger_and_bc_then_ppo(root: Path, tmp_path: Path) -> None:
    assert main(["demos", "record", "--episodes", "40", "--name", "cgfsim/cli-v0", "--quiet"]) == 0
    sets = ["--set", "epochs=3", "--set", "hidden=[16]", "--eval-episodes", "10", "--quiet"]
    assert (
        main(
            [
                "train",
                "--algo",
                "bc",
                "--dataset",
                "cgfsim/cli-v0",
                "--policy",
                "lstm",
                "--out",
                str(tmp_path / "bc"),
                *sets,
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "bc" / "result.json").read_text())
    assert res["approach"] == "bc-lstm" and res["demo_steps"] > 0
    assert (
        main(
            [
                "train",
                "--algo",
                "dagger",
                "--scenario",
                "duel",
                "--demo-steps",
                "120",
                "--set",
                "iterations=2",
                "--out",
                str(tmp_path / "dg"),
                *sets,
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "dg" / "result.json").read_text())
    assert res["demo_steps"] == 120 and res["env_steps"] >= 120
    assert (
        main(
            [
                "train",
                "--algo",
                "bc",
                "--dataset",
                "cgfsim/cli-v0",
                "--out",
                str(tmp_path / "bc2"),
                *sets,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--algo",
                "ppo",
                "--init-from",
                str(tmp_path / "bc2" / "best"),
                "--steps",
                "128",
                "--set",
                "n_envs=8",
                "--set",
                "n_steps=16",
                "--set",
                "batch_size=64",
                "--out",
                str(tmp_path / "ppo"),
                "--eval-episodes",
                "10",
                "--quiet",
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "ppo" / "result.json").read_text())
    assert res["demo_steps"] > 0 and res["env_steps"] >= 128
    assert np.isfinite(res["best_win_rate"])
