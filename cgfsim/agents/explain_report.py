"""``cgfsim explain``: one policy's explanation, measured and written into a folder.

:func:`explain_policy` records the states the policy visits on ``validation``-split
worlds (held-out validation maps on random-map scenarios), then writes

- ``importance.csv`` / ``importance.png``: per feature group, the drop in agreement
  with the policy's own actions on those states, the drop in win rate on
  ``test``-split worlds (values drawn from the recorded states every tick), and the
  group's share of the gradient saliency;
- ``saliency/*.png`` (``grid`` policies): saliency overlays on the map;
- ``tree/tree.json`` + ``tree/rules.txt``: the distilled tree
  (:func:`cgfsim.agents.explain_tree.distill`), fitted on ``train``-split worlds'
  states, its fidelity on the validation states, its win rate on test worlds;
- ``explain.json`` (everything) and ``report.md`` (the tables in words).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.explain import (
    agreement_importance,
    group_saliency,
    saliency,
    saliency_overlay,
    visit,
    win_rate_importance,
)
from cgfsim.agents.networks import CgfPolicy

#: Largest pool of recorded states the win-rate importance draws donors from.
MAX_POOL = 20_000


def _saliency_of_visits(policy: CgfPolicy, v: Any) -> np.ndarray:
    """Saliency of every recorded state, (N, *shape); LSTM states carry their memory."""
    if not policy.recurrent:
        obs, mask, _ = v.flat()
        return np.concatenate(
            [
                saliency(policy, obs[i : i + 1024], mask[i : i + 1024])
                for i in range(0, len(obs), 1024)
            ]
        )
    import torch

    out = []
    state = policy.initial_state(v.obs.shape[1])
    for t in range(v.obs.shape[0]):
        s = saliency(policy, v.obs[t], v.mask[t], (state[0].detach(), state[1].detach()))  # type: ignore[index]
        out.append(s[v.valid[t]])
        with torch.no_grad():
            _, state = policy.forward(v.obs[t], state, torch.as_tensor(v.start[t]), None)
    return np.concatenate(out)


def _bar_png(path: Path, rows: list[dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cgfsim.agents.runs import atomic_write_bytes

    names = [r["group"] for r in rows]
    keys = [
        (k, label)
        for k, label in (
            ("agreement_drop", "agreement drop"),
            ("win_rate_drop", "win-rate drop"),
            ("saliency_share", "saliency share"),
        )
        if any(r.get(k) is not None for r in rows)
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 0.4 * len(rows) + 1.6))
    axes = np.atleast_1d(axes)
    y = np.arange(len(rows))
    for ax, (k, label) in zip(axes, keys, strict=True):
        ax.barh(y, [r.get(k) or 0.0 for r in rows], color="tab:blue")
        ax.set_yticks(y, names if ax is axes[0] else [""] * len(rows))
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(label)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def explain_policy(
    policy: CgfPolicy,
    scenario: Any,
    opponent: Any,
    out: str | Path,
    seed: int = 0,
    side: str = "blue",
    groups: dict[str, list[int]] | None = None,
    worlds: int = 200,
    episodes: int = 1000,
    repeats: int = 3,
    depth: int = 5,
    overlays: int = 4,
    source: str = "",
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Explain ``policy`` into ``out`` (see the module doc); returns the results."""
    from cgfsim.agents.explain import feature_groups
    from cgfsim.agents.explain_tree import distill
    from cgfsim.agents.runs import atomic_write_text, write_csv_rows, write_json
    from cgfsim.sim.splits import key_base, map_pool

    out = Path(out)
    t0 = time.perf_counter()
    spec = policy.spec
    mode = spec.obs_mode
    groups = groups or feature_groups(scenario, mode, side)
    sc_val: Any = map_pool(scenario, "validation")
    sc_test: Any = map_pool(scenario, "test")
    want = [(t, w) for t in (0, 8, 16, 24) for w in range(2)][: overlays if mode == "grid" else 0]
    v = visit(policy, sc_val, opponent, key_base("validation", seed), worlds, side, want)
    if say:
        say(f"recorded {v.n_states} states of {worlds} validation worlds")
    agree = agreement_importance(policy, v, groups, repeats, seed)
    base: dict[str, Any] | None = None
    win: dict[str, dict[str, float]] = {}
    if episodes > 0:
        obs, _, _ = v.flat()
        pick = np.random.default_rng(seed).permutation(len(obs))[:MAX_POOL]
        base, win = win_rate_importance(
            policy, sc_test, opponent, groups, obs[pick], episodes, key_base("test", seed), side
        )
    sal = _saliency_of_visits(policy, v)
    share = group_saliency(sal, groups, mode)
    rows = [
        {
            "group": g,
            "features": agree[g]["features"],
            "agreement": agree[g]["agreement"],
            "agreement_drop": agree[g]["drop"],
            "win_rate": win.get(g, {}).get("win_rate"),
            "win_rate_drop": win.get(g, {}).get("drop"),
            "saliency_share": share[g]["share"],
        }
        for g in groups
    ]
    rows.sort(key=lambda r: -float(r["agreement_drop"] or 0.0))
    write_csv_rows(out / "importance.csv", rows)
    _bar_png(
        out / "importance.png", rows, f"{scenario.name}: what drives the {spec.core}-{mode} policy"
    )
    pngs = _overlays(policy, v, groups, out, side, scenario.name) if want else []
    if say:
        say("importance done; distilling a decision tree")
    tree = distill(
        policy,
        scenario,
        opponent,
        seed,
        depth,
        side,
        holdout=v,
        episodes=episodes,
        out_dir=out / "tree",
        source=source,
    )
    tree_out = {k: v2 for k, v2 in tree.items() if k not in ("doc", "rules")}
    doc = {
        "source": source,
        "scenario": scenario.name,
        "opponent": str(opponent),
        "side": side,
        "seed": seed,
        "policy": {"core": spec.core, "obs": mode},
        "states": v.n_states,
        "worlds": worlds,
        "state_keys": "validation split",
        "win_rate_keys": "test split",
        "action_mode": "greedy over valid actions",
        "baseline": base,
        "importance": rows,
        "saliency_pngs": pngs,
        "tree": tree_out,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    write_json(out / "explain.json", doc)
    text = report_text(doc, tree["rules"])
    atomic_write_text(out / "report.md", text)
    doc["summary"] = text
    return doc


def _overlays(
    policy: CgfPolicy, v: Any, groups: dict[str, list[int]], out: Path, side: str, name: str
) -> list[str]:
    """One PNG per recorded frame: the map and the saliency of that moment's observation."""
    inv = {i: g for g, idx in groups.items() for i in idx}
    files = []
    for (t, w), frame in sorted(v.frames.items()):
        sal = saliency(policy, v.obs[t, w][None], v.mask[t, w][None])[0]
        per = sal.sum(axis=(1, 2))
        by_group: dict[str, float] = {}
        for c, s in enumerate(per):
            by_group[inv.get(c, "?")] = by_group.get(inv.get(c, "?"), 0.0) + float(s)
        tot = sum(by_group.values()) or 1.0
        top = sorted(((g, s / tot) for g, s in by_group.items()), key=lambda x: -x[1])[:3]
        cell = frame.shape[0] // sal.shape[1]
        path = out / "saliency" / f"tick{t:03d}-world{w}.png"
        title = f"{name}, world {w} (validation split), tick {t}"
        saliency_overlay(path, frame, sal, side == "red", title, cell, top)
        files.append(str(path.relative_to(out)))
    return files


def report_text(doc: dict[str, Any], rules: str) -> str:
    t = doc["tree"]
    lines = [
        f"{doc['scenario']}: {doc['policy']['core']}-{doc['policy']['obs']} policy "
        f"({doc['source']}) against {doc['opponent']}; {doc['states']} states visited on "
        f"{doc['worlds']} validation worlds; actions greedy over valid actions.",
    ]
    if doc["baseline"] is not None:
        b = doc["baseline"]
        lines.append(
            f"Win rate on {b['episodes']} test-split episodes: {b['win_rate']:.3f} "
            f"[{b['win_ci_low']:.3f}, {b['win_ci_high']:.3f}]."
        )
    lines += [
        "",
        "| feature group | features | agreement drop | win-rate drop | saliency share |",
        "|---|---|---|---|---|",
    ]
    for r in doc["importance"]:
        wd = "-" if r["win_rate_drop"] is None else f"{r['win_rate_drop']:+.3f}"
        lines.append(
            f"| {r['group']} | {r['features']} | {r['agreement_drop']:.3f} | {wd} | "
            f"{r['saliency_share']:.3f} |"
        )
    lines += [
        "",
        f"Decision tree of depth {t['depth']} ({t['size']['rules']} rules, {t['size']['nodes']} "
        f"nodes) fitted on {t['fit_states']} states of train-split worlds: fidelity "
        f"{t['fidelity']:.3f} on {t['holdout_states']} held-out states ({t['fidelity_decisions']} "
        f"decisions; {t['fit_agreement']:.3f} on the states it was fitted on)"
        + (
            f"; its win rate {t['tree_win_rate']:.3f} [{t['tree_win_ci'][0]:.3f}, "
            f"{t['tree_win_ci'][1]:.3f}] against the network's {t['network_win_rate']:.3f} on "
            f"{t['test_episodes']} test-split episodes."
            if "tree_win_rate" in t
            else "."
        ),
        "",
        "```",
        *_head(rules, 40),
        "```",
    ]
    return "\n".join(lines)


def _head(text: str, n: int) -> list[str]:
    lines = text.splitlines()
    return lines[:n] + (
        [f"... {len(lines) - n} more lines in tree/rules.txt"] if len(lines) > n else []
    )


__all__ = ["explain_policy", "report_text"]
