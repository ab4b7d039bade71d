"""contract.json: generated from ObservationBuilder.layout(), every element named exactly once."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.export_onnx.contract import (
    CONTRACT,
    action_table,
    column_template,
    observation_contract,
    read_contract,
)
from cgfsim.agents.export_onnx.exporter import export_policy
from cgfsim.envs._common import get_scenario
from cgfsim.envs.observations import ObservationBuilder, features
from cgfsim.sim.engine import Engine
from tests.export.helpers import Recording, make_policy, record

MODES = ("vector", "grid", "entities")


def _per_column(ob: ObservationBuilder, kind: str) -> int:
    """Elements one table column gives in the vector form (one per slot, pair, ...)."""
    return {
        "own": ob.O,
        "enemy": ob.E,
        "objective": ob.K,
        "own_enemy": ob.O * ob.E,
        "own_objective": ob.O * ob.K,
        "global": 1,
        "mask": ob.O * ob.A,
    }[kind]


@pytest.mark.parametrize("scenario", ["urban", "duel"])
@pytest.mark.parametrize("side", [0, 1])
@pytest.mark.parametrize("mode", MODES)
def test_layout_names_every_feature_exactly_once(scenario: str, side: int, mode: str) -> None:
    sc = get_scenario(scenario)
    doc = observation_contract(sc, side, mode)
    ob = ObservationBuilder(Engine(sc, 1, seed=0), side, mode)
    # generated from layout(), not described twice
    assert doc["layout"] == [e.to_dict() for e in ob.layout()]
    assert doc["shape"] == list(ob.shape)
    n = {"vector": math.prod(ob.shape), "grid": ob.shape[0], "entities": ob.shape[-1]}[mode]
    idx = [e["index"] for e in doc["layout"]]
    assert idx == list(range(n))  # every position of the feature axis, once, in order
    names = [e["name"] for e in doc["layout"]]
    assert len(set(names)) == n
    # every row of the observation table of this form appears, as often as it has columns
    for f in features(mode):
        mine = [e for e in doc["layout"] if e["feature"] == f.name and e["meaning"] == f.meaning]
        per = _per_column(ob, f.kind) if mode == "vector" else 1
        want = per if f.kind == "mask" else f.width * per
        assert len(mine) == want, f.name
        assert all((e["group"], e["low"], e["high"]) == (f.group, f.low, f.high) for e in mine)
    # feature columns: strided slices that partition the feature axis; templates give names
    covered: list[int] = []
    by_index = {e["index"]: e for e in doc["layout"]}
    for col in doc["features"]:
        s = col["slice"]
        ids = list(range(s["start"], s["stop"], s["step"]))
        assert len(ids) == col["count"]
        covered += ids
        for i in ids:
            e = by_index[i]
            assert column_template(e["name"], e["slot"], e["other"]) == col["name"]
            assert col["name"].format(i=e["slot"], j=e["other"]) == e["name"]
    assert sorted(covered) == list(range(n))
    sc_ = doc["scales"]
    assert (sc_["own_slots"], sc_["enemy_slots"], sc_["objectives"]) == (ob.O, ob.E, ob.K)
    if mode == "entities":
        assert len(doc["rows"]) == ob.shape[0]


@pytest.mark.parametrize("mode", MODES)
def test_recorded_observations_respect_the_contract_ranges(
    recordings: dict[str, Recording], mode: str
) -> None:
    rec = recordings[mode]
    doc = observation_contract(get_scenario("duel"), 0, mode)
    low = np.array([e["low"] for e in doc["layout"]])
    high = np.array([e["high"] for e in doc["layout"]])
    x = rec.obs.reshape(-1, *rec.obs.shape[2:])
    axis = {"vector": x, "entities": x, "grid": np.moveaxis(x, 1, -1)}[mode]
    assert (axis >= low - 1e-6).all() and (axis <= high + 1e-6).all()
    # the mask elements of the vector form are the env's action masks
    if mode == "vector":
        m = [e["index"] for e in doc["layout"] if e["group"] == "mask"]
        assert (x[:, m] == rec.mask.reshape(len(x), -1)).all()


def test_contract_round_trips(tmp_path: Path) -> None:
    rec = record("urban", "entities", 3, n=2)
    policy = make_policy(rec, "lstm")
    ck = save_checkpoint(tmp_path / "ck", policy, meta={"scenario": "urban", "algo": "bc"})
    contract = export_policy(ck, tmp_path / "ex", opset=15)
    text = (tmp_path / "ex" / CONTRACT).read_text()
    back = read_contract(tmp_path / "ex")
    assert back == json.loads(json.dumps(contract))
    assert json.dumps(back, indent=2) + "\n" == text  # nothing lost or reordered
    assert back["model"]["opset"] == 15 and back["policy"]["recurrent"]
    assert back["checkpoint"]["meta"]["algo"] == "bc"
    assert back["checkpoint"]["path"] == "../ck"
    names = [i["name"] for i in back["inputs"]]
    assert names == ["obs", "h", "c", "action_mask"]
    assert [o["name"] for o in back["outputs"]] == ["logits", "actions", "h_out", "c_out"]
    assert back["actions"] == action_table(8)
    assert [a["name"] for a in back["actions"][:8]] == [
        "stay", "north", "east", "south", "west", "fire_nearest", "take_cover", "fire_at_0",
    ]  # fmt: skip
    assert back["frame"] == {**back["frame"], "side": "blue", "flip_rows": False}
