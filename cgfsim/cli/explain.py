"""``cgfsim explain CHECKPOINT --scenario S`` and ``cgfsim explain-table DATASET``.

``explain`` plays the policy on validation worlds and reports which observation
feature groups drive it (permutation importance as agreement drop and as win-rate
drop on test worlds; gradient saliency, with PNG overlays on the map for ``grid``
policies), and distils it into a decision tree (fidelity on held-out states, the
tree's own win rate, its rules with feature names, ``tree.json``).
``explain-table`` measures the flexibility-versus-interpretability table on one
demonstration dataset. A checkpoint that does not fit the scenario, an unknown
feature group or a bad number is one line and exit code 2, before any output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A
from cgfsim.sim.errors import CgfsimError


def _out(args: argparse.Namespace, experiment: str, tag: str) -> Path:
    from cgfsim.agents.runs import make_run_dir

    if args.out:
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CgfsimError(f"--out {out} exists and is not an empty folder")
        out.mkdir(parents=True, exist_ok=True)
        return out
    return make_run_dir("runs", experiment, tag)


def cmd_explain(args: argparse.Namespace) -> int:
    import torch

    from cgfsim.agents.checkpoints import load_checkpoint
    from cgfsim.agents.evaluation import load_player
    from cgfsim.agents.explain import check_fits, check_groups, feature_groups

    torch.set_num_threads(max(1, int(args.threads or 1)))
    if args.episodes < 0:
        raise CgfsimError(f"--episodes must be >= 0, got {args.episodes}")
    policy, spec, meta = load_checkpoint(args.checkpoint)
    scenario = args.scenario or meta.get("scenario")
    if scenario is None:
        raise CgfsimError("--scenario is required (the checkpoint names no scenario)")
    side = args.side or str(meta.get("side", "blue"))
    sc = check_fits(policy, scenario, side, where=f"checkpoint {args.checkpoint}")
    opponent = args.opponent or meta.get("opponent") or "random"
    kind, what = load_player(opponent)
    if kind == "doctrine":
        opponent = what
    groups = check_groups(feature_groups(sc, spec.obs_mode, side), _names(args.groups))
    seed = int(meta.get("seed", 0)) if args.seed is None else args.seed
    out = _out(args, "explain", f"{sc.name}-{spec.core}-{spec.obs_mode}")
    from cgfsim.agents.explain_report import explain_policy

    say = None if args.quiet else (lambda m: print(m, flush=True))
    res = explain_policy(
        policy,
        sc,
        opponent,
        out,
        seed=seed,
        side=side,
        groups=groups,
        worlds=args.worlds,
        episodes=args.episodes,
        repeats=args.repeats,
        depth=args.tree_depth,
        overlays=args.overlays,
        source=str(args.checkpoint),
        say=say,
    )
    print(res["summary"])
    print(f"written to {out}")
    return 0


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [g.strip() for g in text.split(",") if g.strip()]
    if not names:
        raise CgfsimError("--groups needs at least one feature group name")
    return names


def cmd_table(args: argparse.Namespace) -> int:
    import torch

    from cgfsim.agents.demo_store import open_dataset
    from cgfsim.agents.explain_tree import interpretability_table, table_markdown

    torch.set_num_threads(max(1, int(args.threads or 1)))
    try:
        depths = [int(d) for d in args.depths.split(",") if d.strip()]
    except ValueError:
        raise CgfsimError(f"--depths expects integers such as 3,5,8, got {args.depths!r}") from None
    if not depths or min(depths) < 1:
        raise CgfsimError(f"--depths expects depths >= 1, got {args.depths!r}")
    hp = {k: _sets(getattr(args, k)) for k in ("linear", "mlp", "lstm")}
    ds = open_dataset(args.dataset, args.root)  # a bad dataset fails before any output
    from cgfsim.agents.bc import default_opponent

    if default_opponent(ds, args.opponent) is None:
        raise CgfsimError(f"dataset {args.dataset} names no doctrine opponent; pass --opponent")
    out = _out(args, "explain-table", ds.meta["scenario"])
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    import json

    interpretability_table(
        ds,
        out,
        depths=depths,
        seed=args.seed,
        episodes=args.episodes,
        hparams=hp,
        opponent=args.opponent,
        say=say,
    )
    doc = json.loads((out / "table.json").read_text())
    print(table_markdown(doc))
    print(f"written to {out}")
    return 0


def _sets(items: list[str] | None) -> dict[str, Any]:
    from cgfsim.cli.agents import parse_sets

    return parse_sets(items)


def register(sub: Any) -> None:
    s = sub.add_parser(
        "explain",
        help="what drives a policy: permutation importance, saliency, a distilled decision tree",
        description="Permutation importance of the observation's feature groups (drop in "
        "agreement with the policy's own actions on validation worlds, drop in win rate on "
        "test worlds), gradient saliency (PNG overlays on the map for grid policies), and "
        "the policy distilled into a decision tree: fidelity on held-out states, its own win "
        "rate, its rules with feature names (tree.json, rules.txt).",
    )
    s.add_argument("checkpoint", help="a checkpoint folder (any learner)")
    s.add_argument("--scenario", help="built-in name or TOML path (default: the checkpoint's)")
    s.add_argument("--opponent", help="doctrine or checkpoint (default: the checkpoint's)")
    s.add_argument("--side", choices=["blue", "red"], default=None)
    s.add_argument(
        "--seed",
        type=A.seed,
        default=None,
        help="key splits of this seed (default: the checkpoint's training seed)",
    )
    s.add_argument(
        "--worlds",
        type=A.count,
        default=200,
        help="worlds (one episode each) whose visited states are explained",
    )
    s.add_argument(
        "--episodes",
        type=A.nonneg,
        default=1000,
        help="test-split episodes per win rate (0: skip the win rates)",
    )
    s.add_argument("--repeats", type=A.count, default=3, help="permutations per group")
    s.add_argument(
        "--groups",
        default=None,
        help="feature groups, comma-separated (default: every group of the observation)",
    )
    s.add_argument("--tree-depth", type=A.count, default=5, help="depth of the distilled tree")
    s.add_argument(
        "--overlays", type=A.nonneg, default=4, help="grid policies: saliency overlay PNGs to draw"
    )
    s.add_argument("--out", help="output folder (default runs/explain/<timestamp>-<tag>)")
    s.add_argument("--threads", type=A.threads, default=None, help="torch threads (default 1)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_explain)

    s = sub.add_parser(
        "explain-table",
        help="flexibility vs interpretability: linear, trees, MLP, LSTM on one dataset",
        description="Train a linear model, decision trees, an MLP and an LSTM on a "
        "demonstration dataset's train split and report each one's test-split accuracy, "
        "win rate on test-split worlds and readable size (rules or parameters).",
    )
    s.add_argument("dataset", help="a Minari dataset id or folder")
    s.add_argument("--root", help="Minari datasets folder for ids")
    s.add_argument("--opponent", help="doctrine to play against (default: the dataset's)")
    s.add_argument("--depths", default="3,5,8", help="tree depths (default 3,5,8)")
    s.add_argument("--episodes", type=A.count, default=1000, help="test-split episodes per model")
    s.add_argument("--seed", type=A.seed, default=0)
    for k in ("linear", "mlp", "lstm"):
        s.add_argument(
            f"--{k}",
            action="append",
            metavar="KEY=VALUE",
            help=f"a BC hyperparameter of the {k} model (repeatable)",
        )
    s.add_argument("--out", help="output folder (default runs/explain-table/<timestamp>-<tag>)")
    s.add_argument("--threads", type=A.threads, default=None, help="torch threads (default 1)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_table)
