"""Calibration tables: reproducible bit for bit, consistent, and committed for the built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cgfsim.agents.calibration import calibrate, calibration_path, load_calibration
from cgfsim.cli import main
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.scenario import load_scenario

#: The benchmark scenarios whose calibration ships with the package.
BENCHMARKS = ("skirmish", "defend", "urban", "ambush", "random_field")


def test_calibration_is_reproducible_bit_for_bit() -> None:
    a = calibrate("duel", episodes=24, seed=3, players=["assault", "hold", "random"])
    b = calibrate("duel", episodes=24, seed=3, players=["assault", "hold", "random"])
    assert a.to_json() == b.to_json()
    c = calibrate("duel", episodes=24, seed=4, players=["assault", "hold", "random"])
    assert c.to_json() != a.to_json()  # other test keys, other episodes


def test_calibration_content_is_consistent() -> None:
    d = calibrate("duel", episodes=20, seed=0, players=["assault", "flank", "random"]).to_dict()
    rr = d["round_robin"]
    assert d["episodes"] == 20 and rr["players"] == ["assault", "flank", "random"]
    per_pair = 20 * (2 if rr["both_sides"] else 1)
    for i in range(3):
        for j in range(3):
            if i != j:
                g = rr["wins"][i][j] + rr["wins"][j][i] + rr["draws"][i][j]
                assert g == per_pair
    assert [m["episodes"] for m in d["mirror"]] == [20, 20, 20]
    for b in d["best_known"]:
        o = rr["players"].index(b["opponent"])
        rates = [rr["wins"][i][o] / per_pair for i in range(3) if i != o]  # doctrines only here
        assert b["win_rate"] == pytest.approx(max(rates))
        assert b["ci_low"] <= b["win_rate"] <= b["ci_high"] and b["episodes"] == per_pair
    h = d["headroom"]
    assert h["best_doctrine"] == rr["ranking"][0]["player"]
    assert d["keys"].startswith("test split")


def test_probes_count_toward_best_known() -> None:
    import numpy as np

    from cgfsim.sim import actions as A

    def sit(engine, side):  # type: ignore[no-untyped-def]
        n = engine.nb if side == 0 else engine.nr
        return np.full((engine.B, n), A.TAKE_COVER, np.int64)

    d = calibrate(
        "duel", episodes=10, seed=0, players=["hold", "random"], probes={"sit": sit}
    ).to_dict()
    # 'sit' never fires: it cannot win, and everything it plays ends in a draw or a loss
    assert all(b["player"] != "sit" or b["win_rate"] == 0 for b in d["best_known"])


def test_cli_calibrate_prints_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "duel.json"
    args = ["calibrate", "duel", "--episodes", "8", "--players", "assault,random", "--quiet"]
    assert main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Duel calibration" in text and "best known against each doctrine" in text
    data = json.loads(out.read_text())
    assert data["scenario"] == "Duel" and data["command"].startswith("cgfsim calibrate duel")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["duel", "--episodes", "0"], "--episodes: expected an integer >= 1"),
        (["duel", "--players", "assault,napoleon"], "unknown doctrine 'napoleon'"),
        (["duel", "--players", "assault"], "at least two doctrines"),
        (["nowhere"], "unknown scenario 'nowhere'"),
        (["duel", "--seed", "-1"], "--seed: expected a seed in"),
        (["duel", "--extra", "no/such/ckpt"], "not a checkpoint folder"),
    ],
)
def test_cli_calibrate_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "x.json"
    assert main(["calibrate", *argv, "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert not out.exists()


def test_cli_json_folder_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "duel", "--json", str(tmp_path / "no" / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("name", BENCHMARKS)
def test_builtin_benchmarks_ship_a_calibration_of_their_current_text(name: str) -> None:
    import hashlib

    cal = load_calibration(name)
    sc = load_scenario(name)
    assert cal["scenario"] == sc.name
    assert cal["scenario_sha256"] == hashlib.sha256(sc.text.encode()).hexdigest()
    assert cal["episodes"] >= 1000 and cal["keys"].startswith("test split")
    h = cal["headroom"]
    # the game leaves room: the best doctrine does not beat every other doctrine at 0.7 (95% LB)
    assert h["weakest_ci_low"] < 0.7
    # and the best doctrine beats random by a wide margin
    assert h["vs_random"] >= 0.8


def test_missing_calibration_is_a_clear_error() -> None:
    with pytest.raises(CgfsimError, match="no calibration for scenario 'nowhere'"):
        load_calibration("nowhere")
    assert calibration_path("RandomField").name == "random_field.json"


def test_scripted_matches_equal_evaluate() -> None:
    """The calibration's observation-free loop counts exactly as evaluate does."""
    from cgfsim.agents.calibration import play_scripts
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.sim.doctrines import get_doctrine

    sc = load_scenario("duel")
    r = evaluate("flank", sc, "assault", 40, side="red", seed=77, n_envs=16)
    bw, dr, rw = play_scripts(sc, get_doctrine("assault"), get_doctrine("flank"), 40, 77, 16)
    assert (r.wins, r.draws, r.losses) == (rw, dr, bw)
