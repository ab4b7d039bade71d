"""Reliability targets: win rates an agent must reliably reach, set from the game itself.

:func:`reliability_targets` is the one place targets come from. Round 1 measures
them with the doctrines: every candidate doctrine plays the sweep's side against
the evaluation opponent on test worlds, with as many episodes as each reported
agent point (``targets.episodes``, default the sweep's ``test_episodes``; greedy,
Wilson 95% intervals), and the best one (highest win rate) sets two targets:

- ``parity``: the best doctrine's lower bound. With equal episode counts an
  agent's lower bound reaches it exactly when the agent won at least as many
  test episodes as the doctrine did: it did as well as the doctrine;
- ``exceed``: the best doctrine's upper bound. An agent whose lower bound reaches
  it is better than the doctrine beyond both results' uncertainty.

Fixed targets from the sweep file are added as given. A target that no agent can
show with the sweep's test episodes (above the Wilson lower bound of N wins in N
episodes, e.g. when the best doctrine already wins every game) is marked
unreachable and reported as such, never silently kept. The best doctrine is also
the demonstrator for the learning-from-demonstration approaches.

(Round 2 switches the source to the scenario's calibration, the doctrine round
robin with the mirror score, without changing this interface.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cgfsim.sim.metrics import wilson_interval
from cgfsim.sim.splits import key_base


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    description: str
    reachable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def max_provable(episodes: int) -> float:
    """The highest lower bound any agent can show with ``episodes`` test episodes."""
    return wilson_interval(episodes, episodes)[0]


def reliability_targets(
    scenario: Any,
    opponent: str,
    side: str,
    doctrines: list[str] | tuple[str, ...],
    episodes: int,
    test_episodes: int,
    fixed: dict[str, float] | None = None,
    n_envs: int | None = None,
) -> dict[str, Any]:
    """``{"targets": [...], "best_doctrine": name, "doctrines": [...]}`` for one scenario."""
    from cgfsim.agents.evaluation import evaluate

    rows: list[dict[str, Any]] = []
    for d in doctrines:
        r = evaluate(
            d, scenario, opponent, episodes, side=side, seed=key_base("test", 0), n_envs=n_envs
        )
        lo, hi = r.win_ci
        rows.append(
            {
                "doctrine": d,
                "episodes": r.episodes,
                "win_rate": r.win_rate,
                "ci_low": lo,
                "ci_high": hi,
                "draw_rate": r.draw_rate,
                "loss_rate": r.loss_rate,
            }
        )
    rows.sort(key=lambda x: -x["win_rate"])
    best = rows[0]
    ceiling = max_provable(test_episodes)
    targets = [
        Target(
            "parity",
            best["ci_low"],
            f"parity with {best['doctrine']} (its win rate {best['win_rate']:.3f}, "
            f"lower bound {best['ci_low']:.3f})",
        ),
        Target(
            "exceed",
            best["ci_high"],
            f"exceed {best['doctrine']} (its upper bound {best['ci_high']:.3f})",
        ),
    ]
    targets += [Target(k, float(v), f"fixed target {v:.3f}") for k, v in (fixed or {}).items()]
    targets = [Target(t.name, t.value, t.description, t.value <= ceiling) for t in targets]
    return {
        "source": "doctrines",
        "opponent": opponent,
        "side": side,
        "episodes": episodes,
        "worlds": "test split, seed 0 (the agents' seed-0 test worlds)",
        "max_provable": ceiling,
        "best_doctrine": best["doctrine"],
        "doctrines": rows,
        "targets": [t.to_dict() for t in targets],
    }


__all__ = ["Target", "max_provable", "reliability_targets"]
