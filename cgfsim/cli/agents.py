"""``cgfsim train``, ``cgfsim evaluate`` and ``cgfsim tournament``.

:func:`register` adds the three sub-commands to the ``cgfsim`` parser. Heavy
imports (torch, SB3, DEAP) happen inside the commands, so ``cgfsim --help``
stays fast. Bad input raises :class:`~cgfsim.sim.errors.CgfsimError`, which
the main program prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A
from cgfsim.cli._train_config import (
    ALGOS,
    NOT_WITH_RESUME,
    TRAIN_DEFAULTS,
    apply_config,
    check_combo,
    check_flags,
    check_hparams,
    parse_sets,
    set_threads,
)
from cgfsim.sim.errors import CgfsimError

__all__ = ["check_combo", "parse_sets", "register"]  # parse_sets/check_combo: used elsewhere


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume is not None:
        if args.config is not None:
            raise CgfsimError(
                "--config cannot be given with --resume: the run's config.json decides it"
            )
        if args.test_episodes is None:
            args.test_episodes = TRAIN_DEFAULTS["test_episodes"]
        return _resume(args)
    file_hp = apply_config(args)
    algo = check_combo(args.algo, args.obs or "vector", args.policy)
    check_flags(algo, args)
    from cgfsim.agents.runs import make_run_dir
    from cgfsim.sim.scenario import load_scenario

    ds = None
    if algo == "bc" or (algo == "dagger" and args.dataset is not None):
        from cgfsim.agents.bc import check_scenario, dataset_scenario
        from cgfsim.agents.demo_store import DatasetError, open_dataset

        ds = open_dataset(args.dataset, args.root)  # a bad dataset fails before any output
        if args.obs is not None and args.obs != ds.meta["obs"]:
            raise DatasetError(
                f"dataset {args.dataset} holds {ds.meta['obs']} observations, not --obs {args.obs}"
            )
        if args.scenario is not None:
            check_scenario(ds, args.scenario)
        sc = dataset_scenario(ds)
    else:
        sc = load_scenario(args.scenario or "duel")  # a bad scenario fails before a run folder
    obs = args.obs or (ds.meta["obs"] if ds is not None else "vector")
    hp = {**file_hp, **parse_sets(args.set)}
    if args.threads is not None:
        hp["torch_threads"] = args.threads
    set_threads(hp.get("torch_threads", 1))
    check_hparams(algo, args.policy, obs, sc.name, hp)  # before a run folder is made
    if args.init_from is not None:
        from cgfsim.agents.rl import _initial_policy, resolve_algo

        _initial_policy(args.init_from, resolve_algo(algo, args.policy), obs, None)
    league = None
    if args.league is not None:
        if algo in ("ga", "cmaes", "bc", "dagger"):
            raise CgfsimError(f"--league trains RL learners (ppo, a2c, rppo, maskppo), not {algo}")
        if args.opponent is not None:
            raise CgfsimError("give --opponent or --league, not both")
        from cgfsim.agents.league import parse_league, validate_league

        league = parse_league(args.league)  # unknown members fail here ...
        validate_league(league, sc, args.side)  # ... and checkpoints of another layout
    final = args.final_episodes if args.final_episodes is not None else (1000 if league else 0)
    if final < 0:
        raise CgfsimError(f"--final-episodes must be >= 0, got {final}")
    if args.out:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            raise CgfsimError(f"--out {out} exists and is not empty; choose a new folder")
    else:
        tag = f"{algo}-{args.policy}-{obs}-{sc.name}-s{args.seed}"
        out = make_run_dir("runs", "train", tag)
    common: dict[str, Any] = dict(
        obs=obs,
        policy=args.policy,
        seed=args.seed,
        out_dir=out,
        hparams=hp,
        eval_episodes=args.eval_episodes,
        progress=not args.quiet,
    )
    if algo == "bc":
        from cgfsim.agents.bc import train_bc

        assert ds is not None
        res = train_bc(
            ds,
            opponent=args.opponent,
            max_demo_steps=args.demo_steps,
            verbose=not args.quiet,
            **common,
        )
    elif algo == "dagger":
        from cgfsim.agents.dagger import train_dagger

        res = train_dagger(
            sc if ds is None else args.dataset,
            expert=args.expert or "assault",
            opponent=args.opponent or "random",
            labels=args.demo_steps or 20_000,
            side=args.side,
            dataset=ds,
            verbose=not args.quiet,
            **common,
        )
    else:
        common.update(
            scenario=args.scenario or "duel",
            opponent=args.opponent or "random",
            steps=args.steps,
            side=args.side,
        )
        if algo in ("ga", "cmaes"):
            from cgfsim.agents.ga import train_ga

            res = train_ga(method=algo, **common)
        else:
            from cgfsim.agents.rl import train_rl

            res = train_rl(
                algo, init_from=args.init_from, league=league, final_episodes=final, **common
            )
    _report(res, args, sc, algo, common.get("opponent", args.opponent), league, final)
    return 0


def _resume(args: argparse.Namespace) -> int:
    """``--resume RUN_DIR``: check the run and the flags (one line, nothing written), continue."""
    from cgfsim.agents.resume import check_flags, open_run, resume_run

    for key in NOT_WITH_RESUME:
        if getattr(args, key) not in (None, False):
            flag = "--" + key.replace("_", "-")
            raise CgfsimError(
                f"{flag} cannot be given with --resume: the run's config.json decides it "
                "(only --steps may change, to extend the run)"
            )
    point = open_run(args.resume, args.steps)
    c = point.config
    given: dict[str, Any] = {
        "opponent": args.opponent,
        "obs": args.obs,
        "policy": args.policy,
        "side": args.side,
        "seed": args.seed,
        "eval_episodes": args.eval_episodes,
    }
    if args.algo is not None:
        algo = check_combo(args.algo, args.obs or c["obs"], args.policy or c["policy"])
        if algo not in ("ga", "cmaes", "bc", "dagger"):
            from cgfsim.agents.rl import resolve_algo

            algo = resolve_algo(algo, args.policy or c["policy"])
        given["algo"] = algo
    from cgfsim.envs._common import get_scenario

    sc = get_scenario(point.scenario_text)
    if args.scenario is not None:
        from cgfsim.sim.scenario import load_scenario

        given["scenario"] = load_scenario(args.scenario).name
    check_flags(point, given)
    for key in ("policy", "side", "seed", "eval_episodes", "opponent", "obs"):
        setattr(args, key, c[key])
    set_threads(c["hparams"].get("torch_threads", 1))
    if not args.quiet:
        print(
            f"resuming {point.run_dir} at {point.env_steps} env steps (to {point.total_steps})",
            file=sys.stderr,
        )
    res = resume_run(point, progress=not args.quiet)
    _report(res, args, sc, c["algo"], c["opponent"], None, 0)
    return 0


def _report(
    res: dict[str, Any],
    args: argparse.Namespace,
    sc: Any,
    algo: str,
    opponent: str | None,
    league: Any,
    final: int,
) -> None:
    """What ``cgfsim train`` prints after a run (and writes to ``test.json``)."""
    data = f"{res['env_steps']} env steps"
    if res.get("demo_steps"):
        data = f"{res['demo_steps']} demonstration steps, " + data
    print(f"trained {res.get('approach', algo)} on {sc.name}: {data} in {res['wall_s']:.1f} s")
    if res.get("test_accuracy") is not None:  # BC: its own test split and test worlds
        dw = res.get("demonstrator_test_win_rate")
        win = res.get("best_win_rate")
        print(
            f"test split: loss {res['test_loss']:.4f}, accuracy {res['test_accuracy']:.4f}"
            + ("" if win is None else f"; win rate on test worlds {win:.1%}")
            + ("" if dw is None else f" (the demonstrator's on the same worlds {dw:.1%})")
            + f"; demonstrator over its recording {res['demonstrator_win_rate']:.1%}"
        )
    elif algo == "dagger" and res.get("best_win_rate") is not None:
        print(f"win rate on test worlds after the last iteration {res['best_win_rate']:.1%}")
    elif league and res.get("best_win_rate") is not None:
        print(f"best validation win rate {res['best_win_rate']:.1%} over the league's doctrines")
    elif res.get("best_win_rate") is not None and args.test_episodes > 0:
        _report_test(res, args, sc, opponent or "random")
    print(f"run folder: {res['run_dir']}")
    print(f"policy: {res['policy_dir']}")
    if res.get("final_eval"):
        from cgfsim.agents.league import doctrine_table

        print(
            f"{res['policy_dir']} against each doctrine, greedy over valid actions, "
            f"{final} test-split episodes each:"
        )
        print(doctrine_table(res["final_eval"]))


def _report_test(res: dict[str, Any], args: argparse.Namespace, sc: Any, opponent: str) -> None:
    """The selected checkpoint's figure on fresh test worlds (the one to quote).

    The ``best`` checkpoint was chosen as the maximum of several noisy
    evaluations on validation worlds, so its validation win rate is optimistic;
    it is printed as such, and the test-split figure beside it.
    """
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.runs import write_json
    from cgfsim.sim.splits import key_base

    r = evaluate(
        res["policy_dir"],
        sc,
        opponent,
        args.test_episodes,
        side=args.side,
        seed=key_base("test", args.seed),
    )
    lo, hi = r.win_ci
    print(
        f"selected on validation worlds: win rate {res['best_win_rate']:.1%} at "
        f"{res['best_env_steps']} env steps ({args.eval_episodes} episodes; the best of "
        f"{len(res['curve'])} evaluations, so optimistic)"
    )
    print(
        f"test: win rate {r.win_rate:.1%} [{lo:.1%}, {hi:.1%}] on {r.episodes} test-split "
        f"episodes (greedy over valid actions)"
    )
    write_json(Path(res["run_dir"]) / "test.json", r.to_dict())


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

    set_threads(args.threads)
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
    seed = args.seed
    if seed is None:  # never the training worlds: the test split of the training seed
        from cgfsim.sim.splits import key_base

        train_seed = int(what[2].get("seed", 0)) if kind == "policy" else 0
        seed = key_base("test", train_seed)
        print(f"worlds: test split of training seed {train_seed} (keys {seed} + i)")
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
            seed=seed,
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

    set_threads(args.threads)
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
        help="train an agent (RL, GA, BC or DAgger) into a run folder",
        description="Train with PPO, A2C, RecurrentPPO (rppo), MaskablePPO (maskppo), a "
        "DEAP GA or CMA-ES against one opponent or (RL) a league, behaviour cloning (bc) on a "
        "demonstration dataset, or DAgger with a doctrine expert. Every learner acts over "
        "valid actions (masked), as evaluation does. Writes config.json, curve.csv, logs "
        "(TensorBoard), checkpoints (best/, final/) and result.json into the run folder.",
    )
    s.add_argument(
        "--config",
        metavar="FILE",
        help="TOML with a [train] table (these flags' names) and [hparams]; flags given here "
        "win, --set overrides [hparams] (e.g. the best.toml of `cgfsim tune`)",
    )
    s.add_argument(
        "--algo", help=f"one of {', '.join(ALGOS)} (required unless in --config or with --resume)"
    )
    s.add_argument(
        "--obs", default=None, help="vector | grid | entities (default vector; bc: the dataset's)"
    )
    s.add_argument("--policy", default=None, help="mlp | lstm (default mlp)")
    s.add_argument(
        "--scenario",
        default=None,
        help="built-in name or TOML path (default duel; bc: the dataset's, checked when given)",
    )
    s.add_argument(
        "--opponent",
        default=None,
        help="doctrine of the other side (default random; bc: the dataset's)",
    )
    s.add_argument(
        "--steps",
        type=A.count,
        default=None,
        help="env steps of training data (default 100000; with --resume: a new, larger total)",
    )
    s.add_argument(
        "--seed",
        type=A.seed,
        default=None,
        help="training seed: its own train/validation/test worlds (default 0)",
    )
    s.add_argument(
        "--out", type=A.out_dir, help="run folder (default runs/train/<timestamp>-<tag>)"
    )
    s.add_argument(
        "--league",
        metavar="SPEC",
        help="train against a league instead: members such as 'doctrines,self' (all "
        "doctrines and snapshots of the learner), doctrine names, checkpoint folders, "
        "and/or one league config FILE.toml; opponents drawn per world and episode by PFSP",
    )
    s.add_argument(
        "--final-episodes",
        type=A.nonneg,
        default=None,
        help="after training, evaluate the best policy against every doctrine on this many "
        "test-split episodes each (default 1000 with --league, else 0)",
    )
    s.add_argument("--side", choices=["blue", "red"], default=None, help="default blue")
    s.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable), e.g. --set hidden=[64,64]",
    )
    s.add_argument(
        "--eval-episodes",
        type=A.nonneg,
        default=None,
        help="greedy episodes on validation worlds at each data budget, to select the best "
        "checkpoint (default 500; 0: none)",
    )
    s.add_argument(
        "--test-episodes",
        type=A.nonneg,
        default=None,
        help="greedy episodes on test worlds for the selected checkpoint after training "
        "(0: none; default 1000)",
    )
    s.add_argument("--threads", type=A.threads, default=None, help="torch threads (default 1)")
    s.add_argument("--dataset", help="bc / dagger: demonstration dataset (Minari id or folder)")
    s.add_argument("--root", help="Minari datasets folder for --dataset ids")
    s.add_argument(
        "--demo-steps",
        type=A.count,
        default=None,
        help="bc: use at most this many demonstration steps; dagger: the label budget "
        "(default 20000)",
    )
    s.add_argument("--expert", default=None, help="dagger: the doctrine queried for labels")
    s.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="RL: start from this checkpoint's actor (e.g. a BC policy)",
    )
    s.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a killed RL or GA run from its last resume point (RUN_DIR/resume/), "
        "with the run's own settings, to its total (or a larger --steps)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar, no epoch lines")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint, exported folder or doctrine against opponents (headless)",
        description="Win/draw/loss rates with Wilson 95%% intervals, mean return, exchange "
        "ratio, survival and episode length; counts the first episodes of every world.",
    )
    s.add_argument("player", help="checkpoint folder, exported (ONNX) folder or doctrine name")
    s.add_argument("--scenario", help="built-in name or TOML path (default: the checkpoint's)")
    s.add_argument(
        "--opponent",
        default="random",
        help="doctrine or checkpoint, or several separated by commas ('doctrines': each "
        "doctrine in turn)",
    )
    s.add_argument("--episodes", type=A.count, default=1000)
    s.add_argument(
        "--seed",
        type=A.world_key,
        default=None,
        help="world i gets key seed + i (default: the test split of the checkpoint's training "
        "seed, never training worlds)",
    )
    s.add_argument("--side", choices=["blue", "red"], default="blue")
    s.add_argument("--obs", default=None, help="observation mode (default: the checkpoint's)")
    s.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    s.add_argument(
        "--no-mask",
        action="store_true",
        help="let networks pick impossible (no-op) actions too; default: valid actions only",
    )
    s.add_argument("--n-envs", type=A.count, default=None, help="worlds per batch")
    s.add_argument("--json", type=A.out_file, metavar="FILE", help="also write the results as JSON")
    s.add_argument(
        "--replay", type=A.out_file, metavar="FILE", help="record episodes to a replay file"
    )
    s.add_argument("--replay-episodes", type=A.count, default=1, help="episodes to record")
    s.add_argument("--threads", type=A.threads, default=None, help="torch threads (default 1)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser(
        "tournament",
        help="round robin between checkpoints and doctrines, with Elo ratings",
    )
    s.add_argument("players", help="comma-separated checkpoint folders and doctrine names")
    s.add_argument("--scenario", required=True)
    s.add_argument("--episodes", type=A.count, default=100, help="per pair and side")
    s.add_argument("--seed", type=A.world_key, default=0, help="world keys start here")
    s.add_argument(
        "--both-sides", action="store_true", help="play both sides even on a symmetric scenario"
    )
    s.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    s.add_argument(
        "--no-mask",
        action="store_true",
        help="let networks pick impossible (no-op) actions too; default: valid actions only",
    )
    s.add_argument("--json", type=A.out_file, metavar="FILE", help="also write the results as JSON")
    s.add_argument("--threads", type=A.threads, default=None, help="torch threads (default 1)")
    s.add_argument("--quiet", action="store_true", help="no per-match lines")
    s.set_defaults(func=cmd_tournament)
