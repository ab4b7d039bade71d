"""Viewer page size and load time for the largest built-in scenario's 200-tick replay.

Skirmish (8 v 8 on 24 x 24, 200 ticks; random_field ties it in size) is
recorded to the time limit twice: a doctrine battle (retreat vs ambush) and a
network battle (one untrained checkpoint on both sides, fixed seed), whose
replay also stores the action probabilities of all 16 units at every tick,
the largest a 200-tick 16-unit page gets. Each becomes one HTML page, opened
from disk in headless Chromium (Debian's ``chromium`` through Playwright):
load time is from navigation start to the viewer's first complete draw
(``performance.now()`` when the page marks itself ready), median of several
fresh loads.

Baselines measured in the same run and browser: an empty HTML page, and the
viewer with a one-frame Duel replay (its fixed cost: script, layout, first
draw). Ratios against them are what carry across machines.

Usage: python benchmarks/viewer.py [--loads N] [--screenshot docs/viewer.png]. The last
line is JSON. Without Chromium or Playwright it reports sizes only (load times null).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from cgfsim.sim.doctrines import get_doctrine
from cgfsim.sim.engine import Engine
from cgfsim.sim.replay import Replay, ReplayRecorder
from cgfsim.sim.scenario import load_scenario
from cgfsim.viewer import build_html, headless

SCENARIO = "skirmish"


def battle(blue: Any, red: Any, traces: dict[int, Any] | None, worlds: int = 8) -> Replay:
    """Record ``worlds`` episodes of Skirmish; blue/red are ``fn(engine, side)`` players."""
    from cgfsim.agents.evaluation import policy_outputs

    eng = Engine(load_scenario(SCENARIO), worlds, seed=0)
    rec = ReplayRecorder(eng, worlds=list(range(worlds)))
    rec.record()
    while not eng.done.all():
        act = np.concatenate([blue(eng, 0), red(eng, 1)], 1)
        eng.step(act)
        rec.record(act, *policy_outputs(eng, traces))
    return rec.replay()


def full_length(rep: Replay) -> int:
    """The first track that lasted to the time limit."""
    for w in range(rep.n_worlds):
        if rep.length(w) == rep.scenario.max_ticks + 1:
            return w
    raise SystemExit("no battle reached the time limit; change the seed")


def network_battle() -> Replay:
    import torch

    from cgfsim.agents.evaluation import policy_opponent
    from cgfsim.agents.networks import PolicySpec, build_policy
    from cgfsim.envs.batched import BatchedCommanderEnv

    torch.set_num_threads(1)
    env = BatchedCommanderEnv(SCENARIO, 1, obs="vector")
    spec = PolicySpec.from_spaces(env.observation_space, env.action_space, hidden=(64, 64))
    net = build_policy(spec, seed=0)
    traces: dict[int, Any] = {0: {}, 1: {}}
    blue = policy_opponent(net, True, True, 0, "net", trace=traces[0])
    red = policy_opponent(net, True, True, 1, "net", trace=traces[1])
    return battle(blue, red, traces)


def load_ms(ctx: Any, path: Path, loads: int) -> float:
    """Median ms from navigation start to the page's ready mark, over fresh loads."""
    times = []
    for _ in range(loads):
        page = ctx.new_page()
        page.goto(path.as_uri())
        if path.name == "empty.html":  # no script: its load event ends it
            js = "performance.getEntriesByType('navigation')[0].loadEventEnd"
            ms = float(page.evaluate(js))
        else:
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            ms = float(page.get_attribute("body", "data-ready-ms") or "nan")
        page.close()
        times.append(ms)
    return statistics.median(times)


def screenshot(ctx: Any, folder: Path, out: Path) -> None:
    """The README picture: Defend (hill objective behind a river), blue's picture mid-battle."""
    eng = Engine(load_scenario("defend"), 4, seed=3)
    rec = ReplayRecorder(eng, worlds=[0])
    rec.meta.update(blue="defend", red="flank", seed=3)
    rec.record()
    b, r = get_doctrine("defend"), get_doctrine("flank")
    while not eng.done.all():
        act = np.concatenate([b(eng, 0), r(eng, 1)], 1)
        eng.step(act)
        rec.record(act)
    rep = rec.replay()
    page = folder / "shot.html"
    page.write_text(build_html([("defend.npz 0: defend vs flank", rep, 0)]), encoding="utf-8")
    tr = rep.track(0)
    nb = rep.scenario.n_slots[0]
    # a tick where blue sees some red units and has lost sight of others
    seen = tr["visible"][:, nb:] & tr["alive"][:, nb:]
    lost = tr["alive"][:, nb:] & ~tr["visible"][:, nb:] & np.maximum.accumulate(seen, 0)
    shots = (tr["shot_target"] >= 0).sum(1)
    score = seen.sum(1) * lost.sum(1) * (1 + shots)
    frame = int(np.argmax(score))
    p = ctx.new_page()
    p.goto(page.as_uri())
    p.wait_for_selector("body[data-ready='1']")
    p.evaluate(f"cgfViewer.setFrame({frame})")
    p.evaluate("cgfViewer.setView('blue')")
    out.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    # a 256-colour palette keeps the committed PNG small; the page has few colours anyway
    img = Image.open(io.BytesIO(p.screenshot())).convert("RGB")
    img.quantize(256, dither=Image.Dither.NONE).save(out, optimize=True)
    p.close()
    print(f"screenshot of Defend, blue's picture at tick {int(tr['tick'][frame])}: {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loads", type=int, default=9, help="fresh page loads per page (median)")
    ap.add_argument("--screenshot", type=Path, help="also write the README screenshot here")
    args = ap.parse_args()

    doctrine = battle(get_doctrine("retreat"), get_doctrine("ambush"), None)
    network = network_battle()
    duel = Engine(load_scenario("duel"), 1)
    one = ReplayRecorder(duel)
    one.record()
    with tempfile.TemporaryDirectory(prefix="cgfsim-viewer-bench-") as tmp:
        folder = Path(tmp)
        pages: dict[str, Path] = {}
        for name, rep in (("doctrine", doctrine), ("network", network)):
            w = full_length(rep)
            t0 = time.perf_counter()
            html = build_html([(f"{name} battle", rep, w)])
            build_s = time.perf_counter() - t0
            pages[name] = folder / f"{name}.html"
            pages[name].write_text(html, encoding="utf-8")
            print(
                f"{name}: {rep.length(w) - 1} ticks, {rep.scenario.n_units} units, "
                f"probabilities recorded: {rep.has_policy}; page built in {build_s:.2f} s"
            )
        pages["one-frame viewer"] = folder / "one.html"
        pages["one-frame viewer"].write_text(build_html([("one", one.replay(), 0)]))
        pages["empty"] = folder / "empty.html"
        pages["empty"].write_text("<!doctype html><title>empty</title>")
        sizes = {k: p.stat().st_size for k, p in pages.items()}
        why = headless.missing()
        times: dict[str, float | None] = dict.fromkeys(pages)
        if why:
            print(f"load times not measured: {why}")
        else:
            with headless.browser() as ctx:
                load_ms(ctx, pages["doctrine"], 1)  # warm-up: first browser start-up work
                for k, p in pages.items():
                    times[k] = load_ms(ctx, p, args.loads)
                if args.screenshot:
                    screenshot(ctx, folder, args.screenshot)
    print(f"{'page':>18} {'size':>10} {'load (median)':>14}")
    for k in pages:
        t = times[k]
        print(f"{k:>18} {sizes[k] / 1e3:>8.0f} kB {('-' if t is None else f'{t:.0f} ms'):>14}")
    out: dict[str, Any] = {
        "scenario": SCENARIO,
        "ticks": 200,
        "units": 16,
        "doctrine_page_bytes": sizes["doctrine"],
        "network_page_bytes": sizes["network"],
        "doctrine_load_ms": times["doctrine"],
        "network_load_ms": times["network"],
        "one_frame_viewer_load_ms": times["one-frame viewer"],
        "empty_page_load_ms": times["empty"],
        "loads": args.loads,
    }
    base = times["one-frame viewer"]
    if base and times["network"]:
        out["network_vs_one_frame_viewer"] = round(times["network"] / base, 2)
        print(f"network page / one-frame viewer: {out['network_vs_one_frame_viewer']:.2f}x")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
