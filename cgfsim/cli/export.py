"""``cgfsim export``: a checkpoint of any learner to ``policy.onnx`` + ``contract.json``.

The exported folder runs in any ONNX Runtime host (C++, C#, Java, Python) with
the contract telling what to put in and what comes out; ``cgfsim evaluate``
and ``cgfsim play`` take it as a player to check it behaves as the checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cgfsim.cli import _args as A


def cmd_export(args: argparse.Namespace) -> int:
    from cgfsim.agents.export_onnx.contract import CONTRACT, MODEL
    from cgfsim.agents.export_onnx.exporter import check_opset, check_out, export_policy

    check_opset(args.opset)  # flags first: nothing heavy runs on a bad one
    ck = Path(args.checkpoint)
    check_out(Path(args.out), args.force, ck.parent if ck.is_file() else ck)
    import torch

    torch.set_num_threads(1)
    c = export_policy(
        args.checkpoint,
        args.out,
        force=args.force,
        opset=args.opset,
        scenario=args.scenario,
        side=args.side,
    )
    p, obs = c["policy"], c["observation"]
    size = (Path(args.out) / MODEL).stat().st_size
    print(
        f"exported {p['core']}-{p['obs_mode']} policy for {c['scenario']['name']} "
        f"({c['frame']['side']}): {p['n_units']} units x {p['n_actions']} actions"
    )
    print(
        f"  {MODEL}: {size / 1024:.0f} KiB, opset {c['model']['opset']}, inputs "
        f"{', '.join(i['name'] for i in c['inputs'])}; ONNX Runtime matches torch to "
        f"{c['model']['check_max_abs_logit_error']:.1e}"
    )
    print(
        f"  {CONTRACT}: observation {obs['mode']} {tuple(obs['shape'])}, "
        f"{len(obs['features'])} feature columns, {len(obs['layout'])} elements"
    )
    print(f"folder: {args.out}")
    return 0


def register(sub: Any) -> None:
    """Add ``export`` to the ``cgfsim`` sub-command parser."""
    from cgfsim.agents.export_onnx.contract import SIDES

    s = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX with an observation contract",
        description="Write policy.onnx (the policy's forward pass; LSTM state as explicit "
        "inputs/outputs; optional action mask; dynamic batch) and contract.json (observation "
        "layout, action table, slot counts, the side's frame, opset, checkpoint digest) into "
        "a new folder. Works for checkpoints of every learner.",
    )
    s.add_argument("checkpoint", help="checkpoint folder (policy.json + policy.pt)")
    s.add_argument(
        "--out", type=A.out_dir, required=True, help="folder to create (must be new or empty)"
    )
    s.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    s.add_argument("--opset", type=int, default=17, help="ONNX opset, 14..20 (default 17)")
    s.add_argument("--scenario", help="scenario of the contract (default: the checkpoint's)")
    s.add_argument("--side", choices=list(SIDES), help="side (default: the checkpoint's)")
    s.set_defaults(func=cmd_export)
