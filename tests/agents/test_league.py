"""The league: config and bad input, per-world sampling as configured, PFSP, snapshot players."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.evaluation import policy_opponent
from cgfsim.agents.league import (
    League,
    LeagueConfig,
    PolicyPlayer,
    evaluate_vs_doctrines,
    load_league_toml,
    parse_league,
    validate_league,
)
from cgfsim.agents.networks import CgfPolicy, PolicySpec, build_policy
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.masks import MaskBuilder
from cgfsim.envs.observations import ObservationBuilder
from cgfsim.sim.doctrines import DOCTRINES, get_doctrine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.scenario import load_scenario_text
from cgfsim.sim.splits import key_base

torch.set_num_threads(1)

SMALL_RANDOM_MAPS = """
[scenario]
name = "SmallRandom"
description = "Duel's forces on a pool of random 8x8 maps"
[map]
random = { width = 8, height = 8, pool = 4, seed = 9, obstacle = 0.05, forest = 0.1 }
[zones]
blue_start = [0, 6, 7, 7]
red_start = [0, 0, 7, 1]
[forces.blue]
units = [{ type = "infantry", count = 2, zone = "blue_start" }]
[forces.red]
units = [{ type = "infantry", count = 2, zone = "red_start" }]
[victory]
max_ticks = 30
"""


def spec_for(scenario: str, side: str = "blue", **kw: Any) -> PolicySpec:
    env = BatchedCommanderEnv(scenario, 1, side=side)
    return PolicySpec.from_spaces(env.observation_space, env.action_space, "vector", **kw)


# ------------------------------------------------------------------ config and bad input


def test_spec_strings_and_toml(tmp_path: Path) -> None:
    cfg = parse_league("doctrines,self")
    assert cfg.members == {"doctrines": 1.0, "self": 1.0}
    assert cfg.doctrines == list(DOCTRINES)
    assert parse_league("assault-nearest,hold").doctrines == ["hold", "assault"]
    ck = save_checkpoint(tmp_path / "ck", build_policy(spec_for("duel"), 0))
    f = tmp_path / "league.toml"
    f.write_text(
        "[league]\nmembers = { assault = 2.0, ck = 1.0, self = 0.5 }\n"
        "pfsp_exponent = 1.5\nsnapshot_every = 5000\nmax_snapshots = 3\n"
    )
    cfg = load_league_toml(f)
    assert cfg.members == {"assault": 2.0, str(ck): 1.0, "self": 0.5}
    assert (cfg.pfsp_exponent, cfg.snapshot_every, cfg.max_snapshots) == (1.5, 5000, 3)
    both = parse_league(f"{f},random")  # a file and extra members
    assert both.members["random"] == 1.0 and both.pfsp_exponent == 1.5


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("members = { assualt = 1.0 }", "unknown league member 'assualt'"),
        ("members = { assault = -1 }", "members.assault: weight must be a number > 0"),
        ("members = { assault = 1 }\npfsp = 2", r"unknown league fields \['pfsp'\]"),
        ("members = { assault = 1 }\nuniform_mix = 2.0", "uniform_mix must be in"),
        ("members = { self = 1 }\nsnapshot_every = 0", "'self' needs snapshot_every"),
        ("members = { assault = 1 }\nwindow = 2.5", "window must be an integer"),
        ("members = {}", "members must be a table"),
    ],
)
def test_bad_league_configs_name_file_and_field(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[league]\n" + text + "\n")
    with pytest.raises(CgfsimError, match=match) as e:
        load_league_toml(f)
    assert str(f) in str(e.value) and "\n" not in str(e.value)


def test_checkpoint_of_another_slot_layout_is_refused(tmp_path: Path) -> None:
    ck = save_checkpoint(tmp_path / "skirmish_ck", build_policy(spec_for("skirmish"), 0))
    with pytest.raises(CgfsimError, match="skirmish_ck") as e:
        validate_league(parse_league(f"assault,{ck}"), "duel")
    assert "\n" not in str(e.value)
    validate_league(parse_league(f"assault,{ck}"), "skirmish")  # fits its own scenario
    with pytest.raises(CgfsimError, match="unknown league member 'nope'"):
        parse_league("assault,nope")


# ------------------------------------------------------------------ sampling and PFSP


def _play(league: League, episodes: int, B: int = 64, seed: int = 0, learner: str = "") -> None:
    """Blue (random actions, or a doctrine) plays Duel until ``episodes`` episodes finished."""
    env = BatchedCommanderEnv("duel", B, opponent=league.router)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    done = 0
    while done < episodes:
        if learner:
            act = get_doctrine(learner)(env.engine, 0)  # blue's canonical frame is the engine's
        else:
            act = rng.integers(0, env.n_actions, (B, env.n_own))
        _, _, term, trunc, _ = env.step(act)
        done += int((term | trunc).sum())


def test_worlds_draw_opponents_as_configured() -> None:
    """Without PFSP, per-episode opponent counts follow the weights (fixed seed, 4 sigma)."""
    cfg = LeagueConfig({"assault": 3.0, "hold": 1.0, "doctrines": 4.0}, pfsp_exponent=0.0)
    league = League(cfg, seed=3)
    _play(league, 2000, B=128)
    games = {m.name: m.games for m in league.members}
    n = sum(games.values())
    assert n >= 2000
    weights = {d: 0.5 for d in DOCTRINES}  # "doctrines" = 4.0 shared by 8
    weights["assault"] += 3.0
    weights["hold"] += 1.0
    for name, w in weights.items():
        p = w / 8.0
        assert abs(games[name] - n * p) <= 4 * np.sqrt(n * p * (1 - p)), (name, games)


def test_pfsp_moves_toward_opponents_that_beat_the_learner() -> None:
    cfg = LeagueConfig({"assault": 1.0, "random": 1.0, "hold": 1.0}, pfsp_exponent=2.0)
    league = League(cfg)
    _, p0 = league.probabilities()
    np.testing.assert_allclose(p0, 1 / 3)  # unplayed: x = 0.5 for everybody
    a, r, h = (league.members[i].id for i in range(3))
    history = [p0[0]]
    for _ in range(5):  # the learner keeps losing to assault, beating random, drawing hold
        league.record(np.array([a, a, r, r, h, h]), np.array([-1, -1, 1, 1, 0, 0]))
        history.append(league.probabilities()[1][0])
    assert all(x < y for x, y in itertools.pairwise(history))
    _, p = league.probabilities()
    # a draw is not a win: an opponent the learner only draws with stays as likely as one
    # that beats it (waiting out the clock earns no easier opponents)
    assert p[0] == pytest.approx(p[2]) and p[2] > p[1]
    # the formula: x = (wins + 0.5) / (n + 1), f = (1 - x)^2, mixed with eps of the prior
    x = np.array([0.5 / 11, 10.5 / 11, 0.5 / 11])
    f = (1 - x) ** 2
    np.testing.assert_allclose(p, 0.9 * f / f.sum() + 0.1 / 3)


def test_pfsp_in_play_favours_the_opponent_the_learner_loses_to() -> None:
    """An assaulting learner beats random far more often than assault: assault is drawn more."""
    cfg = LeagueConfig({"assault": 1.0, "random": 1.0}, pfsp_exponent=2.0, window=100)
    league = League(cfg, seed=1)
    _play(league, 400, learner="assault")
    assault, rand = league.members
    assert assault.recent_win < rand.recent_win - 0.2
    _, p = league.probabilities()
    assert p[0] > 0.65
    first, n = assault.games, sum(m.games for m in league.members)
    _play(league, 400, seed=2, learner="assault")
    assert (assault.games - first) / (sum(m.games for m in league.members) - n) > 0.6


def test_snapshots_are_capped_oldest_first() -> None:
    league = League(LeagueConfig({"random": 1.0, "self": 1.0}, max_snapshots=2), seed=0)
    ids, _ = league.probabilities()
    assert [league.members[i].name for i in ids] == ["random"]  # no snapshot yet
    pol = build_policy(spec_for("duel"), 0)
    for steps in (100, 200, 300):
        league.add_snapshot(pol, steps)
    assert [m.name for m in league.snapshots] == ["self@200", "self@300"]
    _, p = league.probabilities()
    np.testing.assert_allclose(p, [0.5, 0.25, 0.25])  # "self" weight shared by its members
    with pytest.raises(CgfsimError, match="no 'self' member"):
        League(LeagueConfig({"random": 1.0})).add_snapshot(pol, 1)


# ------------------------------------------------------------------ snapshot players


class Spy(CgfPolicy):
    """Records what the network is given."""

    seen: list[tuple[np.ndarray, np.ndarray]]

    def forward(
        self, obs: Any, state: Any = None, episode_start: Any = None, action_mask: Any = None
    ):  # type: ignore[no-untyped-def]
        self.seen.append((np.asarray(obs).copy(), np.asarray(action_mask).copy()))
        return super().forward(obs, state, episode_start, action_mask)


@pytest.mark.parametrize("core", ["mlp", "lstm"])
def test_snapshot_plays_from_its_own_sides_view(core: str) -> None:
    """Red's snapshot sees red's observation (fog of war, red's flipped frame), red's masks,
    and its actions are the frozen policy's, mapped back to the engine's frame."""
    spec = spec_for("duel", "red", core=core, hidden=(16,), lstm_hidden=8)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        spy = Spy(spec).eval()
    spy.seen = []
    ref = build_policy(spec, 0)
    ref.load_state_dict(spy.state_dict())
    player = PolicyPlayer(spy, "greedy")
    env = BatchedCommanderEnv("duel", 10, side="blue", opponent="random")
    env.reset(seed=4)
    e = env.engine
    red_obs = ObservationBuilder(e, 1, "vector")
    red_mask = MaskBuilder(e, 1)
    whole = policy_opponent(ref, deterministic=True, masked=True)  # red on every world
    rng = np.random.default_rng(0)
    hidden_seen = False
    for _ in range(40):
        idx = np.flatnonzero(rng.random(10) < 0.6)
        if idx.size == 0:
            continue
        expected = whole(e, 1)  # every world, one pass, same weights and LSTM history
        acts = player(e, 1, idx)
        obs, mask = spy.seen[-1]
        np.testing.assert_array_equal(obs, red_obs.build(idx))
        np.testing.assert_array_equal(mask, red_mask.build(idx))
        if core == "mlp":  # the LSTM's history differs: the player only saw worlds idx
            np.testing.assert_array_equal(acts, expected[idx])
        hidden_seen |= bool((~e.visible[idx, : e.nb] & e.alive[idx, : e.nb]).any())
        env.step(rng.integers(0, env.n_actions, (10, env.n_own)))
    assert hidden_seen  # some blue units were hidden from red meanwhile


def test_snapshot_ignores_what_its_side_cannot_see() -> None:
    spec = spec_for("duel", "red", hidden=(16,))
    player = PolicyPlayer(build_policy(spec, 1), "greedy")
    env = BatchedCommanderEnv("duel", 1, opponent="random")
    env.reset(seed=0)
    e = env.engine
    # find a state where a live blue unit is hidden from red, then move it elsewhere
    for _ in range(200):
        hidden = np.flatnonzero(e.alive[0, : e.nb] & ~e.visible[0, : e.nb])
        if hidden.size:
            break
        env.step(np.zeros((1, env.n_own), np.int64))
    assert hidden.size
    idx = np.array([0])
    before = player(e, 1, idx)
    obs_before = ObservationBuilder(e, 1, "vector").build(idx)
    u = int(hidden[0])
    e.x[0, u] = (e.x[0, u] + 1) % e.W  # the hidden unit moves (red cannot know)
    e.hp[0, u] = 1.0
    np.testing.assert_array_equal(ObservationBuilder(e, 1, "vector").build(idx), obs_before)
    np.testing.assert_array_equal(player(e, 1, idx), before)


# ------------------------------------------------------------------ evaluation on test keys


def test_evaluation_against_each_doctrine_uses_test_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    import cgfsim.agents.evaluation as ev

    calls: list[tuple[Any, Any, int]] = []
    real = ev.evaluate

    def spy(policy: Any, scenario: Any, opponent: Any, episodes: int, **kw: Any) -> Any:
        calls.append((scenario, opponent, kw["seed"]))
        return real(policy, scenario, opponent, episodes, **kw)

    monkeypatch.setattr(ev, "evaluate", spy)
    sc = load_scenario_text(SMALL_RANDOM_MAPS, "small_random.toml")
    pol = build_policy(spec_for(sc), 0)  # type: ignore[arg-type]
    res = evaluate_vs_doctrines(pol, sc, ["assault", "hold"], 4, seed=3)
    assert [r.opponent for r in res] == ["assault", "hold"]
    assert all(r.seed == key_base("test", 3) and r.episodes == 4 and r.masked for r in res)
    assert all(c[0].meta.get("map_split") == "test" for c in calls)  # held-out maps


def test_pure_self_play_starts_from_the_initial_policy(tmp_path: Path) -> None:
    from cgfsim.agents.rl import train_rl

    with pytest.raises(CgfsimError, match="no member to play yet"):
        League(LeagueConfig({"self": 1.0})).sample(1)
    hp = {"n_envs": 8, "n_steps": 16, "batch_size": 64, "n_epochs": 1, "hidden": [8]}
    cfg = LeagueConfig({"self": 1.0}, snapshot_every=512)
    res = train_rl(
        "ppo",
        "duel",
        None,
        steps=1024,
        out_dir=tmp_path,
        hparams=hp,
        league=cfg,
        eval_episodes=0,
        progress=False,
        tensorboard=False,
    )
    members = json.loads(Path(res["league"]).read_text())["members"]
    assert [m["member"] for m in members] == ["self@0", "self@512", "self@1024"]
    assert members[0]["games"] > 0
