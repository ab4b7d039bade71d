"""Resource limits: table memory refused at load time with its figure; a bounded table cache."""

from __future__ import annotations

import numpy as np
import pytest

from cgfsim.sim import geometry
from cgfsim.sim.errors import ScenarioError
from cgfsim.sim.scenario import load_scenario_text

RANDOM = """
[scenario]
name = "Big"
[map]
random = {{ width = {w}, height = {h}, pool = {pool}, seed = 1 }}
[zones]
a = [0, 0, 1, 1]
b = [{x}, {y}, {x}, {y}]
[forces.blue]
units = [{{ type = "infantry", count = 1, zone = "a" }}]
[forces.red]
units = [{{ type = "infantry", count = 1, zone = "b" }}]
"""


def test_pool_too_large_for_its_tables_is_refused_with_the_figure() -> None:
    text = RANDOM.format(w=48, h=48, pool=1024, x=47, y=47)
    with pytest.raises(ScenarioError, match=r"map\.random: .*1024 maps of 48x48 needs 21\.7 GB"):
        load_scenario_text(text, "big.toml")
    assert geometry.table_bytes(48, 48, 1024) == 4 * 2304**2 * 1024


def test_cache_drops_least_recently_used_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geometry, "_cache", type(geometry._cache)())
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 2, (1, 12, 12), dtype=np.uint8) for _ in range(6)]
    one = geometry.pair_tables(maps[0]).nbytes
    monkeypatch.setattr(geometry, "CACHE_BYTES", 3 * one)
    kept = geometry.pair_tables(maps[0])
    for m in maps[1:]:
        geometry.pair_tables(m)
    assert geometry.cache_bytes() <= 3 * one
    assert len(geometry._cache) == 3
    # The dropped table is rebuilt on demand and equal; the one in use stayed valid.
    again = geometry.pair_tables(maps[0])
    assert again is not kept and np.array_equal(again, kept)
    # Using a table makes it recent: it survives the next insertions.
    t4 = geometry.pair_tables(maps[4])
    geometry.pair_tables(maps[1])
    geometry.pair_tables(maps[2])
    assert geometry.pair_tables(maps[4]) is t4
