"""``cgfsim demos record|info|split|verify|from-replays``: demonstration datasets (Minari).

A DATASET argument is a Minari dataset id (looked up under ``--root``, else
``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``) or the path of a
dataset folder. Every argument is checked before anything is recorded or
written; bad input ends with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cgfsim.cli import _args as A
from cgfsim.sim.errors import CgfsimError


def parse_fractions(text: str) -> tuple[float, ...]:
    """``0.8,0.1,0.1`` -> (0.8, 0.1, 0.1); checked to be three numbers summing to 1."""
    from cgfsim.agents.demos import check_fractions

    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        msg = f"--fractions expects three numbers like 0.8,0.1,0.1, got {text!r}"
        raise CgfsimError(msg) from None
    return check_fractions(vals)


def _print_info(info: dict[str, Any]) -> None:
    d = info.get("demonstrator", {})
    who = d.get("name") if d.get("kind") == "doctrine" else f"{d.get('kind')} {d.get('name')}"
    wr = info.get("demonstrator_win_rate")
    lines = [
        f"dataset {info['dataset_id']} ({info.get('size_mb')} MB) at {info['path']}",
        f"  scenario {info['scenario']} (sha256 {str(info.get('scenario_sha256'))[:12]}), "
        f"{info.get('combat')} combat, engine {info.get('engine_version')}",
        f"  demonstrator {who} ({info['side']}) vs {info['opponent']}, "
        f"epsilon {info.get('epsilon', 0):g}, {info['obs']} observations {info.get('obs_shape')}, "
        f"{info.get('n_units')} units x {info.get('n_actions')} actions",
        f"  data volume: {info['episodes']} episodes, {info['transitions']} transitions "
        f"(recorded in {info.get('recording_env_steps')} env steps, "
        f"{info.get('transitions_per_s')} transitions/s)",
    ]
    if wr is not None:
        rec = info.get("demonstrator_record", {})
        lines.append(
            f"  demonstrator's own record: win rate {wr:.3f} ({rec.get('wins')} wins, "
            f"{rec.get('draws')} draws, {rec.get('losses')} losses)"
        )
    fr = info.get("split_fractions")
    if fr:
        lines.append(
            f"  splits by world key (seed {info.get('split_seed')}, fractions "
            f"{'/'.join(f'{x:g}' for x in fr)}):"
        )
        for name, s in info.get("splits", {}).items():
            lines.append(f"    {name:<10} {s['episodes']:>7} episodes {s['transitions']:>9} steps")
    if info.get("env_id"):
        lines.append(f"  dataset.recover_environment() -> {info['env_id']}")
    print("\n".join(lines))


def cmd_record(args: argparse.Namespace) -> int:
    from cgfsim.agents.demos import record_demos

    info = record_demos(
        args.scenario,
        args.demonstrator,
        opponent=args.opponent,
        episodes=args.episodes,
        obs=args.obs,
        side=args.side,
        seed=args.seed,
        epsilon=args.epsilon,
        episodes_per_world=args.episodes_per_world,
        n_envs=args.n_envs,
        dataset_id=args.name,
        root=args.root,
        fractions=parse_fractions(args.fractions),
        split_seed=args.split_seed,
        progress=not args.quiet,
    )
    _print_info(info)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from cgfsim.agents.demos import dataset_info

    info = dataset_info(args.dataset, args.root)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        _print_info(info)
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from cgfsim.agents.demos import split_dataset

    s = split_dataset(args.dataset, parse_fractions(args.fractions), args.seed, args.root)
    sizes = ", ".join(
        f"{k} {v['episodes']} episodes / {v['transitions']} steps" for k, v in s["sizes"].items()
    )
    print(f"split {args.dataset} by world key (seed {args.seed}): {sizes}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from cgfsim.agents.demo_regen import verify_dataset

    if args.sample < 1:
        raise CgfsimError(f"--sample must be >= 1, got {args.sample}")
    r = verify_dataset(args.dataset, args.sample, args.seed, args.root, not args.quiet)
    print(
        f"verified {r['checked_episodes']} of {r['of_episodes']} episodes "
        f"({r['checked_transitions']} transitions) of {r['dataset_id']}: re-simulated from "
        f"their world keys, identical bit for bit (engine {r['engine_version']}, recorded "
        f"with {r['recorded_engine_version']})"
    )
    return 0


def cmd_from_replays(args: argparse.Namespace) -> int:
    from cgfsim.agents.demo_regen import demos_from_replays

    info = demos_from_replays(
        args.replays,
        side=args.side,
        obs=args.obs,
        dataset_id=args.name,
        root=args.root,
        fractions=parse_fractions(args.fractions),
        split_seed=args.split_seed,
        progress=not args.quiet,
    )
    _print_info(info)
    return 0


def register(sub: Any) -> None:
    """Add ``demos`` and its sub-commands to the ``cgfsim`` parser."""
    p = sub.add_parser(
        "demos",
        help="demonstration datasets (Minari): record, info, split, verify, from-replays",
        description="Record demonstrations on the batched engine into Minari datasets, "
        "split them by episode, and check that they regenerate bit for bit.",
    )
    dsub = p.add_subparsers(dest="demos_command", required=True, metavar="SUBCOMMAND")

    def root(s: argparse.ArgumentParser) -> None:
        s.add_argument(
            "--root", help="Minari datasets folder (default $MINARI_DATASETS_PATH or ~/.minari)"
        )

    def splits(s: argparse.ArgumentParser) -> None:
        s.add_argument("--fractions", default="0.8,0.1,0.1", help="train,validation,test")
        s.add_argument("--split-seed", type=A.seed, default=0, help="seed of the episode split")

    s = dsub.add_parser("record", help="record demonstrations on the batched engine")
    s.add_argument("--scenario", default="duel", help="built-in name or TOML path")
    s.add_argument("--demonstrator", default="assault", help="doctrine or checkpoint folder")
    s.add_argument("--opponent", default="random", help="doctrine of the other side")
    s.add_argument("--episodes", type=A.count, default=1000)
    s.add_argument("--obs", default="vector", help="vector | grid | entities")
    s.add_argument("--side", choices=["blue", "red"], default="blue")
    s.add_argument("--seed", type=A.seed, default=0, help="demo-split world keys of this seed")
    s.add_argument(
        "--epsilon", type=A.fraction, default=0.0, help="chance of a random valid action per unit"
    )
    s.add_argument("--episodes-per-world", type=A.count, default=1)
    s.add_argument("--n-envs", type=A.count, default=None, help="worlds per batch (default: auto)")
    s.add_argument("--name", help="dataset id, namespace/name-v0 (default: derived)")
    root(s)
    splits(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_record)

    s = dsub.add_parser("info", help="what a dataset holds: data volume, provenance, splits")
    s.add_argument("dataset", help="dataset id or folder")
    root(s)
    s.add_argument("--json", action="store_true", help="print the info as JSON")
    s.set_defaults(func=cmd_info)

    s = dsub.add_parser("split", help="split a dataset by episode into train/validation/test")
    s.add_argument("dataset", help="dataset id or folder")
    s.add_argument("--fractions", default="0.8,0.1,0.1", help="train,validation,test")
    s.add_argument("--seed", type=A.seed, default=0)
    root(s)
    s.set_defaults(func=cmd_split)

    s = dsub.add_parser("verify", help="re-simulate a sample of episodes, compare bit for bit")
    s.add_argument("dataset", help="dataset id or folder")
    s.add_argument("--sample", type=A.count, default=32, help="episodes to re-simulate")
    s.add_argument("--seed", type=A.seed, default=0, help="seed of the sample")
    root(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_verify)

    s = dsub.add_parser("from-replays", help="a dataset from replay files (.cgfr / .npz)")
    s.add_argument("replays", nargs="+", help="replay files of one scenario")
    s.add_argument("--side", choices=["blue", "red"], default="blue", help="the side to learn")
    s.add_argument("--obs", default="vector", help="vector | grid | entities")
    s.add_argument("--name", help="dataset id, namespace/name-v0 (default: derived)")
    root(s)
    splits(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_from_replays)
