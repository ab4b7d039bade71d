"""``cgfsim train``, ``cgfsim evaluate`` and ``cgfsim tournament``.

:func:`register` adds the three sub-commands to the ``cgfsim`` parser. Heavy
imports (torch, SB3, DEAP) happen inside the commands, so ``cgfsim --help``
stays fast. Bad input raises :class:`~cgfsim.sim.errors.CgfsimError`, which
the main program prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

from cgfsim.sim.errors import CgfsimError

ALGOS = ("ppo", "a2c", "rppo", "maskppo", "ga", "cmaes")
OBS = ("vector", "grid", "entities")
POLICIES = ("mlp", "lstm")


def _set_threads(n: int | None) -> None:
    """Torch threads, chosen deliberately: env (numpy) and network share the cores."""
    import torch

    torch.set_num_threads(max(1, int(n or 1)))


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values are TOML literals (``0.1``, ``[64, 64]``, ``true``) or text."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise CgfsimError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw.strip()
    return out


def check_combo(algo: str, obs: str, policy: str) -> str:
    """Validate algo x obs x policy before anything heavy runs; returns the canonical algo."""
    a = algo.lower()
    if a not in ALGOS:
        raise CgfsimError(f"unknown --algo {algo!r}; expected one of {', '.join(ALGOS)}")
    if obs not in OBS:
        raise CgfsimError(f"unknown --obs {obs!r}; expected one of {', '.join(OBS)}")
    if policy not in POLICIES:
        raise CgfsimError(f"unknown --policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if a in ("ga", "cmaes"):
        if obs != "vector":
            raise CgfsimError(f"--algo {a} supports --obs vector only (got {obs})")
        return a
    if policy == "lstm" and a in ("a2c", "maskppo"):
        raise CgfsimError(f"--algo {a} has no lstm policy; use --algo rppo (or ppo) with lstm")
    if a == "rppo" and policy != "lstm":
        raise CgfsimError("--algo rppo trains lstm policies; add --policy lstm")
    return a


# ------------------------------------------------------------------ train


def _check_hparams(algo: str, policy: str, obs: str, scenario: str, hp: dict[str, Any]) -> None:
    """Fail on unknown hyperparameters now, not after the run folder exists."""
    if algo in ("ga", "cmaes"):
        from cgfsim.agents.ga import resolve_hparams

        resolve_hparams(hp, scenario)
        return
    from cgfsim.agents import rl

    a = rl.resolve_algo(algo, policy)
    rl.split_hparams(a, rl.resolve_hparams(a, scenario, hp), obs)


def cmd_train(args: argparse.Namespace) -> int:
    algo = check_combo(args.algo, args.obs, args.policy)
    if args.steps < 1:
        raise CgfsimError(f"--steps must be >= 1, got {args.steps}")
    from cgfsim.agents.runs import make_run_dir
    from cgfsim.sim.scenario import load_scenario

    sc = load_scenario(args.scenario)  # a bad scenario fails before a run folder is made
    hp = parse_sets(args.set)
    if args.threads is not None:
        hp["torch_threads"] = args.threads
    _set_threads(hp.get("torch_threads", 1))
    _check_hparams(algo, args.policy, args.obs, sc.name, hp)  # before a run folder is made
    league = None
    if args.league is not None:
        if algo in ("ga", "cmaes"):
            raise CgfsimError("--league trains RL learners (ppo, a2c, rppo, maskppo), not the GA")
        if args.opponent is not None:
            raise CgfsimError("give --opponent or --league, not both")
        from cgfsim.agents.league import parse_league, validate_league

        league = parse_league(args.league)  # unknown members fail here ...
        validate_league(league, sc, args.side)  # ... and checkpoints of another layout
    opponent = args.opponent or "random"
    final = args.final_episodes if args.final_episodes is not None else (1000 if league else 0)
    if final < 0:
        raise CgfsimError(f"--final-episodes must be >= 0, got {final}")
    if args.out:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            raise CgfsimError(f"--out {out} exists and is not empty; choose a new folder")
    else:
        tag = f"{algo}-{args.policy}-{args.obs}-{sc.name}-s{args.seed}"
        out = make_run_dir("runs", "train", tag)
    common: dict[str, Any] = dict(
        scenario=args.scenario,
        opponent=opponent,
        obs=args.obs,
        policy=args.policy,
        steps=args.steps,
        seed=args.seed,
        out_dir=out,
        side=args.side,
        hparams=hp,
        eval_episodes=args.eval_episodes,
        progress=not args.quiet,
    )
    if algo in ("ga", "cmaes"):
        from cgfsim.agents.ga import train_ga

        res = train_ga(method=algo, **common)
    else:
        from cgfsim.agents.rl import train_rl

        res = train_rl(algo, league=league, final_episodes=final, **common)
    best = res.get("best_win_rate")
    win = "not evaluated" if best is None else f"best win rate {best:.1%} (greedy)"
    if best is not None and league:
        win += " over the league's doctrines"
    against = f"league {args.league}" if league else opponent
    print(
        f"trained {res.get('approach', algo)} on {sc.name} vs {against}: "
        f"{res['env_steps']} env steps in {res['wall_s']:.1f} s, {win}"
    )
    print(f"run folder: {res['run_dir']}")
    print(f"policy: {res['policy_dir']}")
    if res.get("final_eval"):
        from cgfsim.agents.league import doctrine_table

        print(
            f"{res['policy_dir']} against each doctrine, greedy over valid actions, "
            f"{final} test-split episodes each:"
        )
        print(doctrine_table(res["final_eval"]))
    return 0


# ------------------------------------------------------------------ evaluate


def _replay_path(base: str, opponent: str, many: bool) -> str:
    if not many:
        return base
    p = Path(base)
    parts = Path(opponent).parts[-2:] or ("opp",)
    tag = "".join(c if c.isalnum() or c in "-_" else "-" for c in "-".join(parts))
    name = p.name
    suffix = ".replay.npz" if name.endswith(".replay.npz") else p.suffix
    stem = name[: len(name) - len(suffix)] if suffix else name
    return str(p.with_name(f"{stem}-{tag}{suffix}"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cgfsim.agents.evaluation import evaluate, load_player
    from cgfsim.agents.runs import write_json

    if args.episodes < 1:
        raise CgfsimError(f"--episodes must be >= 1, got {args.episodes}")
    _set_threads(args.threads)
    kind, what = load_player(args.player)  # bad names and corrupt checkpoints fail here
    scenario = args.scenario
    if scenario is None:
        scenario = what[2].get("scenario") if kind == "policy" else None
        if scenario is None:
            raise CgfsimError("--scenario is required (the player names no scenario)")
    from cgfsim.sim.doctrines import DOCTRINES

    opponents = [o.strip() for o in args.opponent.split(",") if o.strip()]
    if "doctrines" in opponents and not Path("doctrines").exists():  # every doctrine, in turn
        at = opponents.index("doctrines")
        opponents[at : at + 1] = list(DOCTRINES)
    if not opponents:
        raise CgfsimError("--opponent needs at least one doctrine or checkpoint")
    results = []
    for k, opp in enumerate(opponents):
        replay = None
        if args.replay:
            replay = _replay_path(args.replay, opp, len(opponents) > 1)
        r = evaluate(
            args.player,
            scenario,
            opp,
            args.episodes,
            obs=args.obs,
            side=args.side,
            seed=args.seed,
            deterministic=not args.sample,
            n_envs=args.n_envs,
            masked=False if args.no_mask else None,
            replay=replay,
            replay_episodes=args.replay_episodes,
        )
        if k:
            print()
        print(r.table())
        if replay:
            print(f"replay of {min(args.replay_episodes, r.n_envs)} episode(s) written to {replay}")
        results.append(r.to_dict())
    if args.json:
        write_json(args.json, {"player": str(args.player), "results": results})
        print(f"results written to {args.json}")
    return 0


# ------------------------------------------------------------------ tournament


def cmd_tournament(args: argparse.Namespace) -> int:
    from cgfsim.agents.runs import write_json
    from cgfsim.agents.tournament import round_robin

    _set_threads(args.threads)
    players = [p.strip() for p in args.players.split(",") if p.strip()]
    both = True if args.both_sides else None
    say = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    t = round_robin(
        players,
        args.scenario,
        args.episodes,
        args.seed,
        both,
        not args.sample,
        say,
        masked=False if args.no_mask else None,
    )
    print(t.table())
    if args.json:
        write_json(args.json, t.to_dict())
        print(f"results written to {args.json}")
    return 0


# ------------------------------------------------------------------ parser


def register(sub: Any) -> None:
    """Add ``train``, ``evaluate`` and ``tournament`` to the ``cgfsim`` sub-command parser."""
    s = sub.add_parser(
        "train",
        help="train an agent (RL or GA) into a run folder",
        description="Train with PPO, A2C, RecurrentPPO (rppo), MaskablePPO (maskppo), a "
        "DEAP GA or CMA-ES, against one opponent or (RL) a league. Every learner acts over "
        "valid actions (masked), as evaluation does. Writes config.json, curve.csv, logs "
        "(TensorBoard), checkpoints (best/, final/) and result.json into the run folder.",
    )
    s.add_argument("--algo", required=True, help=f"one of {', '.join(ALGOS)}")
    s.add_argument("--obs", default="vector", help="vector | grid | entities (default vector)")
    s.add_argument("--policy", default="mlp", help="mlp | lstm (default mlp)")
    s.add_argument("--scenario", default="duel", help="built-in name or TOML path")
    s.add_argument("--opponent", default=None, help="doctrine of the other side (default random)")
    s.add_argument(
        "--league",
        metavar="SPEC",
        help="train against a league instead: members such as 'doctrines,self' (all "
        "doctrines and snapshots of the learner), doctrine names, checkpoint folders, "
        "and/or one league config FILE.toml; opponents drawn per world and episode by PFSP",
    )
    s.add_argument(
        "--final-episodes",
        type=int,
        default=None,
        help="after training, evaluate the best policy against every doctrine on this many "
        "test-split episodes each (default 1000 with --league, else 0)",
    )
    s.add_argument("--steps", type=int, default=100_000, help="env steps of training data")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="run folder (default runs/train/<timestamp>-<tag>)")
    s.add_argument("--side", choices=["blue", "red"], default="blue")
    s.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable), e.g. --set hidden=[64,64]",
    )
    s.add_argument(
        "--eval-episodes",
        type=int,
        default=200,
        help="greedy evaluation episodes at each data budget (0: none)",
    )
    s.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint or doctrine against opponents (headless, batched)",
        description="Win/draw/loss rates with Wilson 95%% intervals, mean return, exchange "
        "ratio, survival and episode length; counts the first episodes of every world.",
    )
    s.add_argument("player", help="checkpoint folder or doctrine name")
    s.add_argument("--scenario", help="built-in name or TOML path (default: the checkpoint's)")
    s.add_argument(
        "--opponent",
        default="random",
        help="doctrine or checkpoint, or several separated by commas ('doctrines': each "
        "doctrine in turn)",
    )
    s.add_argument("--episodes", type=int, default=200)
    s.add_argument("--seed", type=int, default=0, help="world i gets key seed + i")
    s.add_argument("--side", choices=["blue", "red"], default="blue")
    s.add_argument("--obs", default=None, help="observation mode (default: the checkpoint's)")
    s.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    s.add_argument(
        "--no-mask",
        action="store_true",
        help="let networks pick impossible (no-op) actions too; default: valid actions only",
    )
    s.add_argument("--n-envs", type=int, default=None, help="worlds per batch")
    s.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    s.add_argument("--replay", metavar="FILE", help="record episodes to a replay file")
    s.add_argument("--replay-episodes", type=int, default=1, help="episodes to record")
    s.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser(
        "tournament",
        help="round robin between checkpoints and doctrines, with Elo ratings",
    )
    s.add_argument("players", help="comma-separated checkpoint folders and doctrine names")
    s.add_argument("--scenario", required=True)
    s.add_argument("--episodes", type=int, default=100, help="per pair and side")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--both-sides", action="store_true", help="play both sides even on a symmetric scenario"
    )
    s.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    s.add_argument(
        "--no-mask",
        action="store_true",
        help="let networks pick impossible (no-op) actions too; default: valid actions only",
    )
    s.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    s.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    s.add_argument("--quiet", action="store_true", help="no per-match lines")
    s.set_defaults(func=cmd_tournament)
