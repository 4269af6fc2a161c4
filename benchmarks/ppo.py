"""PPO speed and learning: ``gea ppo`` (small nets) vs stable-baselines3 PPO used the way its users use it.

gea trains on its platform env (``gea.envs.make``) through ``run_ppo``. SB3 trains on the env its users would hand
it: Gymnasium's own ``CartPole-v1`` through ``make_vec_env`` (``DummyVecEnv`` + ``Monitor``), and for StarPilot (not
a Gymnasium env) a plain Gymnasium env over Procgen's gym3 interface, image only. Both sides use the same network
(SB3's default ``MlpPolicy`` / ``CnnPolicy`` architecture and initialisation), 8 in-process sequential envs, the
same rollout length, epochs, minibatches, PPO hyperparameters, and one torch thread, and run the same number of env
steps; losses are made identical by the coefficient mapping below.

Two logging modes, the same on both sides:

- ``on``: gea's defaults (TensorBoard, a checkpoint every 10 updates, KL to the starting policy, progress bar, the
  policy exported at the end) and SB3 with its equivalents (``tensorboard_log``, ``CheckpointCallback`` every 10
  rollouts, ``progress_bar=True``, ``model.save`` at the end; per-episode ``Monitor`` CSV files).
- ``off``: gea with ``tensorboard=false checkpoint_every=0 log_kl_start=false progress=false``; SB3 as
  ``PPO(...).learn(total_timesteps)`` with nothing else.

Runs alternate sides (gea, sb3, sb3, gea, ...); speedups are medians of the per-repeat ratios of adjacent runs.
Each env is built and stepped once, untimed, before the first run.

    .venv/bin/python benchmarks/ppo.py                                   # both envs, both modes, 5 / 3 repeats
    .venv/bin/python benchmarks/ppo.py --envs cartpole --logging on --repeats 1 --steps 2048 --out /tmp/ppo

Writes ``ppo.md``, ``ppo.json`` and ``ppo_<env>.png`` (return vs steps, logging-on runs) to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from _bench import load_average, median_spread, paired_ratios, side_order, write_results

import gea.envs

RESULTS = Path(__file__).parent / "results"
SB3_VF_COEF = 0.5
CLOCKS = ("wall", "cpu")
MODES = ("on", "off")
CHECKPOINT_EVERY = 10
"""gea's default ``checkpoint_every`` (updates); SB3's ``CheckpointCallback`` saves every as many rollouts."""


@dataclass
class Setting:
    """One benchmark env with the PPO hyperparameters both implementations use."""

    env_id: str
    sb3_env: str
    observation: str
    encoder: str
    steps: int
    repeats: int
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
    # State-only (MLP on proprio): gea's env renders nothing; its observation Dict carries an 8 px blank image.
    "cartpole": Setting(
        "cartpole", "CartPole-v1", "proprio", "mlp", 60_000, 5, env_kwargs={"render_mode": None, "image_size": 8}
    ),
    "starpilot": Setting(
        "procgen:starpilot",
        "starpilot",
        "image",
        "cnn",
        32_768,
        3,
        epochs=3,
        lr=5e-4,
        gamma=0.999,
        entropy_coef=0.01,
        env_kwargs={"distribution_mode": "easy"},
    ),
}


class ProcgenGymnasium(gym.Env):  # type: ignore[type-arg]
    """A Procgen game as a plain Gymnasium env (64x64 RGB observation): how a Gymnasium user hands Procgen to SB3.

    gym3 starts the next level by itself when one ends; ``reset`` after an ended episode returns that level's
    first frame (the terminal frame goes to SB3 as ``terminal_observation``).
    """

    def __init__(self, game: str, distribution_mode: str = "easy") -> None:
        from procgen import ProcgenGym3Env

        self.make = lambda seed: ProcgenGym3Env(
            num=1, env_name=game, distribution_mode=distribution_mode, num_threads=0, rand_seed=seed
        )
        self.observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(15)
        self.game: Any = None
        self.pending: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Build the game on the first (or a seeded) reset; else continue with the level gym3 already started."""
        super().reset(seed=seed)
        if seed is not None or self.game is None:
            self.game = self.make(int(self.np_random.integers(2**31)) if seed is None else seed)
            _, observation, _ = self.game.observe()
            return observation["rgb"][0], {}
        frame, self.pending = self.pending, None
        return frame, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One frame; an ended level is reported as terminated."""
        self.game.act(np.array([action], np.int32))
        reward, observation, first = self.game.observe()
        if first[0]:
            self.pending = observation["rgb"][0]
        return observation["rgb"][0], float(reward[0]), bool(first[0]), False, {}


class Timer:
    """Wall-clock and CPU time of this process."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def speed(self, frames: int) -> dict[str, float]:
        """Frames per wall-clock second and per CPU second since construction."""
        return {"wall": frames / (time.perf_counter() - self.wall), "cpu": frames / (time.process_time() - self.cpu)}


@dataclass
class Run:
    """One training run: env steps done, speed per clock, and (step, mean return) points."""

    steps: int
    speed: dict[str, float]
    curve: list[tuple[float, float]]


def run_gea(setting: Setting, seed: int, threads: int, logging: str) -> Run:
    """Train with ``gea.train.ppo.run_ppo`` (its defaults for logging ``on``)."""
    from gea.agents.config import SmallPolicyConfig
    from gea.train.ppo import PPOConfig, run_ppo

    quiet = {"checkpoint_every": 0, "log_kl_start": False, "tensorboard": False, "progress": False}
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
            **(quiet if logging == "off" else {}),
        )
        timer = Timer()
        result = run_ppo(config)
        speed = timer.speed(result.global_step)
    curve = [(row["step"], row["return"]) for row in result.history if "return" in row]
    return Run(result.global_step, speed, curve)


def run_sb3(setting: Setting, seed: int, threads: int, logging: str) -> Run:
    """Train SB3 PPO on the native env with the same settings."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        timer = Timer()  # like gea's, SB3's time includes building the envs and the model
        env: Any = setting.sb3_env
        if setting.sb3_env == "starpilot":
            env = lambda: ProcgenGymnasium("starpilot", **setting.env_kwargs)  # noqa: E731
        monitor = str(out / "monitor") if logging == "on" else None
        vec = make_vec_env(env, n_envs=setting.num_envs, seed=seed, monitor_dir=monitor)
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
            tensorboard_log=str(out / "tensorboard") if logging == "on" else None,
        )
        if logging == "on":
            checkpoints = CheckpointCallback(CHECKPOINT_EVERY * setting.rollout_steps, str(out / "checkpoints"))
            model.learn(total_timesteps=setting.steps, callback=checkpoints, progress_bar=True)
            model.save(out / "policy")
        else:
            model.learn(total_timesteps=setting.steps)
        speed = timer.speed(model.num_timesteps)
        vec.close()
        curve = [] if monitor is None else per_rollout(monitor_points(Path(monitor), setting.num_envs), batch)
    return Run(model.num_timesteps, speed, curve)


def monitor_points(folder: Path, num_envs: int) -> list[tuple[float, float]]:
    """(env step, return) of every episode in SB3's per-env ``Monitor`` CSVs; the envs step in lock-step, so an
    episode ending at an env's own step k ends at global step k x num_envs."""
    import pandas

    points = []
    for path in sorted(folder.glob("*.monitor.csv")):
        episodes = pandas.read_csv(path, skiprows=1)
        ends = np.cumsum(episodes["l"].to_numpy()) * num_envs
        points += list(zip(ends.tolist(), episodes["r"].tolist(), strict=True))
    return points


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
    """Build, reset and step both sides' env once, untimed (Procgen's first env loads its game library, ~1 CPU-s)."""
    env = gea.envs.make(setting.env_id, **setting.env_kwargs)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
    native = ProcgenGymnasium("starpilot") if setting.sb3_env == "starpilot" else gym.make(setting.sb3_env)
    native.reset(seed=0)
    native.step(native.action_space.sample())
    native.close()


def measure(setting: Setting, repeats: int, threads: int, logging: str) -> dict[str, list[Run]]:
    """``repeats`` runs per side, sides alternating."""
    runners = {"gea": run_gea, "sb3": run_sb3}
    runs: dict[str, list[Run]] = {"gea": [], "sb3": []}
    for repeat in range(repeats):
        for impl in side_order(["gea", "sb3"], repeat):
            run = runners[impl](setting, seed=repeat, threads=threads, logging=logging)
            runs[impl].append(run)
            last = f"{run.curve[-1][1]:.1f}" if run.curve else "n/a"
            print(
                f"{setting.env_id} logging {logging} repeat {repeat} {impl}: {run.steps:,} steps, "
                f"{run.speed['wall']:,.0f} frames/s wall, {run.speed['cpu']:,.0f} frames/CPU-s, last return {last}",
                flush=True,
            )
    return runs


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--logging", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--repeats", type=int, default=0, help="override the repeats (cartpole 5, starpilot 3)")
    parser.add_argument("--steps", type=int, default=0, help="override the env steps per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # warm up: its first use imports torch._dynamo
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/ppo.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report: dict[str, Any] = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "threads": args.threads,
        "load_average_start": load_average(),
        "envs": {},
    }
    for name in args.envs:
        setting = SETTINGS[name]
        setting.steps = args.steps or setting.steps
        repeats = args.repeats or setting.repeats
        warm_up(setting)
        entry: dict[str, Any] = {"setting": dict(setting.__dict__), "repeats": repeats, "modes": {}}
        for logging in args.logging:
            runs = measure(setting, repeats, args.threads, logging)
            entry["modes"][logging] = {
                "steps": {impl: [run.steps for run in impl_runs] for impl, impl_runs in runs.items()},
                "speeds": {impl: [run.speed for run in impl_runs] for impl, impl_runs in runs.items()},
                "speedup": {
                    clock: paired_ratios(
                        [run.speed[clock] for run in runs["gea"]], [run.speed[clock] for run in runs["sb3"]]
                    )
                    for clock in CLOCKS
                },
                "curves": {impl: [run.curve for run in impl_runs] for impl, impl_runs in runs.items()},
            }
        if "on" in entry["modes"]:
            curves = entry["modes"]["on"]["curves"]
            window = setting.steps * 0.2
            checkpoints = [setting.steps * fraction for fraction in (0.25, 0.5, 0.75, 1.0)]
            entry["return_at"] = {
                "steps": checkpoints,
                **{
                    impl: [statistics.median(smooth_at(run, step, window) for run in runs) for step in checkpoints]
                    for impl, runs in curves.items()
                },
            }
            plot(setting.env_id, curves, args.out / f"ppo_{name}.png")
        report["envs"][name] = entry
    report["load_average_end"] = load_average()
    text = markdown(report)
    write_results(args.out / "ppo.md", text, report)
    print(text)


def markdown(report: dict[str, Any]) -> str:
    """The results page: settings, speed per logging mode and clock, returns at four points."""
    lines = [
        "# PPO: `gea ppo` (small nets) vs stable-baselines3 PPO",
        "",
        f"Command: `{report['command']}` ({report['date']}); generated by `benchmarks/ppo.py`, whose docstring says",
        "exactly what each side runs.",
        "",
        "Machine: x86_64, 2 CPU cores shared with other jobs; load average (1, 5, 15 min) "
        f"{report['load_average_start']} at the start, {report['load_average_end']} at the end; "
        f"{report['threads']} torch thread per side.",
        "",
        'Peer calls: `make_vec_env("CartPole-v1", n_envs=8, seed=s, monitor_dir=...)` (Gymnasium\'s own env) or the',
        'same over a plain Gymnasium Procgen env, then `PPO("MlpPolicy" | "CnnPolicy", vec, n_steps=128,',
        "batch_size=256, n_epochs=..., learning_rate=..., gamma=..., gae_lambda=0.95, ent_coef=..., vf_coef=0.5,",
        'max_grad_norm=0.5, clip_range=0.2, seed=s, device="cpu", tensorboard_log=...).learn(total_timesteps,',
        "callback=CheckpointCallback(1280, ...), progress_bar=True)` and `model.save(...)` with logging on;",
        "`PPO(...).learn(total_timesteps)` with logging off. gea: `run_ppo(PPOConfig(...))` with its defaults, or",
        "`tensorboard=false checkpoint_every=0 log_kl_start=false progress=false` with logging off.",
        "",
        "Same for both: network (separate 64-64 tanh actor and critic for the MLP; Nature CNN with 512 features for",
        "the CNN; orthogonal init as SB3), 8 in-process sequential envs, 128-step rollouts, minibatches of 256, clip",
        "0.2, GAE 0.95, grad-norm clip 0.5, Adam eps 1e-5, per-minibatch advantage normalization. gea's value loss",
        "is 0.5 x MSE and its entropy is divided by log(n_actions), so gea gets `value_coef = 2 x vf_coef` and",
        "`entropy_coef = ent_coef x log(n)`: the losses are identical. Times include building envs and model.",
        "",
        "## Speed (env frames per second)",
        "",
        "Runs alternate sides (gea, SB3, SB3, gea, ...). Frames/s: median (min-max) over runs; speedup: median",
        "(min-max) of the per-repeat ratios of adjacent runs. Env steps per run are the same on both sides (column).",
        "",
        "| env | logging | clock | env steps per run | gea frames/s | SB3 frames/s | speedup |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, entry in report["envs"].items():
        for logging, mode in entry["modes"].items():
            steps = mode["steps"]["gea"][0] if mode["steps"]["gea"] == mode["steps"]["sb3"] else "DIFFER"
            for clock in CLOCKS:
                gea_speed = [speed[clock] for speed in mode["speeds"]["gea"]]
                sb3_speed = [speed[clock] for speed in mode["speeds"]["sb3"]]
                lines.append(
                    f"| {name} ({entry['repeats']} repeats) | {logging} | {clock} | {steps:,} "
                    f"| {median_spread(gea_speed)} | {median_spread(sb3_speed)} "
                    f"| **{median_spread(mode['speedup'][clock], 2, 'x')}** |"
                )
    lines += [
        "",
        "## Learning (mean episode return vs env steps, logging-on runs)",
        "",
        "Median over runs of the mean return of the episodes that ended in the last 20% of steps before each point.",
        "",
        "| env | steps | gea | SB3 |",
        "|---|---:|---:|---:|",
    ]
    for name, entry in report["envs"].items():
        at = entry.get("return_at")
        if at:
            for index, step in enumerate(at["steps"]):
                lines.append(f"| {name} | {step:,.0f} | {at['gea'][index]:.1f} | {at['sb3'][index]:.1f} |")
    lines += [
        "",
        "Curves: `ppo_cartpole.png`, `ppo_starpilot.png` (every logging-on run). PPO from an SFT checkpoint vs SFT "
        "alone: see `ppo_from_sft.md`.",
        "",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
