"""Environment overhead: steps/s through ``gea.envs.make`` vs the raw simulator making the same images.

For each simulator, the platform env and a hand-written raw loop (same simulator settings, same image
size and camera, resizing on both sides where the image is resized) take the same pre-drawn random
actions for the same number of steps, resetting when an episode ends. The two are timed in alternation,
``--repeats`` times, and the medians are reported; the ratio is the median of the per-repeat ratios
(goal >= 0.95). A second table compares ``--vector-envs`` envs (each count in the list) stepped one after
another in this process (a plain loop over ``gea.envs.make`` envs, no IPC) with the same envs in ``make_vec``
spread over ``--vector-workers`` worker processes (goal >= 1.7x with 2 workers on a CPU-bound env). Mesa's software
renderer runs single-threaded on both sides (``LP_NUM_THREADS=0`` unless set), so the speedup is that of the
processes alone. Results go to ``benchmarks/results/env_overhead.md``.

    python benchmarks/env_overhead.py                       # everything installed
    python benchmarks/env_overhead.py --cases cartpole --steps 200 --repeats 3 --output /tmp/o.md
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("LP_NUM_THREADS", "0")  # llvmpipe renders in the calling thread: one core per process

import numpy as np
from _bench import write_results
from PIL import Image

import gea.envs
from gea.envs.vector import make_vec
from gea.envs.workers import split_envs

IMAGE = 64
RESULTS = Path(__file__).parent / "results" / "env_overhead.md"
VECTOR_TURNS = 6
"""Each side of the vector table takes this many turns per repeat."""


def pil_resize(frame: np.ndarray, size: int = IMAGE) -> np.ndarray:
    """Bilinear resize of an HxWx3 frame to size x size (what the raw loops do when the sim's image differs)."""
    if frame.shape[:2] == (size, size):
        return frame
    return np.asarray(Image.fromarray(np.ascontiguousarray(frame)).resize((size, size), Image.Resampling.BILINEAR))


class RawLoop:
    """A raw simulator producing the contract's image each step: ``reset(seed)``, ``step(action) -> done``."""

    def reset(self, seed: int | None) -> np.ndarray:
        """Start an episode (seeded when ``seed`` is given); returns the image."""
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        """Apply ``action``; returns the image and whether the episode ended."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the simulator."""


class RawCartPole(RawLoop):
    """Gymnasium CartPole rendered with pygame and resized, as the generic adapter does."""

    def __init__(self) -> None:
        import gymnasium as gym

        self.env = gym.make("CartPole-v1", render_mode="rgb_array").unwrapped
        self.steps = 0

    def reset(self, seed: int | None) -> np.ndarray:
        self.env.reset(seed=seed)
        self.steps = 0
        return pil_resize(self.env.render())

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        _, _, terminated, truncated, _ = self.env.step(int(action))
        self.steps += 1
        return pil_resize(self.env.render()), terminated or truncated or self.steps >= 500

    def close(self) -> None:
        self.env.close()


class RawMetaWorld(RawLoop):
    """A Meta-World v3 task with a MuJoCo renderer at 64px from ``corner3`` (shadows/reflections/MSAA off)."""

    def __init__(self, task: str = "reach-v3", camera: str = "corner3") -> None:
        import mujoco
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.env = ALL_V3_ENVIRONMENTS[task](width=IMAGE, height=IMAGE)
        self.env._partially_observable = False
        self.env._freeze_rand_vec = False
        self.env.seeded_rand_vec = True
        self.env._set_task_called = True
        self.env.max_path_length = sys.maxsize
        model = self.env.model
        model.vis.quality.shadowsize = 0
        model.vis.quality.offsamples = 0
        self.renderer = mujoco.Renderer(model, IMAGE, IMAGE)
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.camera = model.camera(camera).id
        self.steps = 0

    def _image(self) -> np.ndarray:
        self.renderer.update_scene(self.env.data, camera=self.camera)
        return np.ascontiguousarray(self.renderer.render()[::-1, ::-1])  # corner3 is upside down

    def reset(self, seed: int | None) -> np.ndarray:
        if seed is not None:
            self.env.seed(seed)
        self.env.reset()
        self.steps = 0
        return self._image()

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        self.env.step(np.asarray(action, np.float32))
        self.steps += 1
        return self._image(), self.steps >= 500

    def close(self) -> None:
        self.renderer.close()
        self.env.close()


class RawBabyAI(RawLoop):
    """A BabyAI level rendered top-down with tiles just big enough for 64px, then resized to 64px."""

    def __init__(self, gym_id: str = "BabyAI-GoToLocal-v0") -> None:
        import gymnasium as gym
        import minigrid  # noqa: F401

        self.env = gym.make(gym_id).unwrapped

    def _image(self) -> np.ndarray:
        tile = max(1, math.ceil(IMAGE / max(self.env.width, self.env.height)))
        return pil_resize(self.env.get_full_render(highlight=False, tile_size=tile))

    def reset(self, seed: int | None) -> np.ndarray:
        self.env.reset(seed=seed)
        return self._image()

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        _, _, terminated, truncated, _ = self.env.step(int(action))
        return self._image(), terminated or truncated

    def close(self) -> None:
        self.env.close()


class RawMiniWorld(RawLoop):
    """A MiniWorld task rendering its egocentric 64px observation headless (EGL), as the adapter asks it to."""

    def __init__(self, gym_id: str = "MiniWorld-Hallway-v0") -> None:
        import gymnasium as gym

        from gea.envs.adapters.miniworld_tasks import import_miniworld

        import_miniworld()
        self.env = gym.make(gym_id, obs_width=IMAGE, obs_height=IMAGE, domain_rand=False).unwrapped

    def reset(self, seed: int | None) -> np.ndarray:
        frame, _ = self.env.reset(seed=seed)
        return frame

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        frame, _, terminated, truncated, _ = self.env.step(int(action))
        return frame, terminated or truncated

    def close(self) -> None:
        self.env.close()


class RawProcgen(RawLoop):
    """A Procgen game through its gym3 interface (64x64 RGB natively), easy mode."""

    def __init__(self, game: str = "coinrun") -> None:
        self.game = game
        self.env: Any = None

    def reset(self, seed: int | None) -> np.ndarray:
        from procgen import ProcgenGym3Env

        if self.env is None:
            self.env = ProcgenGym3Env(
                num=1, env_name=self.game, distribution_mode="easy", num_threads=0, rand_seed=seed or 0
            )
        _, obs, _ = self.env.observe()
        return obs["rgb"][0]

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        self.env.act(np.array([int(action)]))
        _, obs, first = self.env.observe()
        return obs["rgb"][0], bool(first[0])

    def close(self) -> None:
        self.env = None


class RawAtari(RawLoop):
    """An ALE game (frameskip 4, sticky actions 0.25, minimal actions), RGB frame resized to 64px."""

    def __init__(self, game: str = "pong") -> None:
        from ale_py import AtariEnv

        self.env = AtariEnv(game=game, obs_type="rgb", frameskip=4, repeat_action_probability=0.25)

    def reset(self, seed: int | None) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        return pil_resize(obs)

    def step(self, action: Any) -> tuple[np.ndarray, bool]:
        obs, _, terminated, truncated, _ = self.env.step(int(action))
        return pil_resize(obs), terminated or truncated

    def close(self) -> None:
        self.env.close()


@dataclass(frozen=True)
class Case:
    """One simulator: its platform id and kwargs, its raw loop, and the modules it needs."""

    name: str
    env_id: str
    raw: Callable[[], RawLoop]
    kwargs: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    scale: float = 1.0
    """Steps (and chunk size) relative to ``--steps``, so fast and slow simulators run for similar times."""


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("cartpole", "cartpole", RawCartPole, {"image_size": IMAGE}, scale=0.5),
        Case(
            "metaworld", "metaworld:reach-v3", RawMetaWorld, {"image_size": IMAGE, "camera": "corner3"}, ("metaworld",)
        ),
        Case("babyai", "babyai:GoToLocal", RawBabyAI, {"image_size": IMAGE}, ("minigrid",), 2.0),
        Case("procgen", "procgen:coinrun", RawProcgen, {"image_size": IMAGE}, ("procgen",), 20.0),
        Case("atari", "atari:Pong", RawAtari, {"image_size": IMAGE}, ("ale_py",), 5.0),
        Case("miniworld", "miniworld:Hallway", RawMiniWorld, {"image_size": IMAGE}, ("miniworld",), 0.5),
    )
}
# name -> (env id, make kwargs besides image_size, share of --vector-env-steps); "metaworld-state" renders nothing
# (state as proprio, blank image); Meta-World with images takes a quarter of the steps (its steps cost ~8 ms).
VECTOR_CASES: dict[str, tuple[str, dict[str, Any], float]] = {
    "cartpole": ("cartpole", {}, 1.0),
    "babyai": ("babyai:GoToLocal", {}, 1.0),
    "metaworld": ("metaworld:reach-v3", {}, 0.25),
    "metaworld-state": ("metaworld:reach-v3", {"proprio": True, "render_mode": None}, 1.0),
}


def unavailable(case: Case) -> str | None:
    """Why ``case`` cannot run here, or ``None``."""
    missing = [name for name in case.requires if importlib.util.find_spec(name) is None]
    if missing:
        return f"not installed: {', '.join(missing)}"
    try:
        gea.envs.spec(case.env_id)
    except KeyError:
        return f"{case.env_id} is not registered"
    return None


def random_actions(env_id: str, count: int, seed: int = 0) -> list[Any]:
    """``count`` random actions for ``env_id`` (uniform over the discrete set or the continuous box)."""
    space = gea.envs.spec(env_id).action
    rng = np.random.default_rng(seed)
    if space.kind == "discrete":
        return [int(a) for a in rng.integers(space.n, size=count)]
    low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    return [rng.uniform(low, high).astype(np.float32) for _ in range(count)]


class GeaRunner:
    """Steps a platform env through actions, resetting on episode end; keeps its state between chunks."""

    def __init__(self, env: Any, seed: int) -> None:
        self.env = env
        self.steps = 0
        env.reset(seed=seed)

    def run(self, actions: list[Any]) -> float:
        """Seconds taken by ``actions``."""
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = self.env.step(action)
            if terminated or truncated:
                self.env.reset()
        self.steps += len(actions)
        return time.perf_counter() - start


class RawRunner:
    """Steps a raw loop through actions, resetting on episode end; keeps its state between chunks."""

    def __init__(self, raw: RawLoop, seed: int) -> None:
        self.raw = raw
        self.steps = 0
        raw.reset(seed)

    def run(self, actions: list[Any]) -> float:
        """Seconds taken by ``actions``."""
        start = time.perf_counter()
        for action in actions:
            _, done = self.raw.step(action)
            if done:
                self.raw.reset(None)
        self.steps += len(actions)
        return time.perf_counter() - start


class SequentialRunner:
    """Steps several platform envs one after another in this process (the 1-process side of the vector table)."""

    def __init__(self, envs: list[Any], seed: int) -> None:
        self.envs = envs
        self.steps = 0
        for index, env in enumerate(envs):
            env.reset(seed=seed + index)

    def run(self, actions: list[Any]) -> float:
        """Seconds taken by ``actions`` (each a list with one action per env), resetting envs whose episode ended."""
        start = time.perf_counter()
        for step_actions in actions:
            for env, action in zip(self.envs, step_actions, strict=True):
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset()
        self.steps += len(actions) * len(self.envs)
        return time.perf_counter() - start

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()


class VectorRunner:
    """Steps a vector env with one action list per step."""

    def __init__(self, envs: Any, seed: int) -> None:
        self.envs = envs
        self.steps = 0
        envs.reset(seed=seed)

    def run(self, actions: list[Any]) -> float:
        """Seconds taken by ``actions`` (each a list with one action per env)."""
        start = time.perf_counter()
        for action in actions:
            self.envs.step(action)
        self.steps += len(actions) * self.envs.num_envs
        return time.perf_counter() - start


class EnvPoolRunner:
    """Steps an EnvPool batch (its Gymnasium API; episodes restart by themselves) with one action array per step."""

    def __init__(self, pool: Any, seed: int) -> None:
        self.pool = pool
        self.steps = 0
        pool.reset()

    def run(self, actions: list[Any]) -> float:
        """Seconds taken by ``actions`` (each a list with one action per env)."""
        start = time.perf_counter()
        for action in actions:
            self.pool.step(np.asarray(action, np.int32))
        self.steps += sum(len(action) for action in actions)
        return time.perf_counter() - start


def interleaved(runners: list[Any], actions: list[Any], chunk: int) -> list[float]:
    """Run every runner over ``actions`` in chunks of ``chunk`` steps, taking turns; total seconds of each.

    Taking turns every ``chunk`` steps (in a rotating order) exposes all sides to the same machine load,
    which on a shared machine changes faster than a whole run takes.
    """
    seconds = [0.0] * len(runners)
    for index, begin in enumerate(range(0, len(actions), chunk)):
        part = actions[begin : begin + chunk]
        for offset in range(len(runners)):
            which = (index + offset) % len(runners)
            seconds[which] += runners[which].run(part)
    return seconds


@dataclass
class OverheadResult:
    """Medians over repeats for one case: the full platform env, the adapter alone, the raw loop."""

    name: str
    env_id: str
    steps: int
    gea_sps: float
    adapter_sps: float
    raw_sps: float
    ratio: float
    adapter_ratio: float
    ratios: list[float]
    side_steps: dict[str, int]


def measure_overhead(case: Case, steps: int, repeats: int, chunk: int) -> OverheadResult:
    """``repeats`` interleaved runs of ``gea.envs.make``, of its adapter alone and of the raw loop; medians.

    The adapter alone (``env.unwrapped``, a second instance) separates the adapter's own cost from that of
    the contract wrapper and time limit around it.
    """
    env = gea.envs.make(case.env_id, **case.kwargs)
    adapter = gea.envs.make(case.env_id, **case.kwargs).unwrapped
    raw = case.raw()
    if raw.reset(0).shape != env.reset(seed=0)[0]["image"].shape:
        raise RuntimeError(f"{case.name}: raw and platform images differ in size")
    actions = random_actions(case.env_id, steps)
    runners = [GeaRunner(env, 0), GeaRunner(adapter, 0), RawRunner(raw, 0)]
    interleaved(runners, actions[: max(10, steps // 10)], chunk)  # warm-up
    for runner in runners:
        runner.steps = 0
    runs: list[list[float]] = [[], [], []]
    for _ in range(repeats):
        for column, seconds in zip(runs, interleaved(runners, actions, chunk), strict=True):
            column.append(steps / seconds)
    for closeable in (env, adapter, raw):
        closeable.close()
    gea_runs, adapter_runs, raw_runs = runs
    ratios = [g / r for g, r in zip(gea_runs, raw_runs, strict=True)]
    adapter_ratios = [a / r for a, r in zip(adapter_runs, raw_runs, strict=True)]
    return OverheadResult(
        case.name,
        case.env_id,
        steps,
        statistics.median(gea_runs),
        statistics.median(adapter_runs),
        statistics.median(raw_runs),
        statistics.median(ratios),
        statistics.median(adapter_ratios),
        ratios,
        {"gea": runners[0].steps, "adapter": runners[1].steps, "raw": runners[2].steps},
    )


def _independent_slice(
    env_id: str, kwargs: dict[str, Any], actions: list[list[Any]], first: int, start: Any, results: Any
) -> None:
    """Body of one process of the ceiling run: its slice of envs stepped in turn, timed from ``start``."""
    runner = SequentialRunner([gea.envs.make(env_id, image_size=IMAGE, **kwargs) for _ in actions[0]], first)
    start.wait()
    results.put(runner.run(actions))
    runner.close()


def independent_seconds(env_id: str, kwargs: dict[str, Any], actions: list[list[Any]], num_workers: int) -> float:
    """Wall time of ``num_workers`` processes that step their slices of the envs on their own (no IPC at all).

    This is the machine's ceiling for the vector env: the same env steps spread over the same number of
    processes, without any communication; timing starts once every process has built its envs.
    """
    context = multiprocessing.get_context("forkserver")
    slices = split_envs(len(actions[0]), num_workers)
    start, results = context.Barrier(num_workers + 1, timeout=600), context.Queue()  # a failed build ends the wait
    processes = [
        context.Process(
            target=_independent_slice,
            args=(env_id, kwargs, [step[part.start : part.stop] for step in actions], part.start, start, results),
        )
        for part in slices
    ]
    for process in processes:
        process.start()
    start.wait()
    seconds = max(results.get(timeout=3600) for _ in processes)
    for process in processes:
        process.join()
    return seconds


@dataclass
class VectorResult:
    """Env-steps/s of ``num_envs`` envs in 1 process vs in ``make_vec`` with ``num_workers`` workers; medians.

    ``ceiling`` is the median speedup of the same env steps in ``num_workers`` independent processes.
    """

    env_id: str
    kwargs: dict[str, Any]
    num_envs: int
    num_workers: int
    single_sps: float
    vector_sps: float
    speedup: float
    speedups: list[float]
    ceiling: float
    side_steps: dict[str, int]


def measure_vector(
    env_id: str, kwargs: dict[str, Any], num_envs: int, num_workers: int, steps: int, repeats: int, chunk: int
) -> VectorResult:
    """``num_envs`` envs stepped in turn in this process vs the same envs in ``make_vec``, interleaved; env-steps/s.

    Both sides take the same ``steps`` vector steps (``steps * num_envs`` env steps) with the same actions.
    Each repeat also times the independent-processes ceiling (``independent_seconds``).
    """
    single = SequentialRunner([gea.envs.make(env_id, image_size=IMAGE, **kwargs) for _ in range(num_envs)], 0)
    vector = VectorRunner(make_vec(env_id, num_envs, num_workers=num_workers, image_size=IMAGE, **kwargs), 0)
    flat = random_actions(env_id, num_envs * steps)
    actions = [flat[begin : begin + num_envs] for begin in range(0, len(flat), num_envs)]
    interleaved([single, vector], actions[:10], chunk)  # warm-up
    single.steps = vector.steps = 0
    single_runs, vector_runs, ceilings = [], [], []
    for _ in range(repeats):
        single_time, vector_time = interleaved([single, vector], actions, chunk)
        single_runs.append(num_envs * steps / single_time)
        vector_runs.append(num_envs * steps / vector_time)
        ceilings.append(single_time / independent_seconds(env_id, kwargs, actions, num_workers))
    single.close()
    vector.envs.close()
    speedups = [v / s for v, s in zip(vector_runs, single_runs, strict=True)]
    return VectorResult(
        env_id,
        kwargs,
        num_envs,
        num_workers,
        statistics.median(single_runs),
        statistics.median(vector_runs),
        statistics.median(speedups),
        speedups,
        statistics.median(ceilings),
        {"single": single.steps, "vector": vector.steps},
    )


# name -> (gea env id, EnvPool task id, EnvPool options that make the same observation and dynamics, step scale)
ENVPOOL_CASES: dict[str, tuple[str, str, dict[str, Any], float]] = {
    "atari": (
        "atari:Pong",
        "Pong-v5",
        {
            "img_height": IMAGE,
            "img_width": IMAGE,
            "gray_scale": False,
            "stack_num": 1,
            "frame_skip": 4,
            "repeat_action_probability": 0.25,
            "noop_max": 1,
            "use_fire_reset": False,
            "episodic_life": False,
            "reward_clip": False,
        },
        5.0,
    ),
    "procgen": ("procgen:coinrun", "CoinrunEasy-v0", {}, 20.0),
}


@dataclass
class EnvPoolResult:
    """Env-steps/s of ``num_envs`` envs: gea (one env, or ``make_vec`` with workers) vs EnvPool; medians."""

    name: str
    env_id: str
    task: str
    num_envs: int
    gea_side: str
    envpool_call: str
    steps: int
    gea_sps: float
    envpool_sps: float
    ratio: float
    ratios: list[float]
    side_steps: dict[str, int]


def envpool_unavailable() -> str | None:
    """Why EnvPool cannot run here, or ``None``."""
    try:
        import envpool  # noqa: F401
    except ImportError as error:
        return f"envpool not importable: {error}"
    return None


def measure_envpool(name: str, num_envs: int, num_workers: int, steps: int, repeats: int, chunk: int) -> EnvPoolResult:
    """gea vs EnvPool on the same game, image size and random actions, interleaved in chunks; env-steps/s.

    One env: ``gea.envs.make`` vs ``envpool.make_gymnasium(task, num_envs=1, batch_size=1, num_threads=1)``.
    Several: ``make_vec(..., num_workers)`` vs ``envpool.make_gymnasium(task, num_envs=n, num_threads=num_workers)``
    (EnvPool's own C++ thread pool, as its users run it). ``steps`` vector steps per side and repeat.
    """
    import envpool

    env_id, task, options, _ = ENVPOOL_CASES[name]
    threads = 1 if num_envs == 1 else num_workers
    pool = envpool.make_gymnasium(task, num_envs=num_envs, batch_size=num_envs, num_threads=threads, seed=0, **options)
    call = f"envpool.make_gymnasium({task!r}, num_envs={num_envs}, batch_size={num_envs}, num_threads={threads}"
    call += "".join(f", {key}={value!r}" for key, value in options.items()) + ")"
    if num_envs == 1:
        ours: Any = GeaRunner(gea.envs.make(env_id, image_size=IMAGE), 0)
        side = f"gea.envs.make({env_id!r}, image_size={IMAGE})"
    else:
        ours = VectorRunner(make_vec(env_id, num_envs, num_workers=num_workers, image_size=IMAGE), 0)
        side = f"make_vec({env_id!r}, {num_envs}, num_workers={num_workers}, image_size={IMAGE})"
    flat = random_actions(env_id, num_envs * steps)
    actions = [flat[begin : begin + num_envs] for begin in range(0, len(flat), num_envs)]
    gea_actions = [step[0] for step in actions] if num_envs == 1 else actions
    runners = [ours, EnvPoolRunner(pool, 0)]
    warm = max(10, steps // 10)
    interleaved_pairs(runners, [gea_actions[:warm], actions[:warm]], chunk)
    for runner in runners:
        runner.steps = 0
    gea_runs, pool_runs = [], []
    for _ in range(repeats):
        gea_time, pool_time = interleaved_pairs(runners, [gea_actions, actions], chunk)
        gea_runs.append(num_envs * steps / gea_time)
        pool_runs.append(num_envs * steps / pool_time)
    (ours.env if num_envs == 1 else ours.envs).close()
    pool.close()
    ratios = [g / p for g, p in zip(gea_runs, pool_runs, strict=True)]
    return EnvPoolResult(
        name, env_id, task, num_envs, side, call, num_envs * steps,
        statistics.median(gea_runs), statistics.median(pool_runs), statistics.median(ratios), ratios,
        {"gea": runners[0].steps, "envpool": runners[1].steps},
    )  # fmt: skip


def interleaved_pairs(runners: list[Any], actions: list[list[Any]], chunk: int) -> list[float]:
    """Like ``interleaved``, but each runner takes its own form of the same actions (``actions[i]`` for runner i)."""
    seconds = [0.0] * len(runners)
    for index, begin in enumerate(range(0, len(actions[0]), chunk)):
        for offset in range(len(runners)):
            which = (index + offset) % len(runners)
            seconds[which] += runners[which].run(actions[which][begin : begin + chunk])
    return seconds


def machine_info() -> list[str]:
    """CPU, cores, load, Python and simulator versions."""
    cpu = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in ("gymnasium", "mujoco", "metaworld", "minigrid", "procgen2", "ale-py", "numpy", "pillow"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; {platform.platform()}",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
        f"- MUJOCO_GL={os.environ.get('MUJOCO_GL')}, LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS')}; "
        f"load average at start: {os.getloadavg()[0]:.2f}",
    ]


def report(
    overhead: list[OverheadResult],
    skipped: dict[str, str],
    vector: list[VectorResult],
    envpool: list[EnvPoolResult],
    envpool_skipped: str | None,
    args: argparse.Namespace,
    info: list[str],
) -> str:
    """The markdown report."""
    lines = [
        "# Environment overhead",
        "",
        f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        *info,
        f"- load average at end: {os.getloadavg()[0]:.2f}",
        "",
        f"Random actions (the same on every side); per repeat each side takes the number of steps in the table "
        f"(`--steps` {args.steps} times a per-simulator scale), in turns of `--chunk` {args.chunk} steps (same "
        f'scale); {args.repeats} repeats; medians. {IMAGE}x{IMAGE} RGB images on every side. "adapter alone" '
        "is `env.unwrapped` (no contract wrapper or time limit). The machine is shared with other jobs (see "
        "the load averages), so absolute steps/s vary; the ratio of each repeat compares the sides under the "
        "same load, and its median is the figure to read.",
        "",
        "## `gea.envs.make` vs the raw simulator (goal: ratio >= 0.95)",
        "",
        "| simulator | env id | steps | gea steps/s | adapter alone | raw steps/s | ratio gea/raw (median) "
        "| adapter/raw | per-repeat gea/raw | goal |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in overhead:
        per_repeat = ", ".join(f"{x:.2f}" for x in r.ratios)
        verdict = "met" if r.ratio >= 0.95 else "**missed**"
        speeds = f"{r.gea_sps:,.0f} | {r.adapter_sps:,.0f} | {r.raw_sps:,.0f}"
        ratios = f"{r.ratio:.3f} | {r.adapter_ratio:.3f}"
        lines.append(f"| {r.name} | `{r.env_id}` | {r.steps} | {speeds} | {ratios} | {per_repeat} | {verdict} |")
    for name, reason in skipped.items():
        lines.append(f"| {name} | `{CASES[name].env_id}` | - | - | - | - | - | - | skipped: {reason} | - |")
    lines += [
        "",
        "## `make_vec` with worker processes vs 1 process (goal: >= 1.7x with 2 workers)",
        "",
        f"Both sides step the same envs (`--vector-envs` {args.vector_envs}) with the same actions for "
        f"`--vector-env-steps` {args.vector_env_steps} env steps per repeat (a quarter of them for Meta-World with "
        "images), taking turns "
        f"{VECTOR_TURNS} times per repeat. "
        "1 process: a plain loop over envs made with `gea.envs.make`, one after another, no IPC. Workers: "
        "`make_vec(id, n, num_workers=k)`; each worker process hosts a contiguous slice of the envs and steps "
        "all of them per message (one round trip per worker per vector step), and observation images come "
        "back through shared memory. Workers run under `SCHED_BATCH` and, with one worker per core, are "
        "pinned to their cores (see `gea/envs/workers.py`). Mesa's software renderer (llvmpipe) renders "
        "single-threaded on both sides (`LP_NUM_THREADS` above), so the speedup is that of the worker "
        "processes alone. Every worker must be "
        "scheduled the moment its actions arrive; when other jobs keep the cores busy (load average near or "
        "above the core count) the speedup shrinks, so the goal figure needs a machine with idle cores. "
        '"ceiling" is the speedup of the same env steps in as many independent processes that never '
        "communicate (each steps its slice of the envs on its own): what the machine's cores allow at best, "
        "whatever the IPC design (turbo clocks, shared caches and hypervisor scheduling keep it below the "
        "number of processes).",
        "",
        "| env id | make kwargs | envs | workers | 1 process env-steps/s | workers env-steps/s "
        "| speedup (median) | per-repeat speedup | ceiling (median) | goal |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for v in vector:
        kwargs = ", ".join(f"{key}={value}" for key, value in {"image_size": IMAGE, **v.kwargs}.items())
        verdict = "-" if v.num_workers != 2 else "met" if v.speedup >= 1.7 else "**missed**"
        per_repeat = ", ".join(f"{x:.2f}" for x in v.speedups)
        lines.append(
            f"| `{v.env_id}` | {kwargs} | {v.num_envs} | {v.num_workers} | {v.single_sps:,.0f} | {v.vector_sps:,.0f} "
            f"| {v.speedup:.2f}x | {per_repeat} | {v.ceiling:.2f}x | {verdict} |"
        )
    lines += [
        "",
        "## Reference: EnvPool (C++ batched envs) on the same games",
        "",
        "EnvPool is what the field uses for fast Atari and Procgen stepping. Both sides make 64x64 RGB observations",
        "and take the same random actions for the same env steps, in turns of chunks as above. Atari: Pong with frame",
        "skip 4, sticky actions 0.25, the minimal action set, no frame stacking, no episodic life or reward clipping",
        "(gea's Atari settings); EnvPool resizes with `cv2.INTER_AREA` after max-pooling the last two frames, gea with",
        "PIL bilinear on the last frame. Procgen: CoinRun, easy distribution (EnvPool's `CoinrunEasy-v0`). One env:",
        "`gea.envs.make` vs EnvPool with one thread; several envs: `make_vec` with worker processes vs EnvPool's own",
        "thread pool with as many threads (EnvPool's usual call). Ratio gea/EnvPool: median of per-repeat ratios.",
        "",
    ]
    if envpool_skipped:
        lines.append(f"Skipped: {envpool_skipped}.")
    else:
        lines += [
            "| game | envs | gea side | EnvPool call | env steps per repeat | gea env-steps/s | EnvPool env-steps/s "
            "| ratio gea/EnvPool (median) | per repeat |",
            "|---|---:|---|---|---:|---:|---:|---:|---|",
        ]
        for e in envpool:
            per_repeat = ", ".join(f"{x:.2f}" for x in e.ratios)
            lines.append(
                f"| {e.name} | {e.num_envs} | `{e.gea_side}` | `{e.envpool_call}` | {e.steps:,} | {e.gea_sps:,.0f} "
                f"| {e.envpool_sps:,.0f} | {e.ratio:.2f}x | {per_repeat} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the chosen cases and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {list(CASES)}")
    parser.add_argument(
        "--vector", default="babyai,metaworld,metaworld-state", help=f"vector cases from {list(VECTOR_CASES)}"
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--vector-env-steps", type=int, default=4800, help="env steps per side and repeat in the vector table"
    )
    parser.add_argument("--vector-envs", default="8,32", help="comma-separated env counts for the vector table")
    parser.add_argument("--vector-workers", type=int, default=2, help="worker processes for make_vec")
    parser.add_argument(
        "--envpool", default="atari,procgen", help=f"EnvPool reference games from {list(ENVPOOL_CASES)}"
    )
    parser.add_argument("--envpool-envs", default="1,8,32", help="comma-separated env counts for the EnvPool table")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=50, help="steps per side before switching sides")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    info = machine_info()
    overhead, skipped, vector = [], {}, []
    for name in filter(None, args.cases.split(",")):
        case = CASES[name]
        reason = unavailable(case)
        if reason:
            skipped[name] = reason
            print(f"{name}: skipped ({reason})", flush=True)
            continue
        steps, chunk = round(args.steps * case.scale), max(5, round(args.chunk * case.scale))
        result = measure_overhead(case, steps, args.repeats, chunk)
        print(
            f"{name}: gea {result.gea_sps:,.0f} adapter {result.adapter_sps:,.0f} raw {result.raw_sps:,.0f} "
            f"ratio {result.ratio:.3f} (adapter alone {result.adapter_ratio:.3f})",
            flush=True,
        )
        overhead.append(result)
    for name in filter(None, args.vector.split(",")):
        why = unavailable(CASES[name.split("-")[0]])
        if why:
            print(f"vector {name}: skipped ({why})", flush=True)
            continue
        env_id, kwargs, share = VECTOR_CASES[name]
        for num_envs in (int(count) for count in args.vector_envs.split(",")):
            steps = max(VECTOR_TURNS, round(args.vector_env_steps * share / num_envs))
            chunk = max(1, steps // VECTOR_TURNS)
            vec = measure_vector(env_id, kwargs, num_envs, args.vector_workers, steps, args.repeats, chunk)
            print(
                f"vector {name}: {vec.num_envs} envs in 1 process {vec.single_sps:,.0f}, in {vec.num_workers} "
                f"workers {vec.vector_sps:,.0f} env-steps/s, speedup {vec.speedup:.2f}x (ceiling {vec.ceiling:.2f}x)",
                flush=True,
            )
            vector.append(vec)
    envpool: list[EnvPoolResult] = []
    envpool_skipped = envpool_unavailable() if args.envpool else None
    for name in filter(None, [] if envpool_skipped else args.envpool.split(",")):
        scale = ENVPOOL_CASES[name][3]
        for num_envs in (int(count) for count in args.envpool_envs.split(",")):
            if num_envs == 1:
                steps, chunk = round(args.steps * scale), max(5, round(args.chunk * scale))
            else:
                steps = max(VECTOR_TURNS, round(args.vector_env_steps * scale / 4 / num_envs))
                chunk = max(1, steps // VECTOR_TURNS)
            result = measure_envpool(name, num_envs, args.vector_workers, steps, args.repeats, chunk)
            print(
                f"envpool {name} x{num_envs}: gea {result.gea_sps:,.0f}, EnvPool {result.envpool_sps:,.0f} "
                f"env-steps/s, ratio {result.ratio:.2f}",
                flush=True,
            )
            envpool.append(result)
    text = report(overhead, skipped, vector, envpool, envpool_skipped, args, info)
    record = {
        "command": f"python benchmarks/{Path(__file__).name} {' '.join(argv if argv is not None else sys.argv[1:])}",
        "overhead": [vars(result) for result in overhead],
        "skipped": skipped,
        "vector": [vars(result) for result in vector],
        "envpool": [vars(result) for result in envpool],
        "envpool_skipped": envpool_skipped,
    }
    write_results(args.output, text, record)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
