"""``cgfsim scenarios``, ``show``, ``play`` and ``replay``: the engine's commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from cgfsim.agents.runs import atomic_write_text
from cgfsim.sim.errors import CgfsimError


def _player(name: str, engine: Any, side: int) -> Any:
    """A doctrine, or a checkpoint / exported folder as a frozen network ``fn(engine, side)``.

    Networks act greedily over valid actions (the evaluation mode of every learner); an
    exported folder runs in ONNX Runtime. A network that does not fit the scenario's
    observation or slot counts fails here, before the battle.
    """
    from cgfsim.sim.doctrines import ALIASES, DOCTRINES, get_doctrine

    if ALIASES.get(name, name) in DOCTRINES:
        return get_doctrine(ALIASES.get(name, name))
    from gymnasium import spaces

    from cgfsim.agents.checkpoints import check_compatible
    from cgfsim.agents.evaluation import load_player, policy_opponent
    from cgfsim.envs.observations import ObservationBuilder
    from cgfsim.sim.actions import n_actions

    _, (net, spec, _meta) = load_player(name)  # not a doctrine: a folder or an error
    ob = ObservationBuilder(engine, side, spec.obs_mode)
    check_compatible(spec, ob.space, spaces.MultiDiscrete([n_actions(ob.E)] * ob.O), where=name)
    return policy_opponent(net, name=name)


# ------------------------------------------------------------------ commands


def cmd_scenarios(args: argparse.Namespace) -> int:
    from cgfsim.sim.scenario import builtin_names, load_scenario

    for n in builtin_names():
        sc = load_scenario(n)
        size = f"{sc.width}x{sc.height}" + (f" x{len(sc.maps)} maps" if len(sc.maps) > 1 else "")
        print(
            f"{n:14s} {sc.name:12s} {size:16s} {sum(sc.present[: sc.n_slots[0]])}v"
            f"{sum(sc.present[sc.n_slots[0] :])}  {sc.description}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from cgfsim.sim import terrain
    from cgfsim.sim.scenario import load_scenario

    sc = load_scenario(args.scenario)
    print(f"{sc.name}: {sc.description}")
    print(f"source: {sc.source}")
    pool = f", random maps: pool of {len(sc.maps)} (showing map 0)" if len(sc.maps) > 1 else ""
    print(f"map {sc.width}x{sc.height}{pool}")
    grid = [[terrain.CHAR[terrain.Terrain(int(c))] for c in row] for row in sc.maps[0]]
    width = len(str(sc.width - 1))
    print(" " * 4 + "".join(str(c % 10) for c in range(sc.width)))
    for r, row in enumerate(grid):
        print(f"{r:>{max(width, 3)}} " + "".join(row))
    print("\nlegend:\n  " + terrain.describe().replace("\n", "\n  "))
    print("\nzones (x0, y0, x1, y1):")
    for z, rect in sc.zones.items():
        print(f"  {z:14s} {rect}")
    for side, name in ((0, "blue"), (1, "red")):
        hint = sc.doctrine_hint[side] or "-"
        print(f"{name:5s} force: {sc.force_summary(side)}; doctrine hint: {hint}")
    for o in sc.objectives:
        who = " and ".join(s for s, ok in zip(("blue", "red"), o.capturable_by, strict=True) if ok)
        print(
            f"objective {o.name!r}: zone {o.zone} {o.rect}, hold {o.hold_ticks} ticks, "
            f"capturable by {who}"
        )
    rules = [f"time limit {sc.max_ticks} ticks (draw)"]
    if sc.annihilation:
        rules.insert(0, "annihilation")
    if sc.objective_victory:
        rules.insert(0, "objective hold")
    print(f"victory: {', '.join(rules)}; combat: {sc.combat}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.metrics import rate_rows, summarise
    from cgfsim.sim.scenario import load_scenario

    if args.episodes < 1:
        raise CgfsimError(f"--episodes must be >= 1, got {args.episodes}")
    sc = load_scenario(args.scenario)
    eng = Engine(sc, args.episodes, seed=args.seed, combat=args.combat)
    blue = _player(args.blue or sc.doctrine_hint[0] or "assault", eng, 0)
    red = _player(args.red or sc.doctrine_hint[1] or "assault", eng, 1)
    rec = None
    if args.replay:
        from cgfsim.sim.replay import ReplayRecorder

        rec = ReplayRecorder(eng, worlds=list(range(min(args.replay_worlds, args.episodes))))
        rec.meta.update(blue=blue.__name__, red=red.__name__, seed=args.seed)
        rec.record()
    # Each world plays exactly one episode: finished worlds stay frozen until all are done.
    from tqdm import tqdm

    bar = tqdm(total=sc.max_ticks, disable=args.quiet or not sys.stderr.isatty(), desc="ticks")
    while not eng.done.all():
        acts = np.concatenate([blue(eng, 0), red(eng, 1)], 1)
        eng.step(acts)
        if rec is not None:
            rec.record(actions=acts)
        bar.update(1)
    bar.close()
    s = summarise(eng.outcome, eng.tick, eng.losses())
    bn, rn = blue.__name__, red.__name__
    combat = args.combat or sc.combat
    lines = [
        f"{sc.name}: blue {bn} vs red {rn}, {s.episodes} episodes, seed {args.seed}, "
        f"{combat} combat",
    ]
    counts = [("blue wins", s.blue_wins), ("red wins", s.red_wins), ("draws", s.draws)]
    lines += rate_rows(counts, s.episodes)
    lines.append(
        f"mean episode length {s.mean_length:.1f} ticks; mean losses per episode: "
        f"blue {s.blue_losses:.2f}, red {s.red_losses:.2f}"
    )
    print("\n".join(lines))
    if args.json:
        out = {
            "scenario": sc.name,
            "blue": bn,
            "red": rn,
            "seed": args.seed,
            "combat": combat,
            **s.to_dict(),
        }
        atomic_write_text(args.json, json.dumps(out, indent=2) + "\n")
    if rec is not None:
        rec.save(args.replay)
        print(f"replay of {len(rec.worlds)} episode(s) written to {args.replay}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from cgfsim.sim.replay import load_replay

    rp = load_replay(args.file)
    w = args.world
    if not 0 <= w < rp.n_worlds:
        raise CgfsimError(f"--world {w} out of range; the replay holds worlds 0..{rp.n_worlds - 1}")
    if args.gif:
        rp.save_gif(args.gif, world=w, fps=args.fps)
        print(f"GIF of {rp.length(w)} frames written to {args.gif}")
    if args.frames:
        color = sys.stdout.isatty() and not args.no_color
        for t in range(rp.length(w)):
            print(rp.frame_text(w, t, color=color))
            print()
    print(rp.summary(w))
    return 0


# ------------------------------------------------------------------ parser


def register(sub: Any) -> None:
    """Add ``scenarios``, ``show``, ``play`` and ``replay`` to the sub-command parser."""
    s = sub.add_parser("scenarios", help="list built-in scenarios")
    s.set_defaults(func=cmd_scenarios)
    s = sub.add_parser("show", help="print a scenario's map and forces")
    s.add_argument("scenario", help="built-in name or path to a scenario TOML file")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("play", help="N episodes in one batch, headless, between two players")
    s.add_argument("scenario", help="built-in name or path to a scenario TOML file")
    players = "doctrine, checkpoint folder or exported (ONNX) folder"
    s.add_argument("--blue", help=f"blue {players} (default: the scenario's hint)")
    s.add_argument("--red", help=f"red {players} (default: the scenario's hint)")
    s.add_argument("--episodes", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--combat", choices=["stochastic", "expected"], default=None)
    s.add_argument("--replay", metavar="FILE", help="record episodes to this replay file")
    s.add_argument("--replay-worlds", type=int, default=1, help="episodes to record (default 1)")
    s.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_play)
    s = sub.add_parser("replay", help="summarise a replay; render it as text or a GIF")
    s.add_argument("file")
    s.add_argument("--gif", metavar="OUT", help="write an animated GIF")
    s.add_argument("--fps", type=int, default=8)
    s.add_argument("--world", type=int, default=0, help="which recorded episode")
    s.add_argument("--frames", action="store_true", help="print every tick as text")
    s.add_argument("--no-color", action="store_true")
    s.set_defaults(func=cmd_replay)
