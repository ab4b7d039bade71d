"""``cgfsim scenarios``, ``show``, ``play`` and ``replay``: the engine's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.runs import atomic_write_text
from cgfsim.cli import _args as A
from cgfsim.sim.errors import CgfsimError


def _player(
    name: str, flag: str, engine: Any, side: int, seed: int
) -> tuple[str, Any, dict[str, Any] | None]:
    """(name, ``fn(engine, side) -> actions``, trace) for a doctrine, a checkpoint folder or
    an exported (ONNX) folder, which runs in ONNX Runtime.

    A network must fit the side it plays; it acts greedily over valid actions, as in
    ``cgfsim evaluate``, and leaves its action probabilities in the trace so replays
    can store them.
    """
    from cgfsim.sim.doctrines import ALIASES, DOCTRINES, get_doctrine

    if ALIASES.get(name, name) in DOCTRINES:
        fn = get_doctrine(ALIASES.get(name, name))
        return fn.__name__, fn, None
    if not Path(name).exists():
        raise CgfsimError(
            f"{flag} {name!r}: not a doctrine ({', '.join(DOCTRINES)}), a checkpoint folder "
            "nor an exported (ONNX) folder"
        )
    from gymnasium import spaces

    from cgfsim.agents.checkpoints import check_compatible
    from cgfsim.agents.evaluation import load_player, policy_opponent
    from cgfsim.envs.observations import ObservationBuilder
    from cgfsim.sim.actions import n_actions

    _, (policy, spec, _meta) = load_player(name)  # a corrupt checkpoint fails here, in one line
    n_own, n_enemy = engine.scenario.n_slots[side], engine.scenario.n_slots[1 - side]
    obs = ObservationBuilder(engine, side, spec.obs_mode).space
    act = spaces.MultiDiscrete([n_actions(n_enemy)] * n_own)
    check_compatible(spec, obs, act, where=f"{flag} {name}")
    trace: dict[str, Any] = {}
    return name, policy_opponent(policy, True, True, seed, name, trace=trace), trace


# ------------------------------------------------------------------ commands


def cmd_scenarios(args: argparse.Namespace) -> int:
    from cgfsim.envs.registration import NAMESPACE, builtin_ids
    from cgfsim.sim.scenario import builtin_names, load_scenario

    ids = {stem: env_id for env_id, stem in builtin_ids().items()}
    print(f"{'name':14s} {'gymnasium id':22s} {'map':16s} forces  description")
    for n in builtin_names():
        sc = load_scenario(n)
        size = f"{sc.width}x{sc.height}" + (f" x{len(sc.maps)} maps" if len(sc.maps) > 1 else "")
        forces = f"{sum(sc.present[: sc.n_slots[0]])}v{sum(sc.present[sc.n_slots[0] :])}"
        print(f"{n:14s} {ids.get(n, '-'):22s} {size:16s} {forces:7s} {sc.description}")
    print(f"any file: gymnasium.make('{NAMESPACE}/Scenario-v0', path='my.toml')")
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
    rules = [f"time limit {sc.max_ticks} ticks ({_time_limit_text(sc)})"]
    if sc.annihilation:
        rules.insert(0, "annihilation")
    if sc.objective_victory:
        rules.insert(0, "objective hold")
    print(f"victory: {', '.join(rules)}; combat: {sc.combat}")
    return 0


def _time_limit_text(sc: Any) -> str:
    """How the end of time is decided, in one line."""
    vp = sc.points
    if vp is None:
        return "draw"
    from cgfsim.sim.units import UNIT_TYPES

    vals = ", ".join(f"{t.name} {v:g}" for t, v in zip(UNIT_TYPES, vp.unit_values, strict=True))
    parts = [f"victory points: {vp.attrition} units ({vals})"]
    if vp.objective_held:
        parts.append(f"{vp.objective_held:g} per objective held at the end")
    if vp.objective_tick:
        parts.append(f"{vp.objective_tick:g} per objective per tick held")
    return "; ".join(parts) + f"; a lead above {vp.draw_margin:g} wins, else a draw"


def cmd_play(args: argparse.Namespace) -> int:
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.metrics import rate_rows, summarise
    from cgfsim.sim.scenario import load_scenario

    sc = load_scenario(args.scenario)
    eng = Engine(sc, args.episodes, seed=args.seed, combat=args.combat)
    blue_name = args.blue or sc.doctrine_hint[0] or "assault"
    red_name = args.red or sc.doctrine_hint[1] or "assault"
    bn, blue, blue_trace = _player(blue_name, "--blue", eng, 0, args.seed)
    rn, red, red_trace = _player(red_name, "--red", eng, 1, args.seed + 1)
    traces = {s: t for s, t in ((0, blue_trace), (1, red_trace)) if t is not None}
    rec = None
    if args.replay:
        from cgfsim.sim.replay import ReplayRecorder

        rec = ReplayRecorder(eng, worlds=list(range(min(args.replay_worlds, args.episodes))))
        rec.meta.update(blue=bn, red=rn, seed=args.seed)
        rec.record()
    # Each world plays exactly one episode: finished worlds stay frozen until all are done.
    from tqdm import tqdm

    bar = tqdm(total=sc.max_ticks, disable=args.quiet or not sys.stderr.isatty(), desc="ticks")
    while not eng.done.all():
        acts = np.concatenate([blue(eng, 0), red(eng, 1)], 1)
        eng.step(acts)
        if rec is not None:
            if not traces:
                rec.record(acts)
            else:
                from cgfsim.agents.evaluation import policy_outputs

                rec.record(acts, *policy_outputs(eng, traces))
        bar.update(1)
    bar.close()
    s = summarise(eng.outcome, eng.tick, eng.losses())
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


def _replay_label(file: str, rp: Any, w: int, many_files: bool) -> str:
    info = rp.tracks[w] if w < len(rp.tracks) else {}
    name = Path(file).name if many_files else "track"
    where = f"world {info['world']}, episode {info['episode']}" if info else ""
    meta = rp.meta
    who = ""
    if "blue" in meta and "red" in meta:
        who = f"{meta['blue']} vs {meta['red']}"
    elif "policy" in meta:
        who = f"{meta['policy']} ({meta.get('side', 'blue')}) vs {meta.get('opponent', '?')}"
    return " ".join(part for part in (f"{name} {w}:", who, f"[{where}]" if where else "") if part)


def cmd_replay(args: argparse.Namespace) -> int:
    from cgfsim.sim.replay import load_replay, scenario_drift

    files = list(args.file)
    if len(files) > 1 and (args.gif or args.frames):
        raise CgfsimError("--gif and --frames take one replay file; --html takes several")
    replays = []
    for f in files:
        rp = load_replay(f)
        drift = scenario_drift(rp)
        if drift and not args.allow_changed_scenario:
            raise CgfsimError(
                f"{f}: {drift}; it embeds the scenario as recorded: pass "
                "--allow-changed-scenario to use it anyway"
            )
        if args.world is not None and not 0 <= args.world < rp.n_worlds:
            raise CgfsimError(
                f"--world {args.world} out of range; {f} holds worlds 0..{rp.n_worlds - 1}"
            )
        replays.append(rp)
    w = args.world or 0
    if args.html:
        from cgfsim.viewer import build_html

        items = []
        for f, rp in zip(files, replays, strict=True):
            tracks = range(rp.n_worlds) if args.world is None else [args.world]
            items += [(_replay_label(f, rp, t, len(files) > 1), rp, t) for t in tracks]
        names = sorted({rp.scenario.name for rp in replays})
        page = build_html(items, f"cgfsim replay: {', '.join(names)}")
        try:
            atomic_write_text(args.html, page)
        except OSError as e:
            raise CgfsimError(f"--html {args.html}: cannot write ({e.strerror or e})") from None
        size = len(page.encode("utf-8"))
        print(f"HTML viewer of {len(items)} replay(s) written to {args.html} ({size / 1e3:.0f} kB)")
    rp = replays[0]
    if args.gif:
        rp.save_gif(args.gif, world=w, fps=args.fps)
        print(f"GIF of {rp.length(w)} frames written to {args.gif}")
    if args.frames:
        color = sys.stdout.isatty() and not args.no_color
        for t in range(rp.length(w)):
            print(rp.frame_text(w, t, color=color))
            print()
    for rp in replays:
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
    s.add_argument("--episodes", type=A.count, default=100)
    s.add_argument(
        "--seed", type=A.world_key, default=0, help="world i gets key seed + i (default 0)"
    )
    s.add_argument("--combat", choices=["stochastic", "expected"], default=None)
    s.add_argument(
        "--replay", type=A.out_file, metavar="FILE", help="record episodes to this replay file"
    )
    s.add_argument(
        "--replay-worlds", type=A.count, default=1, help="episodes to record (default 1)"
    )
    s.add_argument("--json", type=A.out_file, metavar="FILE", help="also write the results as JSON")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_play)
    s = sub.add_parser(
        "replay", help="summarise replays; render them as text, a GIF or an HTML viewer"
    )
    s.add_argument("file", nargs="+", help="replay file(s); several only with --html")
    s.add_argument(
        "--html",
        type=A.out_file,
        metavar="OUT",
        help="write a self-contained HTML after-action viewer of every recorded episode",
    )
    s.add_argument("--gif", type=A.out_file, metavar="OUT", help="write an animated GIF")
    s.add_argument("--fps", type=A.count, default=8)
    s.add_argument(
        "--world",
        type=A.index,
        default=None,
        help="which recorded episode (default: 0; --html: all)",
    )
    s.add_argument(
        "--allow-changed-scenario",
        action="store_true",
        help="use a replay whose scenario file changed since it was recorded",
    )
    s.add_argument("--frames", action="store_true", help="print every tick as text")
    s.add_argument("--no-color", action="store_true")
    s.set_defaults(func=cmd_replay)
