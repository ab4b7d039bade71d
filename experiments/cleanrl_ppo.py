"""PPO in one file, CleanRL style, on ``gymnasium.make_vec("cgfsim/...")``.

Everything is in this file: the vector env (one batched engine of
``--num-envs`` worlds, Gymnasium's NEXT_STEP autoreset), a small actor-critic
with one categorical head per unit slot (the ``MultiDiscrete`` action),
invalid-action masking (``--masked``, the engine's no-ops masked out of the
logits), GAE and the clipped PPO update, TensorBoard logging, and at the end
a greedy evaluation on held-out worlds (the ``test`` split's keys; training
uses the ``train`` split's).

NEXT_STEP autoreset: when a world ends at step t, ``obs[t + 1]`` is its final
observation and step t + 1 only resets it (its action is ignored, its reward
is 0). So the transition at t bootstraps from ``V(obs[t + 1])`` unless it
terminated, advantages do not flow across the end, and the reset step is left
out of the loss (``valid``). Usage::

    python experiments/cleanrl_ppo.py --env-id cgfsim/Duel-v0 --opponent random \\
        --total-timesteps 200000 --num-envs 64 --seed 1
    tensorboard --logdir runs/cleanrl
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import cgfsim  # noqa: F401  (registers the cgfsim/... ids)
from cgfsim.sim.splits import key_base


@dataclass
class Args:
    env_id: str = "cgfsim/Duel-v0"
    opponent: str = "random"
    seed: int = 1
    total_timesteps: int = 200_000
    num_envs: int = 64
    num_steps: int = 64
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    masked: bool = True
    torch_threads: int = 1
    eval_episodes: int = 1000
    out: str = "runs/cleanrl"


def parse_args() -> Args:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in vars(Args()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            p.add_argument(flag, type=type(default), default=default)
    return Args(**vars(p.parse_args()))


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class Agent(nn.Module):
    """Actor-critic MLP; the actor gives ``units x actions`` logits."""

    def __init__(self, obs_dim: int, units: int, actions: int, hidden: int) -> None:
        super().__init__()
        self.units, self.actions = units, actions
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, units * actions), std=0.01),
        )

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).squeeze(-1)

    def get_action_and_value(
        self, x: torch.Tensor, mask: torch.Tensor | None, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self.actor(x).view(-1, self.units, self.actions)
        if mask is not None:
            logits = logits.masked_fill(~mask.view_as(logits), -1e8)
        dist = torch.distributions.Categorical(logits=logits)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action).sum(-1), dist.entropy().sum(-1), self.get_value(x)


def make_envs(args: Args, n: int) -> gym.vector.VectorEnv:
    """The batched engine behind Gymnasium's vector API (NEXT_STEP autoreset)."""
    return gym.make_vec(args.env_id, num_envs=n, obs="vector", opponent=args.opponent)


def masks_of(envs: gym.vector.VectorEnv, masked: bool) -> torch.Tensor | None:
    return torch.from_numpy(envs.unwrapped.action_masks()) if masked else None


def evaluate(agent: Agent, args: Args) -> dict[str, float]:
    """Greedy (argmax over valid actions) on test-split worlds: the first episode of each."""
    n = args.eval_episodes
    envs = make_envs(args, n)
    obs, _ = envs.reset(seed=key_base("test", args.seed))
    outcome = np.zeros(n, np.int64)
    finished = np.zeros(n, bool)
    with torch.no_grad():
        while not finished.all():
            mask = masks_of(envs, args.masked)
            logits = agent.actor(torch.from_numpy(obs)).view(-1, agent.units, agent.actions)
            if mask is not None:
                logits = logits.masked_fill(~mask.view_as(logits), -1e8)
            obs, _, term, trunc, info = envs.step(logits.argmax(-1).numpy())
            new = (term | trunc) & ~finished
            outcome[new] = info["outcome"][new]
            finished |= new
    envs.close()
    names = (("win", 1), ("draw", 0), ("loss", -1))
    return {f"{k}_rate": float((outcome == v).mean()) for k, v in names}


def main() -> None:
    args = parse_args()
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)
    run_name = f"{args.env_id.replace('/', '-')}__ppo__{args.seed}__{int(time.time())}"
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(Path(args.out) / run_name))
    writer.add_text("hyperparameters", "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.torch_threads)

    envs = make_envs(args, args.num_envs)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    nvec = envs.single_action_space.nvec
    agent = Agent(obs_dim, len(nvec), int(nvec[0]), args.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    T, B = args.num_steps, args.num_envs
    obs = torch.zeros((T, B, obs_dim))
    masks = torch.ones((T, B, len(nvec) * int(nvec[0])), dtype=torch.bool)
    actions = torch.zeros((T, B, len(nvec)), dtype=torch.long)
    logprobs, rewards, values = (torch.zeros((T, B)) for _ in range(3))
    terms, dones, valid = (torch.zeros((T, B), dtype=torch.bool) for _ in range(3))

    global_step, start = 0, time.time()
    next_obs_np, _ = envs.reset(seed=key_base("train", args.seed))
    next_obs = torch.from_numpy(next_obs_np)
    next_valid = torch.ones(B, dtype=torch.bool)  # False: this step only resets its world
    for iteration in range(1, num_iterations + 1):
        frac = 1.0 - (iteration - 1.0) / num_iterations
        optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        for step in range(T):
            global_step += B
            obs[step], valid[step] = next_obs, next_valid
            mask = masks_of(envs, args.masked)
            if mask is not None:
                masks[step] = mask
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs, mask)
            actions[step], logprobs[step], values[step] = action, logprob, value
            next_obs_np, reward, term, trunc, info = envs.step(action.numpy())
            rewards[step] = torch.from_numpy(reward).float()
            terms[step] = torch.from_numpy(term)
            dones[step] = torch.from_numpy(term | trunc)
            next_obs = torch.from_numpy(next_obs_np)
            next_valid = ~dones[step]
            for i in np.flatnonzero(term | trunc):
                writer.add_scalar("charts/episodic_outcome", info["outcome"][i], global_step)
                writer.add_scalar("charts/episodic_length", info["tick"][i], global_step)

        # GAE. A step that ended its episode bootstraps from obs[t + 1], its final
        # observation, unless it terminated; the reset step after it is not trained on.
        with torch.no_grad():
            next_value = agent.get_value(next_obs)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(B)
            for t in reversed(range(T)):
                nv = next_value if t == T - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * nv * (~terms[t]) - values[t]
                lastgaelam = delta + args.gamma * args.gae_lambda * (~dones[t]) * lastgaelam
                advantages[t] = lastgaelam
            returns = advantages + values

        keep = valid.reshape(-1)
        b_obs = obs.reshape(-1, obs_dim)[keep]
        b_masks = masks.reshape(T * B, -1)[keep] if args.masked else None
        b_actions = actions.reshape(T * B, -1)[keep]
        b_logprobs, b_adv = logprobs.reshape(-1)[keep], advantages.reshape(-1)[keep]
        b_returns = returns.reshape(-1)[keep]
        n = len(b_obs)
        for _ in range(args.update_epochs):
            order = torch.randperm(n)
            for lo in range(0, n, minibatch_size):
                mb = order[lo : lo + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb], None if b_masks is None else b_masks[mb], b_actions[mb]
                )
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = b_adv[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(
                    -mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
                ).mean()
                v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        sps = int(global_step / (time.time() - start))
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
        writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
        writer.add_scalar("losses/entropy", entropy.mean().item(), global_step)
        writer.add_scalar("charts/SPS", sps, global_step)
        print(f"iteration {iteration}/{num_iterations} global_step={global_step} SPS={sps}")

    envs.close()
    result = evaluate(agent, args)
    for k, v in result.items():
        writer.add_scalar(f"eval/{k}", v, global_step)
    writer.close()
    print(
        f"test split, {args.eval_episodes} episodes, greedy"
        f"{' over valid actions' if args.masked else ''}: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.items())
    )


if __name__ == "__main__":
    main()
