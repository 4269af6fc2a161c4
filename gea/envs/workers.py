"""Environment worker processes shared by every vector env: start, command, watch, restart.

The envs of a vector env are split into contiguous slices, one per worker process; a worker steps all of
its envs per command, so a vector step costs one round trip per worker, not per env. Commands and small
results (rewards, flags, infos, instructions) travel over a ``multiprocessing`` Pipe; observation images
are written by the worker into a shared-memory block (``gea.envs.shared_images``) that the parent owns.

The parent never blocks on a dead or hung worker: it waits on the pipe *and* the process sentinel, with an
optional deadline. A worker that dies (segfault, ``os._exit``, killed) or misses the deadline is reported
with the env ids it hosts, killed and started again (attached to the same image block), and every env it
hosted is reset. An exception in environment code comes back as text with its traceback and is re-raised
in the parent as ``EnvWorkerError`` naming the env.

Autoreset is Gymnasium's ``SAME_STEP`` mode and happens inside the worker: when a step ends an episode,
the returned observation is the first one of the next episode, and the info is the reset's info plus
``final_obs`` and ``final_info`` (the last observation and the last step's info, ``success`` included).

Software rendering: Mesa's llvmpipe starts one rasterizer thread per core in every process that renders.
Workers split the cores between them instead (``LP_NUM_THREADS`` = cores per worker, 0 (render in the
calling thread) when that is one core or less), unless ``LP_NUM_THREADS`` is already set.

Scheduling: workers run under Linux's ``SCHED_BATCH`` policy, so a worker woken by a command does not preempt
the parent while it is still sending commands to the other workers (measured on a 2-core VM: without it, a
quarter of the vector steps ran the first worker's whole step before the second worker got its command).
When there is one worker per available core, worker ``i`` is pinned to the ``i``-th core, so that two workers
never queue on one core while another idles (``pin_workers``).

Lifetime and plugins: a worker ends as soon as the process that started it ends (even by ``kill -9``;
``gea.processes.die_with_parent``), and it imports the plugin modules its parent loaded before it builds an env.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gea.envs.lifecycle import close_at_exit, forget
from gea.envs.shared_images import ImageSlots, SlotShape, image_slot_shape
from gea.errors import EnvWorkerError
from gea.plugins import load_plugins, loaded_plugins
from gea.processes import die_with_parent

logger = logging.getLogger(__name__)

DEFAULT_START_METHOD = "forkserver"
"""Workers come from a fork server that has imported ``gea.envs`` once: fast restarts, and no EGL/OpenGL
context or thread of the parent is inherited (plain ``fork`` is unsafe with MuJoCo/EGL)."""

Command = Literal["attach", "reset", "step", "call", "close"]


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_workers(num_envs: int) -> int:
    """One worker process per available core, at most one per env."""
    return min(num_envs, available_cores())


def split_envs(num_envs: int, num_workers: int) -> list[range]:
    """Contiguous slices of ``range(num_envs)``, one per worker, sizes differing by at most one."""
    if not 1 <= num_workers <= num_envs:
        raise ValueError(f"num_workers must be between 1 and the number of envs ({num_envs}), got {num_workers}")
    base, extra = divmod(num_envs, num_workers)
    slices, start = [], 0
    for worker in range(num_workers):
        stop = start + base + (1 if worker < extra else 0)
        slices.append(range(start, stop))
        start = stop
    return slices


@dataclass(frozen=True)
class EnvFn:
    """A picklable recipe for one environment: ``gea.envs.make(env_id, **kwargs)``.

    ``imports`` are modules imported in the worker first (``gea.plugins.load_plugins``), so that environments
    they register at import time exist there too; the parent's own plugins are imported by every worker anyway.
    """

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    imports: tuple[str, ...] = ()

    def __call__(self) -> gym.Env[Any, Any]:
        """Build the environment."""
        load_plugins(self.imports)
        from gea.envs.registry import make

        return make(self.env_id, **self.kwargs)


@dataclass(frozen=True)
class Crash:
    """A worker that died or missed its deadline instead of answering."""

    reason: str


class EnvCodeError(Exception):
    """An exception raised by the code of the env at position ``index`` of a worker; ``text`` has its traceback."""

    def __init__(self, index: int | None, text: str) -> None:
        super().__init__(text)
        self.index = index
        self.text = text


def run_command(env: gym.Env[Any, Any], command: Command, payload: Any) -> Any:
    """Execute one command on one env; the same code serves worker processes and in-process envs."""
    if command == "reset":
        seed, options = payload
        return env.reset(seed=seed, options=options)
    if command == "step":
        obs, reward, terminated, truncated, info = env.step(payload)
        if terminated or truncated:
            final_obs, final_info = obs, info
            obs, info = env.reset()
            info = {**info, "final_obs": final_obs, "final_info": final_info}
        return obs, float(reward), bool(terminated), bool(truncated), info
    if command == "call":
        name, args, kwargs = payload
        attribute = getattr(env.unwrapped, name)
        return attribute(*args, **kwargs) if callable(attribute) else attribute
    if command == "close":
        env.close()
        return None
    raise ValueError(f"unknown worker command {command!r}")


class EnvHost:
    """The envs of one worker, built in order; runs a command on each of them (or on some, for ``call``)."""

    def __init__(self, env_fns: Sequence[EnvFn]) -> None:
        self.envs: list[gym.Env[Any, Any]] = []
        for index, env_fn in enumerate(env_fns):
            try:
                self.envs.append(env_fn())
            except Exception as error:
                text = _describe(error)
                self.close()
                raise EnvCodeError(index, text) from error

    def slot_shapes(self) -> list[SlotShape]:
        """The shape of each env's observation image (``None`` where there is none)."""
        return [image_slot_shape(env.observation_space) for env in self.envs]

    def run(self, command: Command, payload: Any) -> Any:
        """``reset``/``step``: one payload per env, one result per env; ``call``: ``(name, args, kwargs, indices)``."""
        if command == "call":
            name, args, kwargs, indices = payload
            return [self._run_one(index, "call", (name, args, kwargs)) for index in indices]
        if command == "close":
            self.close()
            return None
        if len(payload) != len(self.envs):
            raise ValueError(f"{command}: expected {len(self.envs)} payloads, got {len(payload)}")
        return [self._run_one(index, command, item) for index, item in enumerate(payload)]

    def _run_one(self, index: int, command: Command, payload: Any) -> Any:
        try:
            return run_command(self.envs[index], command, payload)
        except Exception as error:
            raise EnvCodeError(index, _describe(error)) from error

    def close(self) -> None:
        """Close every env (all of them, even if one fails); re-raise the first failure."""
        first: EnvCodeError | None = None
        for index, env in enumerate(self.envs):
            try:
                env.close()
            except Exception as error:
                first = first or EnvCodeError(index, _describe(error))
        self.envs = []
        if first is not None:
            raise first


def _stash_images(command: Command, results: Any, slots: ImageSlots | None) -> Any:
    """Move the images of ``reset``/``step`` results into shared memory, leaving ``None`` in their place."""
    if slots is None or command not in ("reset", "step"):
        return results
    for index, result in enumerate(results):
        if slots.has_slot(index):
            obs = result[0]
            slots.put(index, obs["image"])
            obs["image"] = None
    return results


def schedule_as_batch_worker(cpu: int | None) -> None:
    """Mark this process CPU-bound (``SCHED_BATCH``: no preemption on wake-up) and pin it to ``cpu`` if given.

    Best effort: platforms without these calls (or a CPU outside this process's set) keep the defaults.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    if cpu is not None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu})


def worker_cpus(num_workers: int, pin_workers: bool | None) -> list[int | None]:
    """The core each worker is pinned to (``None``: not pinned).

    ``pin_workers=None`` pins only when there is exactly one worker per available core; ``True`` pins worker
    ``i`` to the ``i``-th available core (round robin); ``False`` never pins.
    """
    if not hasattr(os, "sched_getaffinity"):
        return [None] * num_workers
    cores = sorted(os.sched_getaffinity(0))
    if pin_workers is None:
        pin_workers = num_workers == len(cores) > 1
    if not pin_workers:
        return [None] * num_workers
    return [cores[index % len(cores)] for index in range(num_workers)]


def _worker_main(
    connection: Connection,
    env_fns: Sequence[EnvFn],
    render_threads: int,
    cpu: int | None,
    parent: tuple[int | None, bool],
) -> None:
    """Body of a worker process: build its envs, then answer commands until ``close`` or a closed pipe.

    ``parent``: the parent's pid (``None``: this process's parent) and whether the kernel may tie this process to
    the parent's starting thread (``gea.processes.die_with_parent``).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes its workers
    die_with_parent(*parent)
    schedule_as_batch_worker(cpu)
    os.environ.setdefault("LP_NUM_THREADS", str(render_threads))  # before any env starts Mesa
    try:
        host = EnvHost(env_fns)
    except EnvCodeError as error:
        connection.send(("error", (error.index, error.text)))
        return
    connection.send(("ok", host.slot_shapes()))
    slots: ImageSlots | None = None
    while True:
        try:
            command, payload = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            with contextlib.suppress(EnvCodeError):
                host.close()
            break
        try:
            if command == "attach":
                slots = ImageSlots(host.slot_shapes(), name=payload)
                reply: Any = None
            else:
                reply = _stash_images(command, host.run(command, payload), slots)
            connection.send(("ok", reply))
        except EnvCodeError as error:
            connection.send(("error", (error.index, error.text)))
        except Exception as error:  # a result that cannot be pickled, a bad payload
            connection.send(("error", (None, _describe(error))))
        if command == "close":
            break
    if slots is not None:
        slots.close()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}\n--- traceback in the worker ---\n{traceback.format_exc()}"


class WorkerBase:
    """What every worker knows: its index, its envs' recipes and the vector index of its first env."""

    def __init__(self, env_fns: Sequence[EnvFn], first: int, index: int) -> None:
        self.env_fns = list(env_fns)
        self.first = first
        self.index = index

    def describe(self) -> str:
        """``worker <index> (envs <first>-<last> '<id>')`` for messages."""
        ids = {env_fn.env_id for env_fn in self.env_fns}
        last = self.first + len(self.env_fns) - 1
        if len(self.env_fns) == 1:
            envs = f"env {self.first} {self.env_fns[0].env_id!r}"
        elif len(ids) == 1:
            envs = f"envs {self.first}-{last} {self.env_fns[0].env_id!r}"
        else:
            envs = "envs " + ", ".join(f"{self.first + i} {fn.env_id!r}" for i, fn in enumerate(self.env_fns))
        return f"worker {self.index} ({envs})"

    def describe_env(self, local: int | None) -> str:
        """``env <vector index> '<id>' (worker <index>)`` for the worker's env ``local`` (the worker if ``None``)."""
        if local is None:
            return self.describe()
        return f"env {self.first + local} {self.env_fns[local].env_id!r} (worker {self.index})"

    def unpack(self, command: Command, results: Any) -> Any:
        """Results as the envs returned them (images put back from shared memory where they travel that way)."""
        return results


class ProcessWorker(WorkerBase):
    """A slice of the envs in a child process: a pipe to it, a shared image block, and a liveness check.

    The process starts at construction; ``wait_until_built`` waits for its envs (so that many workers build
    their envs in parallel) and attaches it to the image block.
    """

    def __init__(
        self,
        env_fns: Sequence[EnvFn],
        first: int,
        index: int,
        context: Any,
        start_timeout: float,
        render_threads: int,
        cpu: int | None = None,
    ) -> None:
        super().__init__(env_fns, first, index)
        self._context = context
        self._start_timeout = start_timeout
        self._render_threads = render_threads
        self.cpu = cpu
        self.slots: ImageSlots | None = None
        self._launch()

    def _launch(self) -> None:
        parent_end, child_end = self._context.Pipe()
        # Fork-server workers are children of the fork server (which ends with this process), others of this thread.
        from_server = self._context.get_start_method() == "forkserver"
        main_thread = threading.current_thread() is threading.main_thread()
        parent = (None if from_server else os.getpid(), from_server or main_thread)
        self.process = self._context.Process(
            target=_worker_main,
            args=(child_end, self.env_fns, self._render_threads, self.cpu, parent),
            name=f"gea-env-worker-{self.index}",
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.connection: Connection = parent_end
        self._pending = 1  # the build report
        self._started_at = time.monotonic()

    def wait_until_built(self) -> None:
        """Wait for the build report and attach the worker to the image block; ``EnvWorkerError`` on failure."""
        deadline = self._started_at + self._start_timeout
        status, value = self._expect(self.receive(deadline), "could not start")
        if status == "error":
            self.kill()
            local, text = value
            raise EnvWorkerError(f"{self.describe_env(local)} failed while building the environment: {text}")
        shapes: list[SlotShape] = value
        if self.slots is not None and self.slots.shapes != shapes:
            self.slots.close()
            self.slots = None
        if self.slots is None and any(shape is not None for shape in shapes):
            self.slots = ImageSlots(shapes)
        if self.slots is not None:
            self.send("attach", self.slots.name)
            status, value = self._expect(self.receive(deadline), "could not attach to shared memory")
            if status == "error":
                self.kill()
                raise EnvWorkerError(f"{self.describe()} could not attach to shared memory: {value[1]}")

    def _expect(self, reply: tuple[str, Any] | Crash, what: str) -> tuple[str, Any]:
        if isinstance(reply, Crash):
            self.kill()
            raise EnvWorkerError(f"{self.describe()} {what}: {reply.reason}")
        return reply

    def send(self, command: Command, payload: Any = None) -> None:
        """Send a command; a broken pipe is noticed by the next ``receive``.

        Replies still owed for earlier commands (the caller was interrupted, e.g. by Ctrl-C, while waiting)
        are read and dropped first, so every reply answers the command it belongs to.
        """
        while self._pending and not isinstance(self.receive(None), Crash):
            pass
        self._pending += 1
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
            self.connection.send((command, payload))

    def receive(self, deadline: float | None) -> tuple[str, Any] | Crash:
        """The worker's ``(status, value)`` reply, or ``Crash`` if it died or ``deadline`` passed."""
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait([self.connection, self.process.sentinel], timeout)
        if self.connection in ready or self.connection.poll():
            try:
                reply: tuple[str, Any] = self.connection.recv()
                self._pending -= 1
                return reply
            except (EOFError, OSError):
                pass
        self._pending = 0
        if ready:
            self.process.join(timeout=1.0)
            return Crash(f"the worker process died (exit code {self.process.exitcode})")
        return Crash("the worker did not answer before the step timeout and was killed")

    def unpack(self, command: Command, results: Any) -> Any:
        """Put the images the worker left in shared memory back into the observations of ``reset``/``step``."""
        if self.slots is None or command not in ("reset", "step"):
            return results
        for index, result in enumerate(results):
            if self.slots.has_slot(index):
                result[0]["image"] = self.slots.get(index)
        return results

    def restart(self) -> None:
        """Kill whatever is left of the process and start a fresh one with the same recipes and image block."""
        self.kill()
        self._launch()
        self.wait_until_built()

    def kill(self) -> None:
        """Stop the process at once and release the pipe (the image block stays for a restart)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5.0)
        self.connection.close()

    def close(self, timeout: float) -> None:
        """Ask the envs to close; kill the process if it does not finish in ``timeout`` s; free the image block."""
        if self.process.is_alive() and not self._pending:
            self.send("close")
            self.receive(time.monotonic() + timeout)
            self.process.join(timeout=timeout)
        self.kill()
        if self.slots is not None:
            self.slots.close()
            self.slots = None


class LocalWorker(WorkerBase):
    """A slice of the envs in this process, behind the same interface as ``ProcessWorker`` (no crash isolation)."""

    def __init__(self, env_fns: Sequence[EnvFn], first: int, index: int) -> None:
        super().__init__(env_fns, first, index)
        try:
            self.host = EnvHost(env_fns)
        except EnvCodeError as error:
            raise EnvWorkerError(
                f"{self.describe_env(error.index)} failed while building the environment: {error.text}"
            ) from error
        self._reply: tuple[str, Any] = ("ok", None)

    def send(self, command: Command, payload: Any = None) -> None:
        """Run the command now and keep its reply for ``receive``."""
        try:
            self._reply = ("ok", self.host.run(command, payload))
        except EnvCodeError as error:
            self._reply = ("error", (error.index, error.text))

    def receive(self, deadline: float | None) -> tuple[str, Any]:
        """The reply of the last command."""
        return self._reply

    def restart(self) -> None:
        """In-process envs cannot crash separately from this process; nothing to restart."""
        raise EnvWorkerError(f"{self.describe()} runs in-process and cannot be restarted")

    def close(self, timeout: float) -> None:
        """Close the envs."""
        self.host.close()


Worker = ProcessWorker | LocalWorker


class WorkerPool:
    """A fixed list of environments split over worker processes, driven in lock step with crash recovery.

    Args:
        env_fns: one recipe per environment.
        num_workers: worker processes; each hosts a contiguous slice of the envs. ``0`` runs every env in
            this process (same results, no crash isolation).
        step_timeout: seconds a worker may take to answer ``reset``/``step``/``call`` for all of its envs; a
            worker that takes longer is killed and restarted. ``None`` waits as long as the worker is alive.
        start_timeout: seconds a worker may take to build its environments.
        start_method: ``multiprocessing`` start method (default ``forkserver``).
        pin_workers: pin worker ``i`` to the ``i``-th available core; default (``None``) pins only when there is
            one worker per available core.
    """

    def __init__(
        self,
        env_fns: Sequence[EnvFn],
        num_workers: int,
        step_timeout: float | None = None,
        start_timeout: float = 300.0,
        start_method: str = DEFAULT_START_METHOD,
        pin_workers: bool | None = None,
    ) -> None:
        if not env_fns:
            raise ValueError("a vector env needs at least one environment")
        plugins = loaded_plugins()  # every worker imports this process's plugins before it builds an env
        self.env_fns = [replace(fn, imports=tuple(dict.fromkeys((*plugins, *fn.imports)))) for fn in env_fns]
        self.step_timeout = step_timeout
        self._restart_rng = np.random.default_rng()
        self._last_obs: list[Any] = [None] * len(env_fns)
        self.workers: list[Worker] = []
        close_at_exit(self)  # workers and shared memory must not outlive a script that forgets close()
        self.slices = split_envs(len(env_fns), max(1, num_workers))
        try:
            if num_workers == 0:
                self.workers = [LocalWorker(self.env_fns, 0, 0)]
            else:
                context = mp.get_context(start_method)
                if start_method == "forkserver":
                    context.set_forkserver_preload(["gea.envs.adapters"])  # the registry, filled once
                cores_each = available_cores() // num_workers
                render_threads = cores_each if cores_each > 1 else 0
                cpus = worker_cpus(num_workers, pin_workers)
                for index, part in enumerate(self.slices):
                    fns = self.env_fns[part.start : part.stop]
                    self.workers.append(
                        ProcessWorker(fns, part.start, index, context, start_timeout, render_threads, cpus[index])
                    )
                for worker in self.workers:
                    worker.wait_until_built()
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.env_fns)

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Reset every env (env ``i`` with ``seeds[i]``); a worker that crashes is restarted and reset.

        Seeds also seed the generator of the seeds given to restarted workers, so runs stay reproducible.
        """
        given = [seed for seed in seeds if seed is not None]
        if given:
            self._restart_rng = np.random.default_rng(given)
        payloads = [[(seeds[i], options) for i in part] for part in self.slices]
        replies = self._broadcast("reset", payloads)
        results: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for worker, part, reply in zip(self.workers, self.slices, replies, strict=True):
            if isinstance(reply, Crash):
                fresh = self._restart(worker, reply, [seeds[i] for i in part])
                results += [(obs, {**info, "worker_restarted": True}) for obs, info in fresh]
            else:
                results += reply[1]
        self._last_obs = [obs for obs, _ in results]
        return results

    def step(self, actions: Sequence[Any]) -> list[tuple[dict[str, Any], float, bool, bool, dict[str, Any]]]:
        """Step every env with its action (``SAME_STEP`` autoreset; see the module docstring).

        A crashed or hung worker's episodes (those of every env it hosts) end as truncated with reward 0: each
        result carries the fresh first observation of a new episode and ``info["worker_restarted"] = True``.
        """
        if len(actions) != len(self.env_fns):
            raise ValueError(f"expected {len(self.env_fns)} actions, got {len(actions)}")
        replies = self._broadcast("step", [[actions[i] for i in part] for part in self.slices])
        results: list[tuple[dict[str, Any], float, bool, bool, dict[str, Any]]] = []
        for worker, part, reply in zip(self.workers, self.slices, replies, strict=True):
            if not isinstance(reply, Crash):
                results += reply[1]
                continue
            fresh = self._restart(worker, reply, [self._restart_seed() for _ in part])
            for index, (obs, info) in zip(part, fresh, strict=True):
                final_info = {"success": False, "worker_restarted": True}
                info = {**info, "worker_restarted": True, "final_obs": self._last_obs[index], "final_info": final_info}
                results.append((obs, 0.0, False, True, info))
        self._last_obs = [result[0] for result in results]
        return results

    def call(
        self, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, indices: Sequence[int] = ()
    ) -> list[Any]:
        """Call ``env.unwrapped.<name>(*args, **kwargs)`` (or read it) in the envs at ``indices`` (default: all)."""
        wanted = list(indices) if indices else list(range(len(self.env_fns)))
        for index in wanted:
            if not 0 <= index < len(self.env_fns):
                raise IndexError(f"env index {index} is out of range for {len(self.env_fns)} envs")
        workers, payloads = [], []
        for worker, part in zip(self.workers, self.slices, strict=True):
            local = [index - part.start for index in wanted if index in part]
            if local:
                workers.append(worker)
                payloads.append((name, args, kwargs or {}, local))
        replies = self._broadcast("call", payloads, workers)
        found: dict[int, Any] = {}
        for worker, payload, reply in zip(workers, payloads, replies, strict=True):
            if isinstance(reply, Crash):
                self._restart(worker, reply, [self._restart_seed() for _ in worker.env_fns])
                raise EnvWorkerError(
                    f"{worker.describe()} crashed during call({name!r}) and was restarted "
                    f"(its envs were reset): {reply.reason}"
                )
            found.update({worker.first + local: value for local, value in zip(payload[3], reply[1], strict=True)})
        return [found[index] for index in wanted]

    def close(self, timeout: float = 5.0) -> None:
        """Close every env, stop every worker process and free the shared image blocks."""
        for worker in self.workers:
            worker.close(timeout)
        self.workers = []
        forget(self)

    def _broadcast(
        self, command: Command, payloads: Sequence[Any], workers: Sequence[Worker] | None = None
    ) -> list[tuple[str, Any] | Crash]:
        """Send one command per worker (all by default), then collect every reply; raise the first env error."""
        workers = self.workers if workers is None else workers
        for worker, payload in zip(workers, payloads, strict=True):
            worker.send(command, payload)
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout
        replies = [worker.receive(deadline) for worker in workers]
        for worker, reply in zip(workers, replies, strict=True):
            if isinstance(reply, Crash):
                continue
            if reply[0] == "error":
                local, text = reply[1]
                raise EnvWorkerError(f"{worker.describe_env(local)} raised an exception during {command}: {text}")
            worker.unpack(command, reply[1])
        return replies

    def _restart_seed(self) -> int:
        return int(self._restart_rng.integers(2**31))

    def _restart(
        self, worker: Worker, crash: Crash, seeds: Sequence[int | None]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Restart a crashed worker and reset its envs; a second failure in a row raises ``EnvWorkerError``."""
        logger.warning("%s stopped: %s; restarting it and truncating its episodes", worker.describe(), crash.reason)
        worker.restart()
        worker.send("reset", [(seed, None) for seed in seeds])
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout
        reply = worker.receive(deadline)
        if isinstance(reply, Crash) or reply[0] == "error":
            detail = reply.reason if isinstance(reply, Crash) else reply[1][1]
            raise EnvWorkerError(f"{worker.describe()} failed again right after a restart: {detail}")
        return worker.unpack("reset", reply[1])  # type: ignore[no-any-return]
