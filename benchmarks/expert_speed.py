"""Expert training speed: `gea expert train` (project PPO, bf16 and float32 CNN compute) vs Stable-Baselines3 PPO.

    .venv/bin/python benchmarks/expert_speed.py [--game procgen:starpilot] [--steps 49152] [--repeats 3]

Each side runs `gea expert train GAME` with the game's recipe (64 envs x 256 steps, 8 minibatches, 3 epochs,
Nature CNN) for ``--steps`` env steps from scratch, one torch thread, in a fresh process:

- ``gea bf16``: ``backend=ppo precision=bfloat16`` (the CNN under bf16 autocast, heads in float32);
- ``gea fp32``: ``backend=ppo precision=float32``;
- ``sb3``: Stable-Baselines3 PPO as its users run Procgen: ``make_vec_env(lambda: ProcgenGymnasium(game), n_envs=64)``
  (the game's gym3 env as a plain Gymnasium env, ``benchmarks/ppo.py``) and ``PPO("CnnPolicy", vec, n_steps,
  batch_size, n_epochs, learning_rate, ..., features_dim, device="cpu").learn(steps)`` with the same recipe's
  settings as ``backend=sb3`` passes them (``gea.train.experts.sb3.sb3_ppo_settings``; for StarPilot 64 envs, 256
  steps, batches of 2,048, 3 epochs, 128 features): the same Nature CNN, batch shapes and losses, float32 (SB3 has
  no mixed-precision switch).

Speed is env steps per second of the training loop, not building envs or models: for gea, ``training.steps /
training.train_wall_seconds`` of each run's ``expert.json``; for SB3, the steps ``learn()`` took over its wall time.
Every run is a fresh process. Sides alternate (ABBA).
Results: ``benchmarks/results/expert_speed.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import load_average, side_order, speed_table, write_results

RESULTS = Path(__file__).parent / "results" / "expert_speed.md"
GEA_SIDES = {"gea bf16": ["backend=ppo", "precision=bfloat16"], "gea fp32": ["backend=ppo", "precision=float32"]}
SIDES = [*GEA_SIDES, "sb3"]


def train_once(game: str, settings: list[str], steps: int, out_dir: Path) -> dict[str, float]:
    """One fresh `gea expert train` run; its training steps, wall seconds and steps per second."""
    command = [
        sys.executable, "-m", "gea.cli", "expert", "train", game, *settings, f"total_steps={steps}",
        f"out_dir={out_dir}", "resume=false", "progress=false", "act=sample", "eval_episodes=1", "select_episodes=0",
    ]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    record = json.loads(next(out_dir.glob("*/expert.json")).read_text())
    training = record["training"]
    return {
        "steps": training["steps"],
        "wall_seconds": training["train_wall_seconds"],
        "steps_per_second": training["steps"] / training["train_wall_seconds"],
    }


def train_sb3(game: str, steps: int) -> dict[str, float]:
    """One SB3 PPO run over the plain Gymnasium Procgen env (called in a fresh process by ``sb3_once``)."""
    import torch
    from ppo import ProcgenGymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from gea.train.experts import load_expert_config
    from gea.train.experts.sb3 import sb3_ppo_settings

    torch.set_num_threads(1)
    recipe = load_expert_config(game)
    name = game.removeprefix("procgen:")
    vec = make_vec_env(lambda: ProcgenGymnasium(name, distribution_mode="easy"), n_envs=recipe.num_envs, seed=0)
    settings = sb3_ppo_settings(recipe, int(vec.action_space.n))  # type: ignore[attr-defined]
    model = PPO("CnnPolicy", vec, **settings, seed=0, device="cpu")
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - started
    vec.close()
    return {"steps": model.num_timesteps, "wall_seconds": seconds, "steps_per_second": model.num_timesteps / seconds}


def sb3_once(game: str, steps: int) -> dict[str, float]:
    """``train_sb3`` in a fresh process; its result."""
    command = [sys.executable, __file__, "--sb3-run", "--game", game, "--steps", str(steps)]
    done = subprocess.run(
        command, check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> None:
    """Run every side ``--repeats`` times and write the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="procgen:starpilot")
    parser.add_argument("--steps", type=int, default=49_152, help="env steps per run (3 updates of 16,384)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--sb3-run", action="store_true", help=argparse.SUPPRESS)  # one SB3 run, JSON on stdout
    args = parser.parse_args(argv)
    if args.sb3_run:
        print(json.dumps(train_sb3(args.game, args.steps)))
        return

    load_before, started = load_average(), time.strftime("%Y-%m-%d %H:%M")
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for repeat in range(args.repeats):
        for side in side_order(SIDES, repeat):
            if side == "sb3":
                runs[side].append(sb3_once(args.game, args.steps))
            else:
                with tempfile.TemporaryDirectory() as folder:
                    runs[side].append(train_once(args.game, GEA_SIDES[side], args.steps, Path(folder)))
            print(f"repeat {repeat} {side}: {runs[side][-1]['steps_per_second']:,.0f} steps/s", flush=True)
    rates = {side: [run["steps_per_second"] for run in side_runs] for side, side_runs in runs.items()}
    command = f"python benchmarks/expert_speed.py --game {args.game} --steps {args.steps} --repeats {args.repeats}"
    text = "\n".join(
        [
            f"# Expert training speed on {args.game}: gea PPO (bf16, float32) vs SB3 PPO",
            "",
            f"Command: `{command}` ({started}); generated by `benchmarks/expert_speed.py`, whose docstring says what",
            "each side runs. Training loop only (gea: env steps / training wall seconds of each run's `expert.json`;",
            "SB3: env steps / wall seconds of `learn()`),",
            f"{args.steps:,} env steps per run from scratch, one torch thread, sides alternating.",
            "",
            f"Machine: {os.cpu_count()} CPU cores; load average (1, 5, 15 min) {load_before} at the start, "
            f"{load_average()} at the end.",
            "",
            *speed_table(rates, "env steps/s", baseline="sb3"),
            "",
        ]
    )
    sidecar = write_results(args.out, text, {"command": command, "game": args.game, "runs": runs})
    print(text)
    print(f"wrote {args.out} and {sidecar}")


if __name__ == "__main__":
    main()
