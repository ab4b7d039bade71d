"""What third-party clients rely on: stable info, order enforcement, time limits, autoreset modes.

The vector-env tests compare ``gymnasium.make_vec`` (one batched engine) with
Gymnasium's own ``SyncVectorEnv`` of single envs seeded alike, through
Gymnasium's vector observation wrappers: same observations, rewards,
terminations, truncations and infos at every step.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit
from gymnasium.wrappers import vector as VW

import cgfsim  # noqa: F401  (registers the ids)
from cgfsim.envs import _common as C
from cgfsim.envs.commander import CommanderEnv
from cgfsim.envs.parallel import CgfsimParallelEnv
from cgfsim.envs.vector import CgfsimVectorEnv
from cgfsim.sim.scenario import builtin_dir

MODES = ("vector", "grid", "entities")


def _shape(x: Any) -> Any:
    """Keys and leaf types of a nested info dict (what Minari's DataCollector compares)."""
    if isinstance(x, dict):
        return {k: _shape(v) for k, v in x.items()}
    return type(x)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple) or (isinstance(a, np.ndarray) and a.dtype == object):
        return all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------- single env


@pytest.mark.parametrize(
    ("env_id", "mode"), [("cgfsim/Defend-v0", "vector"), ("cgfsim/Duel-v0", "grid")]
)
def test_info_has_the_same_keys_and_types_at_every_step(env_id: str, mode: str) -> None:
    env = gym.make(env_id, obs=mode, opponent="assault")
    _, info = env.reset(seed=4)
    first = _shape(info)
    assert first["outcome"] is int and first["tick"] is int
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(300):
        _, _, term, trunc, info = env.step(rng.integers(0, env.action_space.nvec))
        assert _shape(info) == first
        if term or trunc:
            ends += 1
            assert info["outcome"] in C.OUTCOMES and info["tick"] > 0
            if trunc and not term:
                assert C.outcome_name(info["outcome"]) == "draw"
            _, info = env.reset()
            assert _shape(info) == first and info["tick"] == 0
    assert ends >= 1
    if env_id == "cgfsim/Defend-v0":
        assert set(first["objective"]) == {"hill"}


def test_outcome_reports_the_winner_from_the_learners_side() -> None:
    for side in ("blue", "red"):
        env = CommanderEnv("duel", side=side, opponent="assault")
        env.reset(seed=1)
        while True:  # the learner holds still; assault wins or time runs out
            _, _, term, trunc, info = env.step(np.zeros(2, np.int64))
            if term or trunc:
                break
        e = env.engine
        code = int(e.outcome[0])  # engine: 1 blue won, 2 red won, 3 draw
        mine = 1 + env.core.side
        want = 0 if code == 3 else (1 if code == mine else -1)
        assert info["outcome"] == want


def test_stepping_after_the_end_raises() -> None:
    env = CommanderEnv("duel", opponent="assault")
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(np.zeros(2, np.int64))
    env.reset(seed=0)
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(np.zeros(2, np.int64))
        done = term or trunc
    with pytest.raises(gym.error.ResetNeeded, match="ended"):
        env.step(np.zeros(2, np.int64))
    env.reset()
    env.step(np.zeros(2, np.int64))  # a new episode steps again


@pytest.mark.parametrize("how", ["make", "wrapper"])
def test_a_time_limit_that_truncates_first_reports_a_draw(how: str) -> None:
    if how == "make":
        env = gym.make("cgfsim/Skirmish-v0", max_episode_steps=5, opponent="hold")
    else:
        env = TimeLimit(CommanderEnv("skirmish", opponent="hold"), 5)
    env.reset(seed=0)
    for t in range(5):
        _, _, term, trunc, info = env.step(np.zeros(8, np.int64))
        assert trunc == (t == 4) and not term
    assert C.outcome_name(info["outcome"]) == "draw" and info["tick"] == 5


def test_before_the_end_outcome_is_the_points_verdict_of_the_time_limit() -> None:
    """With ``time_limit = "points"`` a truncation reports the victory-points leader."""
    env = TimeLimit(CommanderEnv("skirmish", opponent="hold"), 3)
    env.reset(seed=0)
    e = env.unwrapped.engine
    red_armour = [u for u in range(e.nb, e.U) if e.utype[u] == 1]  # worth 3 points each
    e.alive[0, red_armour] = False
    e.hp[0, red_armour] = 0
    assert e.time_limit_outcome()[0] == 1  # blue leads by 6 > the draw margin
    _, _, term, trunc, info = env.step(np.zeros(8, np.int64))
    assert not (term or trunc) and C.outcome_name(info["outcome"]) == "win"
    for _ in range(2):
        _, _, term, trunc, info = env.step(np.zeros(8, np.int64))
    assert trunc and not term and C.outcome_name(info["outcome"]) == "win"
    red = TimeLimit(CommanderEnv("skirmish", side="red", opponent="hold"), 1)
    red.reset(seed=0)
    e = red.unwrapped.engine
    e.alive[0, red_armour] = False
    e.hp[0, red_armour] = 0
    _, _, _, trunc, info = red.step(np.zeros(8, np.int64))
    assert trunc and C.outcome_name(info["outcome"]) == "loss"


# ---------------------------------------------------------------------- vector env


def _sync(env_id: str, n: int, mode: AutoresetMode, limit: int | None, **kw: Any) -> SyncVectorEnv:
    def make() -> gym.Env:
        return gym.make(env_id, max_episode_steps=limit, disable_env_checker=True, **kw)

    return SyncVectorEnv([make for _ in range(n)], autoreset_mode=mode)


WRAPPERS: dict[str, tuple[dict[str, Any], Callable[[Any], Any]]] = {
    "normalize": ({"obs": "vector"}, lambda v: VW.NormalizeObservation(v)),
    "transform": (
        {"obs": "entities"},
        lambda v: VW.TransformObservation(v, lambda o: 2 * o - 1, v.observation_space),
    ),
    "flatten": ({"obs": "grid"}, lambda v: VW.FlattenObservation(v)),
    "filter": (
        {"obs": "vector", "dict_obs": True},
        lambda v: VW.FilterObservation(v, ["observation"]),
    ),
    "dtype": ({"obs": "vector"}, lambda v: VW.DtypeObservation(v, np.float64)),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_vector_wrappers_over_make_vec_match_the_sync_vector_env(wrapper: str) -> None:
    kw, wrap = WRAPPERS[wrapper]
    kw = {**kw, "opponent": "assault"}
    B, limit = 3, 25  # the time limit ends some episodes; Duel's fights end others
    fast = wrap(gym.make_vec("cgfsim/Duel-v0", num_envs=B, max_episode_steps=limit, **kw))
    ref = wrap(_sync("cgfsim/Duel-v0", B, AutoresetMode.NEXT_STEP, limit, **kw))
    assert fast.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    o1, i1 = fast.reset(seed=7)
    o2, i2 = ref.reset(seed=7)
    assert _equal(o1, o2) and _equal(i1, i2)
    rng = np.random.default_rng(1)
    ends = 0
    for _ in range(120):
        a = rng.integers(0, 9, size=(B, 2))
        s1, s2 = fast.step(a), ref.step(a)
        for x, y in zip(s1, s2, strict=True):
            assert _equal(x, y)
        ends += int((s1[2] | s1[3]).sum())
    assert ends >= 2 * B


def test_same_step_autoreset_matches_the_sync_vector_env() -> None:
    B, kw = 3, {"obs": "vector", "opponent": "assault"}
    ref = _sync("cgfsim/Defend-v0", B, AutoresetMode.SAME_STEP, 20, **kw)
    fast = gym.make_vec(
        "cgfsim/Defend-v0", num_envs=B, autoreset_mode="SameStep", max_episode_steps=20, **kw
    )
    assert fast.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert _equal(fast.reset(seed=3), ref.reset(seed=3))
    rng = np.random.default_rng(2)
    finals = 0
    for _ in range(45):
        nvec = fast.single_action_space.nvec
        a = rng.integers(0, nvec, size=(B, len(nvec)))
        s1, s2 = fast.step(a), ref.step(a)
        for x, y in zip(s1, s2, strict=True):
            assert _equal(x, y)
        finals += int(s1[4].get("_final_obs", np.zeros(B, bool)).sum())
    assert finals >= 2 * B


def test_disabled_autoreset_waits_for_a_reset_mask() -> None:
    venv = CgfsimVectorEnv(2, "duel", autoreset_mode=AutoresetMode.DISABLED, max_episode_steps=3)
    venv.reset(seed=0)
    for _ in range(3):
        _, _, _, trunc, _ = venv.step(np.zeros((2, 2), np.int64))
    assert trunc.all()
    with pytest.raises(gym.error.ResetNeeded, match="reset_mask"):
        venv.step(np.zeros((2, 2), np.int64))
    _, info = venv.reset(options={"reset_mask": np.array([True, False])})
    assert info["tick"].tolist() == [0, 3]
    with pytest.raises(gym.error.ResetNeeded, match=r"\[1\]"):
        venv.step(np.zeros((2, 2), np.int64))
    venv.reset(seed=5, options={"reset_mask": np.array([False, True])})
    single = CommanderEnv("duel")
    assert np.array_equal(venv.core.observe()[1], single.reset(seed=6)[0])  # s + i, as Gymnasium


# ---------------------------------------------------------------------- rendering


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_human_view_paces_frames_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 100.0}
    sleeps: list[float] = []
    monkeypatch.setattr(C.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(C.time, "sleep", lambda s: sleeps.append(s))
    tty = C.HumanView(fps=8, stream=_Tty())
    tty.show("a")
    clock["t"] += 0.05
    tty.show("b")
    assert sleeps == [pytest.approx(0.075)]
    assert tty.stream is not None and "\x1b[2J" in tty.stream.getvalue()
    piped = C.HumanView(fps=8, stream=io.StringIO())
    piped.show("a")
    piped.show("a")  # an unchanged frame is not shown again
    piped.show("b")
    assert len(sleeps) == 1 and piped.stream is not None
    assert piped.stream.getvalue() == "a\nb\n"


def test_human_render_prints_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    env = gym.make("cgfsim/Duel-v0", render_mode="human")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert env.render() is None  # the step drew this frame already: not printed twice
    frames = capsys.readouterr().out
    assert frames.count("tick ") == 2 and "tick 1/60" in frames
    penv = CgfsimParallelEnv("duel", render_mode="human")
    penv.reset(seed=0)
    penv.step({})
    assert penv.render() is None and capsys.readouterr().out.count("tick ") == 2
    venv = gym.make_vec("cgfsim/Duel-v0", num_envs=2, render_mode="human")
    venv.reset(seed=0)
    venv.step(np.zeros((2, 2), np.int64))
    assert venv.render() is None and capsys.readouterr().out.count("tick ") == 2


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "err", "needles"),
    [
        (
            lambda: gym.make_vec("cgfsim/Duel-v0", num_envs=2, autoreset_mode="sometimes"),
            ValueError,
            ["sometimes", "NEXT_STEP", "SAME_STEP", "DISABLED"],
        ),
        (
            lambda: gym.make_vec("cgfsim/Duel-v0", num_envs=2, render_mode="tv"),
            ValueError,
            ["tv", "ansi", "rgb_array", "human"],
        ),
        (
            lambda: gym.make_vec("cgfsim/Duel-v0", num_envs=2, colour="blue"),
            TypeError,
            ["colour", "autoreset_mode", "max_episode_steps", "obs"],
        ),
        (
            lambda: gym.make_vec("cgfsim/Duel-v0", num_envs=2, max_episode_steps=0),
            ValueError,
            ["max_episode_steps", "positive"],
        ),
        (lambda: CommanderEnv("duel", colour="blue"), TypeError, ["colour", "opponent", "obs"]),
        (lambda: CgfsimParallelEnv("duel", max_cycle=3), TypeError, ["max_cycle", "max_cycles"]),
        (lambda: CgfsimParallelEnv("duel", max_cycles=0), ValueError, ["max_cycles"]),
        (lambda: gym.make("cgfsim/Scenario-v0"), Exception, ["path=", "cgfsim/Scenario-v0"]),
    ],
)
def test_bad_keywords_name_the_accepted_values(
    make: Callable[[], Any], err: type[Exception], needles: list[str]
) -> None:
    with pytest.raises(err) as exc:
        make()
    for n in needles:
        assert n in str(exc.value)


def test_cli_scenarios_prints_the_gymnasium_ids(capsys: pytest.CaptureFixture[str]) -> None:
    from cgfsim.cli import main

    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln.split()[1] for ln in out.splitlines()[1:] if ln.split()}
    stems = sorted(p.stem for p in builtin_dir().glob("*.toml"))
    for stem in stems:
        assert lines[stem].startswith("cgfsim/") and lines[stem] in gym.registry
    assert "path=" in out
