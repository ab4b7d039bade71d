"""Fuzzed replay files: the only outcomes are a loaded Replay or the project's own error."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgfsim.sim.engine import Engine
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.replay import Replay, ReplayRecorder, load_replay
from cgfsim.sim.scenario import load_scenario


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    e = Engine(load_scenario("defend"), 2, seed=3)
    rec = ReplayRecorder(e, worlds=[0, 1])
    rec.record()
    rng = np.random.default_rng(0)
    for _ in range(6):
        a = rng.integers(0, 7, (2, e.U))
        e.step(a)
        rec.record(a)
    path = tmp_path_factory.mktemp("rp") / "good.npz"
    rec.save(path)
    with np.load(path, allow_pickle=False) as z:
        return path, {k: z[k] for k in z.files}


FIELDS = [
    "y",
    "x",
    "hp",
    "alive",
    "shot_target",
    "actions",
    "tick",
    "map_id",
    "outcome",
    "controller",
    "hold",
    "offsets",
    "terrain",
    "ammo",
]
VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0, -1, 1, 255, 32767, -32768]),
)


def _load(path: Path) -> None:
    try:
        rp = load_replay(path)
    except CgfsimError:
        return
    assert isinstance(rp, Replay)
    rp.summary(0)  # a replay that loads also renders its summary


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(FIELDS),
    value=VALUES,
    where=st.floats(0, 1),
    whole=st.booleans(),
    retype=st.booleans(),
)
def test_fuzzed_arrays(
    base, tmp_path: Path, field: str, value: float, where: float, whole: bool, retype: bool
) -> None:  # type: ignore[no-untyped-def]
    _, arrays = base
    a = np.array(arrays[field])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if retype:  # a file may store any dtype for a field
            a = a.astype(np.float64)
        v = np.array([value]).astype(a.dtype)[0]  # wraps as a crafted file would store it
        if whole:
            a = np.full_like(a, v)
        elif a.size:
            a.reshape(-1)[int(where * (a.size - 1))] = v
    out = tmp_path / "fuzz.npz"
    np.savez_compressed(out, **{**arrays, field: a})  # type: ignore[arg-type]
    _load(out)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzzed_bytes(base, tmp_path: Path, flips: list[tuple[float, int]]) -> None:  # type: ignore[no-untyped-def]
    path, _ = base
    data = bytearray(path.read_bytes())
    for where, byte in flips:
        data[int(where * (len(data) - 1))] = byte
    out = tmp_path / "bytes.npz"
    out.write_bytes(bytes(data))
    _load(out)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.sampled_from(["format", "version", "combat", "meta", "tracks", "worlds", "keys"]),
    value=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
)
def test_fuzzed_header(base, tmp_path: Path, key: str, value: object) -> None:  # type: ignore[no-untyped-def]
    _, arrays = base
    header = json.loads(str(arrays["header"]))
    header[key] = value
    out = tmp_path / "hdr.npz"
    np.savez_compressed(out, **{**arrays, "header": np.array(json.dumps(header))})  # type: ignore[arg-type]
    _load(out)
