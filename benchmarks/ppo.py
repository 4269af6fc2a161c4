"""PPO speed and learning: ``gea ppo`` (small nets) vs stable-baselines3 PPO, side by side in one process.

Both train the same network (SB3's default MlpPolicy / CnnPolicy architecture and initialisation) on the
same platform env (``gea.envs.make``; SB3 sees it through a thin wrapper that hands it the same observation
key), with the same number of envs (in-process, sequential: ``make_vec(asynchronous=False)`` vs
``DummyVecEnv``), rollout length, epochs, minibatches and PPO hyperparameters, and the same torch thread
count. Runs are interleaved (gea, sb3, sb3, gea, ...) and medians reported, because the machine is shared; each
env is built and stepped once, untimed, before the first run.

    .venv/bin/python benchmarks/ppo.py                       # both envs, 3 repeats each
    .venv/bin/python benchmarks/ppo.py --envs cartpole --repeats 1 --steps 20000

Writes ``ppo_table.md`` (tables), ``ppo_<env>.png`` (return vs steps) and ``ppo.json`` to ``--out``
(``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import gea.envs

RESULTS = Path(__file__).parent / "results"
SB3_VF_COEF = 0.5
CLOCKS = ("wall", "cpu")


@dataclass
class Setting:
    """One benchmark env with the PPO hyperparameters both implementations use."""

    env_id: str
    observation: str
    encoder: str
    steps: int
    num_envs: int = 8
    rollout_steps: int = 128
    epochs: int = 4
    minibatches: int = 4
    lr: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    entropy_coef: float = 0.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)


SETTINGS = {
    # State-only: no rendering, and a tiny (unused, black) image so the Dict observation costs nothing to batch.
    "cartpole": Setting("cartpole", "proprio", "mlp", 60_000, env_kwargs={"render_mode": None, "image_size": 8}),
    "starpilot": Setting(
        "procgen:starpilot",
        "image",
        "cnn",
        32_768,
        epochs=3,
        lr=5e-4,
        gamma=0.999,
        entropy_coef=0.01,
        env_kwargs={"distribution_mode": "easy"},
    ),
}


class KeyObservation(gym.ObservationWrapper):  # type: ignore[type-arg]
    """Hands SB3 one key of the platform's Dict observation (the key our small net reads)."""

    def __init__(self, env: gym.Env[Any, Any], key: str) -> None:
        super().__init__(env)
        self.key = key
        self.observation_space = env.observation_space[key]

    def observation(self, observation: dict[str, Any]) -> Any:
        """The chosen key."""
        return observation[self.key]


class Timer:
    """Wall-clock and CPU time of this process (its CPU time is what another job on a shared machine can't steal)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def speed(self, frames: int) -> dict[str, float]:
        """Frames per wall-clock second and per CPU second since construction."""
        return {
            "wall": frames / (time.perf_counter() - self.wall),
            "cpu": frames / (time.process_time() - self.cpu),
        }


def run_gea(setting: Setting, seed: int, threads: int) -> tuple[dict[str, float], list[tuple[float, float]]]:
    """Train with ``gea.train.ppo``; returns (frames/s, [(step, mean episode return)])."""
    from gea.agents.config import SmallPolicyConfig
    from gea.train.ppo import PPOConfig, run_ppo

    with tempfile.TemporaryDirectory() as out_dir:
        config = PPOConfig(
            envs=[setting.env_id],
            env_kwargs=setting.env_kwargs,
            policy=SmallPolicyConfig(encoder=setting.encoder, observation=setting.observation),
            num_envs=setting.num_envs,
            rollout_steps=setting.rollout_steps,
            epochs=setting.epochs,
            minibatches=setting.minibatches,
            lr=setting.lr,
            gamma=setting.gamma,
            gae_lambda=setting.gae_lambda,
            # SB3 weighs the value loss as vf_coef * MSE and the raw entropy; gea as value_coef * MSE / 2 and the
            # entropy divided by its maximum, log(n): these coefficients make the two losses identical.
            value_coef=2 * SB3_VF_COEF,
            entropy_coef=setting.entropy_coef * math.log(gea.envs.spec(setting.env_id).action.n),
            total_steps=setting.steps,
            seed=seed,
            threads=threads,
            out_dir=out_dir,
            checkpoint_every=0,
            log_kl_start=False,
            tensorboard=False,
            progress=False,
        )
        timer = Timer()
        result = run_ppo(config)
        speed = timer.speed(result.global_step)
    curve = [(row["step"], row["return"]) for row in result.history if "return" in row]
    return speed, curve


def run_sb3(setting: Setting, seed: int, threads: int) -> tuple[dict[str, float], list[tuple[float, float]]]:
    """Train SB3 PPO with the same settings; returns (frames/s, [(step, mean episode return)])."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(threads)

    def make_one() -> gym.Env[Any, Any]:
        return Monitor(KeyObservation(gea.envs.make(setting.env_id, **setting.env_kwargs), setting.observation))

    class Curve(BaseCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.points: list[tuple[float, float]] = []
            self.seen = 0

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.seen += 1
                    self.points.append((float(self.num_timesteps), float(info["episode"]["r"])))
            return True

    timer = Timer()  # like gea's, SB3's time includes building the envs and the model
    vec = DummyVecEnv([make_one] * setting.num_envs)
    vec.seed(seed)
    batch = setting.num_envs * setting.rollout_steps
    model = PPO(
        "MlpPolicy" if setting.encoder == "mlp" else "CnnPolicy",
        vec,
        n_steps=setting.rollout_steps,
        batch_size=batch // setting.minibatches,
        n_epochs=setting.epochs,
        learning_rate=setting.lr,
        gamma=setting.gamma,
        gae_lambda=setting.gae_lambda,
        ent_coef=setting.entropy_coef,
        vf_coef=SB3_VF_COEF,
        max_grad_norm=0.5,
        clip_range=0.2,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    callback = Curve()
    model.learn(total_timesteps=setting.steps, callback=callback)
    speed = timer.speed(model.num_timesteps)
    vec.close()
    return speed, per_rollout(callback.points, batch)


def per_rollout(points: list[tuple[float, float]], batch: int) -> list[tuple[float, float]]:
    """Mean return of the episodes that ended in each rollout (the same x-axis as gea's history)."""
    buckets: dict[int, list[float]] = {}
    for step, episode_return in points:
        buckets.setdefault(int(np.ceil(step / batch)), []).append(episode_return)
    return [(float(k * batch), float(np.mean(v))) for k, v in sorted(buckets.items())]


def smooth_at(curve: list[tuple[float, float]], step: float, window: float) -> float:
    """Mean return of the curve's points within ``window`` steps before ``step``."""
    values = [r for s, r in curve if step - window < s <= step]
    return float(np.mean(values)) if values else float("nan")


def plot(name: str, curves: dict[str, list[list[tuple[float, float]]]], path: Path) -> None:
    """Return vs steps, every repeat as a thin line, per implementation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for (impl, runs), color in zip(curves.items(), ("tab:blue", "tab:orange"), strict=False):
        for index, run in enumerate(runs):
            if run:
                steps, returns = zip(*run, strict=True)
                axis.plot(steps, returns, color=color, alpha=0.7, label=impl if index == 0 else None)
    axis.set_xlabel("env steps")
    axis.set_ylabel("mean episode return")
    axis.set_title(f"PPO on {name}: gea vs stable-baselines3")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def warm_up(setting: Setting) -> None:
    """Build, reset and step the env once, untimed.

    The first env of a kind pays one-off process costs (Procgen loads its game library: about 1 CPU-s), which
    would otherwise fall on whichever implementation runs first: gea, in repeat 0.
    """
    env = gea.envs.make(setting.env_id, **setting.env_kwargs)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()


def main() -> None:
    """Run the comparison and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="override the env steps per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # warm up: its first use imports torch._dynamo
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"threads": args.threads, "repeats": args.repeats, "envs": {}}
    runners = {"gea": run_gea, "sb3": run_sb3}
    for name in args.envs:
        setting = SETTINGS[name]
        if args.steps:
            setting.steps = args.steps
        warm_up(setting)
        speeds: dict[str, list[dict[str, float]]] = {"gea": [], "sb3": []}
        curves: dict[str, list[list[tuple[float, float]]]] = {"gea": [], "sb3": []}
        for repeat in range(args.repeats):
            order = ["gea", "sb3"] if repeat % 2 == 0 else ["sb3", "gea"]
            for impl in order:
                speed, curve = runners[impl](setting, seed=repeat, threads=args.threads)
                speeds[impl].append(speed)
                curves[impl].append(curve)
                last = f"{curve[-1][1]:.1f}" if curve else "n/a"
                print(
                    f"{name} repeat {repeat} {impl}: {speed['wall']:,.0f} frames/s wall, "
                    f"{speed['cpu']:,.0f} frames/CPU-s, last return {last}",
                    flush=True,
                )
        window = setting.steps * 0.2
        checkpoints = [setting.steps * fraction for fraction in (0.25, 0.5, 0.75, 1.0)]
        returns = {
            impl: [statistics.median(smooth_at(run, step, window) for run in curves[impl]) for step in checkpoints]
            for impl in curves
        }
        plot(setting.env_id, curves, args.out / f"ppo_{name}.png")
        report["envs"][name] = {
            "setting": setting.__dict__,
            "speeds": speeds,
            "median": {
                clock: {impl: statistics.median(run[clock] for run in runs) for impl, runs in speeds.items()}
                for clock in CLOCKS
            },
            # Each repeat's two runs are adjacent in time: their ratio cancels most of the machine's load drift.
            "paired_speedup": {
                clock: statistics.median(
                    gea[clock] / sb3[clock] for gea, sb3 in zip(speeds["gea"], speeds["sb3"], strict=True)
                )
                for clock in CLOCKS
            },
            "return_at": {"steps": checkpoints, **returns},
        }
        print(json.dumps(report["envs"][name]["paired_speedup"]), flush=True)
    (args.out / "ppo.json").write_text(json.dumps(report, indent=2))
    (args.out / "ppo_table.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    """The results tables: frames/s per clock (every repeat, medians, paired speedup) and returns at 4 points."""
    lines = [
        "| env | clock | gea frames/s (runs) | SB3 frames/s (runs) | gea median | SB3 median | speedup (paired) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report["envs"].items():
        for clock in CLOCKS:
            runs = {impl: ", ".join(f"{run[clock]:,.0f}" for run in row["speeds"][impl]) for impl in ("gea", "sb3")}
            median = row["median"][clock]
            lines.append(
                f"| {name} | {clock} | {runs['gea']} | {runs['sb3']} | {median['gea']:,.0f} | {median['sb3']:,.0f} "
                f"| {row['paired_speedup'][clock]:.2f}x |"
            )
    lines += ["", "| env | steps | gea return (median of runs) | SB3 return (median of runs) |", "|---|---|---|---|"]
    for name, row in report["envs"].items():
        at = row["return_at"]
        for index, step in enumerate(at["steps"]):
            lines.append(f"| {name} | {step:,.0f} | {at['gea'][index]:.1f} | {at['sb3'][index]:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
