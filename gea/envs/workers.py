"""Environment worker processes shared by every vector env: start, command, watch, restart.

Each environment lives in its own process and answers commands over a ``multiprocessing`` Pipe. The
parent never blocks on a dead or hung worker: it waits on the pipe *and* the process sentinel, with an
optional deadline. A worker that dies (segfault, ``os._exit``, killed) or misses the deadline is
reported, killed and started again; an exception in environment code comes back as text with its
traceback and is re-raised in the parent as ``EnvWorkerError``.

Autoreset is Gymnasium's ``SAME_STEP`` mode and happens inside the worker: when a step ends an episode,
the returned observation is the first one of the next episode, and the info is the reset's info plus
``final_obs`` and ``final_info`` (the last observation and the last step's info, ``success`` included).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import signal
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gea.errors import EnvWorkerError

logger = logging.getLogger(__name__)

DEFAULT_START_METHOD = "forkserver"
"""Workers come from a fork server that has imported ``gea.envs`` once: fast restarts, and no EGL/OpenGL
context or thread of the parent is inherited (plain ``fork`` is unsafe with MuJoCo/EGL)."""

Command = Literal["reset", "step", "call", "close"]


@dataclass(frozen=True)
class EnvFn:
    """A picklable recipe for one environment: ``gea.envs.make(env_id, **kwargs)``.

    ``imports`` are modules imported in the worker first, so that environments they register at import
    time (plugins, test-only envs) exist there too.
    """

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    imports: tuple[str, ...] = ()

    def __call__(self) -> gym.Env[Any, Any]:
        """Build the environment."""
        for module in self.imports:
            importlib.import_module(module)
        from gea.envs.registry import make

        return make(self.env_id, **self.kwargs)


@dataclass(frozen=True)
class Crash:
    """A worker that died or missed its deadline instead of answering."""

    reason: str


def run_command(env: gym.Env[Any, Any], command: Command, payload: Any) -> Any:
    """Execute one command on ``env``; the same code serves worker processes and in-process envs."""
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


def _worker_main(connection: Connection, env_fn: EnvFn) -> None:
    """Body of a worker process: build the env, then answer commands until ``close`` or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes its workers
    try:
        env = env_fn()
    except Exception as error:
        connection.send(("error", _describe(error)))
        return
    connection.send(("ok", None))
    while True:
        try:
            command, payload = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            env.close()
            return
        try:
            connection.send(("ok", run_command(env, command, payload)))
        except Exception as error:  # env code, or a result that cannot be pickled
            connection.send(("error", _describe(error)))
            continue
        if command == "close":
            return


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}\n--- traceback in the worker ---\n{traceback.format_exc()}"


class ProcessWorker:
    """One environment in a child process, with a pipe to it and a way to tell whether it is alive.

    The process starts at construction; ``wait_until_built`` waits for its environment (so that many
    workers build their environments in parallel).
    """

    def __init__(self, env_fn: EnvFn, index: int, context: Any, start_timeout: float) -> None:
        self.env_fn = env_fn
        self.index = index
        self._context = context
        self._start_timeout = start_timeout
        self._launch()

    def _launch(self) -> None:
        parent_end, child_end = self._context.Pipe()
        self.process = self._context.Process(
            target=_worker_main, args=(child_end, self.env_fn), name=f"gea-env-{self.index}", daemon=True
        )
        self.process.start()
        child_end.close()
        self.connection: Connection = parent_end
        self._pending = 1  # the build report
        self._started_at = time.monotonic()

    def wait_until_built(self) -> None:
        """Wait for the build report; raise ``EnvWorkerError`` if building failed or took too long."""
        reply = self.receive(self._started_at + self._start_timeout)
        if isinstance(reply, Crash):
            self.kill()
            raise EnvWorkerError(f"{self.describe()} could not start: {reply.reason}")
        status, value = reply
        if status == "error":
            self.kill()
            raise EnvWorkerError(f"{self.describe()} failed while building the environment: {value}")

    def describe(self) -> str:
        """``env <id> (worker <index>)`` for messages."""
        return f"env {self.env_fn.env_id!r} (worker {self.index})"

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

    def restart(self) -> None:
        """Kill whatever is left of the process and start a fresh one with the same recipe."""
        self.kill()
        self._launch()
        self.wait_until_built()

    def kill(self) -> None:
        """Stop the process at once and release the pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5.0)
        self.connection.close()

    def close(self, timeout: float) -> None:
        """Ask the env to close; kill the process if it does not finish within ``timeout`` seconds."""
        if self.process.is_alive() and not self._pending:
            self.send("close")
            self.receive(time.monotonic() + timeout)
            self.process.join(timeout=timeout)
        self.kill()


class LocalWorker:
    """One environment in this process, behind the same interface as ``ProcessWorker`` (no crash isolation)."""

    def __init__(self, env_fn: EnvFn, index: int) -> None:
        self.env_fn = env_fn
        self.index = index
        self.env = env_fn()
        self._reply: tuple[str, Any] = ("ok", None)

    def describe(self) -> str:
        """``env <id> (worker <index>)`` for messages."""
        return f"env {self.env_fn.env_id!r} (worker {self.index})"

    def send(self, command: Command, payload: Any = None) -> None:
        """Run the command now and keep its reply for ``receive``."""
        try:
            self._reply = ("ok", run_command(self.env, command, payload))
        except Exception as error:
            self._reply = ("error", _describe(error))

    def receive(self, deadline: float | None) -> tuple[str, Any]:
        """The reply of the last command."""
        return self._reply

    def restart(self) -> None:
        """In-process envs cannot crash separately from this process; nothing to restart."""
        raise EnvWorkerError(f"{self.describe()} runs in-process and cannot be restarted")

    def close(self, timeout: float) -> None:
        """Close the env."""
        self.env.close()


Worker = ProcessWorker | LocalWorker


class WorkerPool:
    """A fixed list of environments, each in a worker, driven in lock step with crash recovery.

    Args:
        env_fns: one recipe per environment.
        asynchronous: one process per environment (True) or all in this process (False).
        step_timeout: seconds a worker may take to answer ``reset``/``step``/``call``; a worker that takes
            longer is killed and restarted. ``None`` waits as long as the worker is alive.
        start_timeout: seconds a worker may take to build its environment.
        start_method: ``multiprocessing`` start method (default ``forkserver``).
    """

    def __init__(
        self,
        env_fns: Sequence[EnvFn],
        asynchronous: bool = True,
        step_timeout: float | None = None,
        start_timeout: float = 300.0,
        start_method: str = DEFAULT_START_METHOD,
    ) -> None:
        if not env_fns:
            raise ValueError("a vector env needs at least one environment")
        self.env_fns = list(env_fns)
        self.step_timeout = step_timeout
        self._restart_rng = np.random.default_rng()
        self._last_obs: list[dict[str, Any] | None] = [None] * len(env_fns)
        self.workers: list[Worker] = []
        try:
            if asynchronous:
                context = mp.get_context(start_method)
                if start_method == "forkserver":
                    context.set_forkserver_preload(["gea.envs"])
                for index, env_fn in enumerate(env_fns):
                    self.workers.append(ProcessWorker(env_fn, index, context, start_timeout))
                for worker in self.workers:
                    worker.wait_until_built()
            else:
                self.workers = [LocalWorker(env_fn, index) for index, env_fn in enumerate(env_fns)]
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.workers)

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Reset every env (env ``i`` with ``seeds[i]``); a worker that crashes is restarted and reset.

        Seeds also seed the generator of the seeds given to restarted workers, so runs stay reproducible.
        """
        given = [seed for seed in seeds if seed is not None]
        if given:
            self._restart_rng = np.random.default_rng(given)
        replies = self._broadcast("reset", [(seed, options) for seed in seeds])
        results = []
        for worker, seed, reply in zip(self.workers, seeds, replies, strict=True):
            if isinstance(reply, Crash):
                obs, info = self._restart(worker, reply, seed)
                reply = ("ok", (obs, {**info, "worker_restarted": True}))
            results.append(reply[1])
        self._last_obs = [obs for obs, _ in results]
        return results

    def step(self, actions: Sequence[Any]) -> list[tuple[dict[str, Any], float, bool, bool, dict[str, Any]]]:
        """Step every env with its action (``SAME_STEP`` autoreset; see the module docstring).

        A crashed or hung worker's episode ends as truncated with reward 0: its result carries the fresh
        first observation of a new episode and ``info["worker_restarted"] = True``.
        """
        if len(actions) != len(self.workers):
            raise ValueError(f"expected {len(self.workers)} actions, got {len(actions)}")
        replies = self._broadcast("step", list(actions))
        results = []
        for worker, reply in zip(self.workers, replies, strict=True):
            if isinstance(reply, Crash):
                obs, info = self._restart(worker, reply, self._restart_seed())
                final_info = {"success": False, "worker_restarted": True}
                final_obs = self._last_obs[worker.index]
                info = {**info, "worker_restarted": True, "final_obs": final_obs, "final_info": final_info}
                results.append((obs, 0.0, False, True, info))
            else:
                results.append(reply[1])
        self._last_obs = [result[0] for result in results]
        return results

    def call(
        self, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, indices: Sequence[int] = ()
    ) -> list[Any]:
        """Call ``env.unwrapped.<name>(*args, **kwargs)`` (or read it) in the envs at ``indices`` (default: all)."""
        workers = [self.workers[index] for index in indices] if indices else self.workers
        replies = self._broadcast("call", [(name, args, kwargs or {})] * len(workers), workers)
        for worker, reply in zip(workers, replies, strict=True):
            if isinstance(reply, Crash):
                self._restart(worker, reply, self._restart_seed())
                raise EnvWorkerError(
                    f"{worker.describe()} crashed during call({name!r}) and was restarted: {reply.reason}"
                )
        return [reply[1] for reply in replies]  # type: ignore[index]

    def close(self, timeout: float = 5.0) -> None:
        """Close every env and stop every worker process."""
        for worker in self.workers:
            worker.close(timeout)
        self.workers = []

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
            if not isinstance(reply, Crash) and reply[0] == "error":
                raise EnvWorkerError(f"{worker.describe()} raised an exception during {command}: {reply[1]}")
        return replies

    def _restart_seed(self) -> int:
        return int(self._restart_rng.integers(2**31))

    def _restart(self, worker: Worker, crash: Crash, seed: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Restart a crashed worker and reset its env; a second failure in a row raises ``EnvWorkerError``."""
        logger.warning("%s stopped: %s; restarting it and truncating its episode", worker.describe(), crash.reason)
        worker.restart()
        worker.send("reset", (seed, None))
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout
        reply = worker.receive(deadline)
        if isinstance(reply, Crash) or reply[0] == "error":
            detail = reply.reason if isinstance(reply, Crash) else reply[1]
            raise EnvWorkerError(f"{worker.describe()} failed again right after a restart: {detail}")
        return reply[1]  # type: ignore[no-any-return]
