"""A corpus of hostile inputs for the ``cgfsim`` command line, and a runner that classifies
what each one did: a clean error (exit 2, one line, no traceback), a traceback, a hang,
or silent acceptance.

The test suite runs it in-process (tests/hardening/test_hostile_inputs.py). As a script
it runs every case in a fresh process against any cgfsim on the path, which is how the
closing note's before/after table is made::

    python -m tests.hardening.corpus                 # this checkout
    PYTHONPATH=/tmp/old python -m tests.hardening.corpus --python .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GOOD_SCENARIO = """[scenario]
name = "Probe"
[map]
ascii = '''
......
..##..
......
......
'''
[zones]
blue_start = [0, 3, 5, 3]
red_start = [0, 0, 5, 0]
[forces.blue]
units = [{ type = "infantry", count = 2, zone = "blue_start" }]
[forces.red]
units = [{ type = "infantry", count = 2, zone = "red_start" }]
"""


@dataclass
class Case:
    kind: str  # the input class of the closing note's table
    argv: list[str]
    outputs: list[str] = field(default_factory=list)  # paths that must not be created


def _scenario_files(d: Path) -> list[tuple[str, str]]:
    """(name, text) of bad scenario files."""
    g = GOOD_SCENARIO
    obj = g + '[[objectives]]\nzone = "red_start"\nhold_ticks = 3\n'
    return [
        ("overflow-f32", g + "[rewards]\nwin = 4e38\n"),
        ("overflow-f64", g + "[rewards]\nwin = 1e308\n"),
        ("nan-weight", g + "[rewards]\nstep = nan\n"),
        ("deep-nesting", g + "x = " + "[" * 20000 + "]" * 20000 + "\n"),
        ("deep-tables", "a" + ".a" * 3000 + " = 1\n"),
        ("escape-codes", g.replace('name = "Probe"', 'name = "Probe"\ndescription = "\\u001b[2J"')),
        ("capturable-none", obj + "capturable_by = []\n"),
        (
            "objective-in-wall",
            g.replace("red_start = [0, 0, 5, 0]", "red_start = [0, 0, 5, 0]\nwall = [2, 1, 3, 1]")
            + '[[objectives]]\nzone = "wall"\n',
        ),
        ("unknown-doctrine", g.replace("[forces.red]", '[forces.red]\ndoctrine = "napoleon"')),
        (
            "huge-pool",
            g.replace(
                "ascii = '''\n......\n..##..\n......\n......\n'''",
                "random = { width = 48, height = 48, pool = 1024 }",
            ),
        ),
        ("bad-utf8", "\udcff"),
        ("binary", "\x00\x01\x02"),
        ("empty", ""),
        ("wrong-types", g.replace("count = 2", 'count = "two"')),
        ("negative-count", g.replace("count = 2", "count = -3")),
        ("huge-ticks", g + "[victory]\nmax_ticks = 99999999999\n"),
        ("unknown-key", g + "[victory]\nmax_tick = 10\n"),
        ("zone-outside", g.replace("[0, 0, 5, 0]", "[0, 0, 50, 0]")),
        ("overlap", g.replace("[0, 0, 5, 0]", "[0, 3, 5, 3]")),
        (
            "vp-out-of-range",
            g + '[victory]\ntime_limit = "points"\n[victory.points]\ninfantry = 1e9\n',
        ),
    ]


def _bad_checkpoints(d: Path) -> list[Path]:
    """Checkpoint folders broken in different ways (needs torch: made lazily)."""
    import hashlib

    import torch

    from cgfsim.agents.checkpoints import save_checkpoint
    from cgfsim.agents.networks import PolicySpec, build_policy
    from cgfsim.envs.observations import observation_shape

    torch.set_num_threads(1)
    spec = PolicySpec("vector", observation_shape("duel"), 2, 9, hidden=(8,))
    good = save_checkpoint(d / "good", build_policy(spec, seed=0), spec, {"scenario": "Duel"})
    doc = json.loads((good / "policy.json").read_text())
    out = []

    def variant(
        name: str,
        edit: Callable[[dict], object] | None,
        weights: bytes | None = None,
        raw: str | None = None,
    ) -> None:
        v = d / name
        v.mkdir()
        data = (good / "policy.pt").read_bytes() if weights is None else weights
        (v / "policy.pt").write_bytes(data)
        dd = json.loads(json.dumps(doc))
        dd["weights_sha256"] = hashlib.sha256(data).hexdigest()
        if edit is not None:
            edit(dd)
        (v / "policy.json").write_text(raw if raw is not None else json.dumps(dd))
        out.append(v)

    variant("huge-hidden", lambda x: x["spec"].update(hidden=[40000, 40000]))
    variant("str-hidden", lambda x: x["spec"].update(hidden="64"))
    variant("neg-units", lambda x: x["spec"].update(n_units=-2))
    variant("float-units", lambda x: x["spec"].update(n_units=2.5))
    variant("bool-actions", lambda x: x["spec"].update(n_actions=True))
    variant("null-shape", lambda x: x["spec"].update(obs_shape=None))
    variant("huge-shape", lambda x: x["spec"].update(obs_shape=[10**12]))
    variant("deep-json", None, raw="[" * 100000 + "]" * 100000)
    variant("no-digest", lambda x: x.pop("weights_sha256"))
    variant("num-digest", lambda x: x.update(weights_sha256=5))
    variant("str-version", lambda x: x.update(version="1"))
    variant("spec-list", lambda x: x.update(spec=[1]))
    variant("bad-heads", lambda x: x["spec"].update(attn_heads=0))
    flipped = bytearray((good / "policy.pt").read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    v = d / "flipped"
    v.mkdir()
    (v / "policy.pt").write_bytes(bytes(flipped))
    (v / "policy.json").write_text(json.dumps(doc))  # the old digest: a corrupted file
    out.append(v)
    pol = build_policy(spec, seed=0)
    with torch.no_grad():
        pol.action_net.bias[0] = float("nan")
    out.append(save_checkpoint(d / "nan-weights", pol, spec, {"scenario": "Duel"}))
    return out


def _bad_replays(d: Path) -> list[Path]:
    """Replay files broken in different ways."""
    import numpy as np

    from cgfsim.sim.engine import Engine
    from cgfsim.sim.replay import ReplayRecorder
    from cgfsim.sim.scenario import load_scenario

    e = Engine(load_scenario("defend"), 2, seed=0)  # with an objective
    rec = ReplayRecorder(e, worlds=[0, 1])
    rec.record()
    rng = np.random.default_rng(0)
    for _ in range(8):
        a = rng.integers(0, 5, (2, e.U))
        e.step(a)
        rec.record(a)
    good = d / "good.npz"
    rec.save(good)
    with np.load(good, allow_pickle=False) as z:
        base = {k: z[k] for k in z.files}
    out = []

    def variant(name: str, **changes: object) -> None:
        arrays = {**base, **changes}
        p = d / f"{name}.npz"
        np.savez_compressed(p, **arrays)  # type: ignore[arg-type]
        out.append(p)

    variant("y-off-map", y=base["y"] + 100)
    variant("x-negative", x=base["x"] - 50)
    variant("hp-nan", hp=np.full_like(base["hp"], np.nan))
    variant("hp-huge", hp=base["hp"] * 1000)
    variant("shot-no-slot", shot_target=np.full_like(base["shot_target"], 99))
    variant("action-huge", actions=np.full_like(base["actions"], 500))
    variant("outcome-code", outcome=np.full_like(base["outcome"], 9))
    variant("tick-negative", tick=base["tick"] - 1000)
    variant("controller-code", controller=np.full_like(base["controller"], 7))
    header = json.loads(str(base["header"]))
    variant("header-combat", header=np.array(json.dumps({**header, "combat": 5})))
    variant("header-meta", header=np.array(json.dumps({**header, "meta": [1, 2]})))
    variant("header-tracks", header=np.array(json.dumps({**header, "tracks": [1, 2]})))
    variant("bomb", hp=np.zeros((int(base["hp"].shape[0]), 2, 200_000), np.float32))
    trunc = d / "truncated.npz"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out.append(trunc)
    junk = d / "notzip.npz"
    junk.write_bytes(b"PK\x03\x04" + os.urandom(200))
    out.append(junk)
    nested = d / "nested-scenario.npz"
    text = ("x = " + "[" * 20000 + "]" * 20000 + "\n").encode()
    arrays = {**base, "scenario_text": np.frombuffer(text, np.uint8)}
    np.savez_compressed(nested, **arrays)  # type: ignore[arg-type]
    out.append(nested)
    with zipfile.ZipFile(d / "empty.npz", "w"):
        pass
    out.append(d / "empty.npz")
    return out


def build(d: Path, with_torch: bool = True) -> list[Case]:
    """Every case, with its input files written under ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    add = cases.append
    # ---- numbers and names on the command line
    for argv in (
        ["play", "duel", "--episodes", "4", "--seed", "-1"],
        ["play", "duel", "--episodes", "4", "--seed", "99999999999999999999999"],
        ["play", "duel", "--episodes", "0"],
        ["play", "duel", "--episodes", "-3"],
        ["play", "duel", "--episodes", "two"],
        ["play", "duel", "--episodes", "2", "--replay-worlds", "0"],
        ["play", "duel", "--episodes", "2", "--blue", "napoleon"],
        ["play", "duel", "--episodes", "2", "--combat", "magic"],
        ["play", "nowhere", "--episodes", "2"],
        ["show", "nowhere"],
        ["replay", str(d / "none.npz")],
        ["replay", str(d / "none.npz"), "--world", "-1"],
        ["replay", str(d / "none.npz"), "--fps", "0"],
        ["evaluate", "assault", "--scenario", "duel", "--episodes", "0"],
        ["evaluate", "assault", "--scenario", "duel", "--episodes", "3", "--n-envs", "0"],
        ["evaluate", "assault", "--scenario", "duel", "--episodes", "3", "--seed", "-4"],
        ["evaluate", "assault", "--scenario", "duel", "--episodes", "3", "--threads", "0"],
        ["evaluate", "napoleon", "--scenario", "duel", "--episodes", "3"],
        ["evaluate", "assault", "--scenario", "duel", "--opponent", ",", "--episodes", "3"],
        ["tournament", "assault,hold", "--scenario", "duel", "--episodes", "0"],
        ["tournament", "assault,napoleon", "--scenario", "duel", "--episodes", "2"],
        ["tournament", "assault,hold", "--scenario", "duel", "--seed", "-1"],
        ["train", "--algo", "ppo", "--steps", "0"],
        ["train", "--algo", "ppo", "--steps", "100", "--seed", "-5"],
        ["train", "--algo", "ppo", "--steps", "100", "--seed", "2147483648"],
        ["train", "--algo", "sarsa", "--steps", "100"],
        ["train", "--algo", "ppo", "--obs", "pixels", "--steps", "100"],
        ["train", "--algo", "ppo", "--policy", "gru", "--steps", "100"],
        ["train", "--algo", "ppo", "--steps", "100", "--eval-episodes", "-1"],
        ["train", "--algo", "ppo", "--steps", "100", "--threads", "0"],
        ["train", "--algo", "bc", "--steps", "100"],
        ["train", "--algo", "bc", "--dataset", "no/such-v0"],
        ["train", "--algo", "dagger", "--demo-steps", "0"],
        ["calibrate", "duel", "--episodes", "0"],
        ["calibrate", "duel", "--seed", "-1"],
        ["demos", "record", "--episodes", "0"],
        ["demos", "record", "--epsilon", "1.5", "--episodes", "2"],
        ["demos", "record", "--fractions", "0.5,0.5,0.5", "--episodes", "2"],
        ["demos", "info", "no/such-v0"],
        ["demos", "verify", "no/such-v0", "--sample", "0"],
        ["export", str(d / "none"), "--out", str(d / "exp"), "--opset", "3"],
        ["lab", "run", str(d / "none.toml"), "--workers", "0"],
        ["lab", "run", str(d / "none.toml")],
        ["lab", "report", str(d / "none")],
    ):
        add(Case("command line: numbers and names", argv))
    # ---- --set values
    for kv in (
        "n_envs=abc",
        "learning_rate=fast",
        "gamma=3",
        "n_steps=-5",
        "batch_size=1",
        "hidden=[a]",
        "hidden=64.5",
        "ent_coef=nan",
        "clip_range=lin_x",
        "n_epochs=0",
        "torch_threads=0",
        "activation=7",
        "=3",
        "novalue",
    ):
        add(
            Case(
                "command line: --set values",
                [
                    "train",
                    "--algo",
                    "ppo",
                    "--steps",
                    "100",
                    "--out",
                    str(d / "setrun"),
                    "--set",
                    kv,
                ],
                [str(d / "setrun")],
            )
        )
    for kv in ("pop=abc", "pop=1", "sigma=-1", "mutpb=2", "hidden=x"):
        add(
            Case(
                "command line: --set values",
                ["train", "--algo", "ga", "--steps", "100", "--out", str(d / "garun"), "--set", kv],
                [str(d / "garun")],
            )
        )
    # ---- output paths
    (d / "file.txt").write_text("x")
    for flag_argv in (
        ["play", "duel", "--episodes", "2", "--json", str(d)],
        ["play", "duel", "--episodes", "2", "--json", "/proc/nope/x.json"],
        ["play", "duel", "--episodes", "2", "--json", str(d / "file.txt" / "x.json")],
        ["play", "duel", "--episodes", "2", "--replay", str(d)],
        ["play", "duel", "--episodes", "2", "--replay", "/proc/nope/r.npz"],
        ["evaluate", "assault", "--scenario", "duel", "--episodes", "2", "--json", str(d)],
        ["evaluate", "assault", "--scenario", "duel", "--episodes", "2", "--json", "/sys/x.json"],
        ["tournament", "assault,hold", "--scenario", "duel", "--episodes", "2", "--json", str(d)],
        ["train", "--algo", "ppo", "--steps", "100", "--out", str(d / "file.txt")],
        ["train", "--algo", "ppo", "--steps", "100", "--out", "/proc/nope/run"],
        ["calibrate", "duel", "--episodes", "2", "--json", str(d)],
        ["lab", "run", str(d / "none.toml"), "--out", str(d / "file.txt")],
    ):
        add(Case("output paths", flag_argv))
    # ---- scenario files
    for name, text in _scenario_files(d):
        p = d / f"{name}.toml"
        p.write_text(text, errors="surrogateescape")
        add(Case("scenario files", ["show", str(p)]))
        add(Case("scenario files", ["play", str(p), "--episodes", "2"]))
    sdir = d / "dir.toml"
    sdir.mkdir(exist_ok=True)
    add(Case("scenario files", ["show", str(sdir)]))
    fifo = d / "fifo.toml"
    if not fifo.exists():
        os.mkfifo(fifo)
    add(Case("scenario files", ["show", str(fifo)]))
    # ---- replays
    for p in _bad_replays(d / "replays"):
        add(Case("replays", ["replay", str(p)]))
    add(Case("replays", ["replay", str(d / "replays" / "good.npz"), "--html", str(d)]))
    # ---- checkpoints
    if with_torch:
        (d / "ckpts").mkdir(exist_ok=True)
        for p in _bad_checkpoints(d / "ckpts"):
            add(Case("checkpoints", ["evaluate", str(p), "--scenario", "duel", "--episodes", "2"]))
    return cases


def classify(rc: int | None, err: str, made: list[str]) -> str:
    """clean | traceback | hang | accepted | messy (several lines) | left files."""
    if rc is None:
        return "hang"
    if "Traceback (most recent call last)" in err:
        return "traceback"
    if rc == 0:
        return "accepted"
    if made:
        return "left files"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if rc == 2 and len(lines) == 1 and lines[0].startswith("cgfsim"):
        return "clean"
    return "messy"


def run_subprocess(case: Case, python: str, timeout: float, cwd: Path) -> str:
    """Run one case in a fresh process; ``cwd`` is neutral so ``PYTHONPATH`` picks the code."""
    code = "import sys; from cgfsim.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        p = subprocess.run(
            [python, "-c", code, *case.argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, ""
    return classify(rc, err, [o for o in case.outputs if Path(o).exists()])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--dir", default="/tmp/cgfsim-hostile")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args(argv)
    shutil.rmtree(args.dir, ignore_errors=True)  # fresh inputs every run
    cases = build(Path(args.dir))
    table: dict[str, Counter[str]] = {}
    for c in cases:
        res = run_subprocess(c, args.python, args.timeout, Path(args.dir))
        table.setdefault(c.kind, Counter())[res] += 1
        if res != "clean":
            print(f"{res:10s} {' '.join(c.argv)[:150]}", file=sys.stderr)
    print(f"{'input class':34s} {'tried':>5s} {'clean':>5s}  other")
    for kind, cnt in table.items():
        other = ", ".join(f"{k} {v}" for k, v in sorted(cnt.items()) if k != "clean")
        print(f"{kind:34s} {sum(cnt.values()):5d} {cnt['clean']:5d}  {other}")
    total = sum(table.values(), Counter())
    print(f"{'all':34s} {sum(total.values()):5d} {total['clean']:5d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
