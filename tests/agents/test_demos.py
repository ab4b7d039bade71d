"""Demonstration datasets: Minari round trip, regeneration, splits, replays, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import minari
import numpy as np
import pytest

from cgfsim.agents import demo_collect
from cgfsim.agents.demo_regen import demos_from_replays, verify_dataset
from cgfsim.agents.demo_store import DatasetError, open_dataset
from cgfsim.agents.demos import (
    dataset_info,
    load_split,
    make_splits,
    record_demos,
    split_dataset,
)
from cgfsim.cli import main
from cgfsim.envs.observations import observation_shape
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import describe_key


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private Minari root: nothing lands in the home folder."""
    r = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(r))
    return r


def _h5(root: Path, dataset_id: str) -> Path:
    return root / dataset_id / "data" / "main_data.hdf5"


def test_plain_minari_reads_and_replays_a_recording(root: Path) -> None:
    info = record_demos(
        "duel",
        "assault",
        "random",
        episodes=24,
        epsilon=0.2,
        dataset_id="cgfsim/duel-t-v0",
        progress=False,
    )
    assert info["episodes"] == 24 and info["transitions"] > 24
    assert info["demonstrator"] == {"kind": "doctrine", "name": "assault"}
    assert 0.0 <= info["demonstrator_win_rate"] <= 1.0
    # A user who never saw cgfsim's loader: plain Minari, then the recovered env.
    ds = minari.load_dataset("cgfsim/duel-t-v0")
    assert ds.total_episodes == 24 and ds.total_steps == info["transitions"]
    meta = ds.storage.metadata["cgfsim"]
    assert meta["scenario"] == "Duel" and meta["obs"] == "vector" and meta["epsilon"] == 0.2
    assert "[scenario]" in meta["scenario_text"] and len(meta["scenario_sha256"]) == 64
    env = ds.recover_environment()
    ep = ds[3]
    attrs = next(iter(ds.storage.get_episode_metadata([3])))
    assert describe_key(int(attrs["options"]["world_key"]))[0] == "demo"
    assert (
        int(attrs["options"]["episode_index"]) == 0
        and attrs["seed"] == attrs["options"]["world_key"]
    )
    assert ep.observations.shape[0] == len(ep.actions) + 1
    assert ep.infos["action_mask"].shape == (len(ep.actions) + 1, 2 * 9)
    assert ep.infos["expert_action"].shape == (len(ep.actions) + 1, 2)
    obs, _ = env.reset(seed=int(attrs["seed"]))
    np.testing.assert_array_equal(obs, ep.observations[0])
    for t, a in enumerate(ep.actions):
        obs, r, term, trunc, _ = env.step(a)
        np.testing.assert_array_equal(obs, ep.observations[t + 1])
        assert r == pytest.approx(float(ep.rewards[t]))
        assert (term, trunc) == (bool(ep.terminations[t]), bool(ep.truncations[t]))
    assert term or trunc
    # Epsilon exploration: executed actions differ from the labels somewhere, labels valid.
    mixed = [e for e in ds if (e.actions != e.infos["expert_action"][:-1]).any()]
    assert mixed
    # ... and the whole thing regenerates bit for bit from the world keys.
    r = verify_dataset("cgfsim/duel-t-v0", sample=24, progress=False)
    assert r["checked_episodes"] == 24 and r["match"]


def test_verify_catches_a_changed_episode(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_demos("duel", "assault", "random", episodes=8, dataset_id="cgfsim/v-v0", progress=False)
    assert main(["demos", "verify", "cgfsim/v-v0", "--sample", "8", "--quiet"]) == 0
    with h5py.File(_h5(root, "cgfsim/v-v0"), "r+") as f:
        obs = f["episode_5/observations"]
        obs[2, 0] = obs[2, 0] + 0.5
    capsys.readouterr()
    assert main(["demos", "verify", "cgfsim/v-v0", "--sample", "8", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "episode 5" in err and "observations differ first at step 2" in err


def test_splits_never_share_an_episode_or_a_world(root: Path) -> None:
    keys = np.repeat(np.arange(40), 3)  # three episodes per world
    lengths = np.ones(120, np.int64)
    for fractions, seed in (((0.8, 0.1, 0.1), 0), ((0.5, 0.25, 0.25), 7), ((0.6, 0.4, 0.0), 1)):
        s = make_splits(keys, lengths, fractions, seed)
        ids = [set(s[name]) for name in ("train", "validation", "test")]
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
        assert set.union(*ids) == set(range(120))
        worlds = [set(keys[list(i)].tolist()) for i in ids]
        assert not (worlds[0] & worlds[1] or worlds[0] & worlds[2] or worlds[1] & worlds[2])
        assert abs(len(worlds[0]) - 40 * fractions[0]) <= 1
    # The same on a real dataset with several episodes per world, re-split by the CLI.
    record_demos(
        "duel",
        "assault",
        "random",
        episodes=30,
        episodes_per_world=3,
        dataset_id="cgfsim/s-v0",
        progress=False,
    )
    assert main(["demos", "split", "cgfsim/s-v0", "--fractions", "0.5,0.3,0.2", "--seed", "3"]) == 0
    ds = open_dataset("cgfsim/s-v0")
    table = ds.episode_table()
    split = ds.meta["splits"]
    assert split["fractions"] == [0.5, 0.3, 0.2] and split["seed"] == 3
    worlds = [set(table["world_key"][split[n]].tolist()) for n in ("train", "validation", "test")]
    assert sum(map(len, worlds)) == len(set.union(*worlds)) == 10
    assert sorted(i for n in ("train", "validation", "test") for i in split[n]) == list(range(30))
    assert set(table["episode_index"].tolist()) == {0, 1, 2}
    desc = ds.minari.storage.metadata["description"]
    assert "Split by world key (seed 3, fractions 0.5/0.3/0.2)" in desc
    assert (
        sum(len(d) for d in load_split("cgfsim/s-v0", "test"))
        == (dataset_info("cgfsim/s-v0")["splits"]["test"]["transitions"])
    )
    assert verify_dataset("cgfsim/s-v0", sample=6, progress=False)["match"]


def test_checkpoint_demonstrator_and_grid_observations(root: Path, tmp_path: Path) -> None:
    """A network demonstrator travels with its dataset; large observations are compressed."""
    from cgfsim.agents.checkpoints import save_checkpoint
    from cgfsim.agents.networks import PolicySpec, build_policy
    from cgfsim.envs.batched import BatchedCommanderEnv

    env = BatchedCommanderEnv("duel", 1, obs="grid")
    spec = PolicySpec.from_spaces(
        env.observation_space,
        env.action_space,
        "grid",
        hidden=(16,),
        features_dim=16,
        cnn_channels=(4, 4),
    )
    ck = save_checkpoint(tmp_path / "net", build_policy(spec, seed=1), spec, {"algo": "ppo"})
    info = record_demos(
        "duel", ck, "assault", episodes=6, obs="grid", dataset_id="cgfsim/net-v0", progress=False
    )
    d = info["demonstrator"]
    assert d["kind"] == "checkpoint" and len(d["weights_sha256"]) == 64
    assert (root / "cgfsim" / "net-v0" / "demonstrator" / "policy.pt").is_file()
    with h5py.File(_h5(root, "cgfsim/net-v0")) as f:
        assert f["episode_0/observations"].compression == "gzip"
        assert f["episode_0/observations"].shape[1:] == observation_shape("duel", "grid")
    assert verify_dataset("cgfsim/net-v0", sample=6, progress=False)["match"]
    with pytest.raises(CgfsimError, match="grid observations, not vector"):
        record_demos("duel", ck, episodes=2, dataset_id="cgfsim/net2-v0", progress=False)


def test_scenario_file_travels_as_text(root: Path, tmp_path: Path) -> None:
    """A scenario file the reader does not have: the env spec carries its text."""
    from cgfsim.sim.scenario import builtin_dir

    text = (builtin_dir() / "duel.toml").read_text().replace('name = "Duel"', 'name = "MyDuel"')
    f = tmp_path / "mine.toml"
    f.write_text(text)
    record_demos(f, episodes=2, dataset_id="cgfsim/mine-v0", progress=False)
    f.unlink()
    ds = minari.load_dataset("cgfsim/mine-v0")
    assert ds.env_spec.id == "cgfsim/Scenario-v0" and ds.env_spec.kwargs["scenario"] == text
    env = ds.recover_environment()
    obs, _ = env.reset(seed=int(next(iter(ds.storage.get_episode_metadata([0])))["seed"]))
    np.testing.assert_array_equal(obs, ds[0].observations[0])


def test_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Minari sizes datasets by joining paths: a relative root must still work."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", "rel/datasets")
    info = record_demos("duel", episodes=3, dataset_id="cgfsim/rel-v0", progress=False)
    assert Path(info["path"]) == tmp_path / "rel" / "datasets" / "cgfsim" / "rel-v0"
    assert minari.load_dataset("cgfsim/rel-v0").total_episodes == 3


def test_recording_does_not_depend_on_the_batch(root: Path) -> None:
    kw = dict(episodes=12, episodes_per_world=2, progress=False)
    record_demos("duel", "flank", "assault", n_envs=1, dataset_id="cgfsim/b1-v0", **kw)
    record_demos("duel", "flank", "assault", n_envs=6, dataset_id="cgfsim/b6-v0", **kw)
    a, b = minari.load_dataset("cgfsim/b1-v0"), minari.load_dataset("cgfsim/b6-v0")
    for ea, eb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ea.observations, eb.observations)
        np.testing.assert_array_equal(ea.actions, eb.actions)
        np.testing.assert_array_equal(ea.infos["action_mask"], eb.infos["action_mask"])


def test_interrupted_recording_leaves_no_dataset(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = demo_collect.collect_episodes
    calls = {"n": 0}

    def dies_on_second_chunk(*a: object, **k: object) -> list[demo_collect.Episode]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(demo_collect, "collect_episodes", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        record_demos("duel", episodes=8, n_envs=4, dataset_id="cgfsim/cut-v0", progress=False)
    assert calls["n"] == 2
    assert not (root / "cgfsim" / "cut-v0").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    assert minari.list_local_datasets() == {}
    with pytest.raises(DatasetError, match="not found"):
        open_dataset("cgfsim/cut-v0")


def test_dataset_from_replays_regenerates(root: Path, tmp_path: Path) -> None:
    rep = tmp_path / "battle.cgfr"
    assert (
        main(
            [
                "play",
                "duel",
                "--blue",
                "assault",
                "--red",
                "random",
                "--episodes",
                "6",
                "--seed",
                "5",
                "--replay",
                str(rep),
                "--replay-worlds",
                "4",
            ]
        )
        == 0
    )
    info = demos_from_replays(
        [rep],
        side="blue",
        obs="entities",
        dataset_id="cgfsim/rep-v0",
        fractions=(0.5, 0.25, 0.25),
        progress=False,
    )
    assert info["episodes"] == 4 and info["source"] == "replays"
    assert info["demonstrator"]["name"] == "assault" and info["opponent"] == "random"
    # The same episodes recorded directly (world keys 5.., assault vs random) match exactly.
    from cgfsim.envs.batched import BatchedCommanderEnv

    env = BatchedCommanderEnv("duel", 4, opponent="random", obs="entities", autoreset=False)
    from cgfsim.agents.evaluation import _doctrine_act

    direct = demo_collect.collect_episodes(
        env, _doctrine_act("assault", env), np.arange(5, 9), np.ones(4, np.int64)
    )
    ds = minari.load_dataset("cgfsim/rep-v0")
    for d, ep in zip(direct, ds, strict=True):
        np.testing.assert_array_equal(d.obs, ep.observations)
        np.testing.assert_array_equal(d.actions, ep.actions)
    assert verify_dataset("cgfsim/rep-v0", sample=4, progress=False)["match"]
    # A replay whose actions were changed no longer regenerates: refused.
    data = dict(np.load(rep))
    data["actions"][3, 0] = (data["actions"][3, 0] + 1) % 9
    bad = tmp_path / "bad.npz"
    np.savez_compressed(bad, **data)
    with pytest.raises(DatasetError, match="does not regenerate"):
        demos_from_replays([bad], dataset_id="cgfsim/bad-v0", progress=False)


def test_bad_input_is_one_line(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(argv: list[str], needle: str) -> None:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("cgfsim: error:") and "\n" not in err and needle in err, err

    rec = ["demos", "record", "--episodes", "4", "--quiet"]
    fails([*rec, "--fractions", "0.5,0.3,0.3"], "must sum to 1")
    fails([*rec, "--fractions", "0.5,x,0.5"], "three numbers")
    fails([*rec, "--opponent", "nobody"], "not a doctrine")
    fails([*rec, "--demonstrator", "nobody"], "not a doctrine")
    fails([*rec, "--name", "noversion"], "namespace/name-v<version>")
    fails([*rec, "--obs", "pixels"], "unknown observation mode")
    fails([*rec, "--epsilon", "2"], "epsilon")
    assert not root.exists() or not any(root.iterdir())  # nothing made by the failures
    assert main([*rec, "--name", "cgfsim/x-v0"]) == 0
    fails([*rec, "--name", "cgfsim/x-v0"], "already exists")
    fails(["demos", "info", "cgfsim/none-v0"], "not found")
    fails(["demos", "split", "cgfsim/x-v0", "--fractions", "1,0"], "three numbers")
    fails(
        ["train", "--algo", "bc", "--dataset", "cgfsim/x-v0", "--obs", "grid"],
        "holds vector observations",
    )
    fails(
        ["train", "--algo", "bc", "--dataset", "cgfsim/x-v0", "--scenario", "skirmish"],
        "recorded on scenario Duel",
    )
    fails(["train", "--algo", "bc"], "needs --dataset")
    fails(["train", "--algo", "ppo", "--dataset", "cgfsim/x-v0"], "--dataset is for")
    # An empty split is refused when it is used.
    assert main(["demos", "split", "cgfsim/x-v0", "--fractions", "1,0,0"]) == 0
    fails(
        ["train", "--algo", "bc", "--dataset", "cgfsim/x-v0", "--quiet"],
        "validation split is empty",
    )
    # A checkpoint demonstrator of another slot count / observation size is refused.
    from cgfsim.agents.checkpoints import save_checkpoint
    from cgfsim.agents.networks import PolicySpec, build_policy

    spec = PolicySpec("vector", (99,), 8, 15, hidden=(8,))
    ck = save_checkpoint(tmp_path / "ck", build_policy(spec, seed=0), spec)
    fails(
        [*rec, "--demonstrator", str(ck), "--name", "cgfsim/y-v0"],
        "different scenario or slot counts",
    )
    # A truncated file and a missing metadata block are each one line.
    f = _h5(root, "cgfsim/x-v0")
    f.write_bytes(f.read_bytes()[: os.path.getsize(f) // 2])
    fails(["demos", "info", "cgfsim/x-v0"], "corrupt or truncated")
    fails(["demos", "verify", "cgfsim/x-v0"], "corrupt or truncated")
    (root / "cgfsim" / "x-v0" / "data" / "metadata.json").write_text("{}")
    fails(["demos", "info", "cgfsim/x-v0"], "not a cgfsim demonstration dataset")
    with pytest.raises(CgfsimError, match="three numbers"):
        make_splits([1, 2], [1, 1], (1.0,), 0)
    with pytest.raises(DatasetError, match="not found"):
        split_dataset("cgfsim/none-v0")
