"""Worker processes that end with their parent and see the parent's plugins.

Every worker process gea starts (vector-env workers, collection and evaluation workers) arms ``die_with_parent``
and imports the plugin modules of its parent (``gea.plugins``) before it builds anything. So ``kill -9`` of a
``gea`` command leaves no worker behind, and with the workers gone, multiprocessing's resource tracker and fork
server (which exit once every process holding their pipes has ended) end as well.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from gea.plugins import load_plugins, loaded_plugins

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL_S = 0.25
CLEANUP_GRACE_S = 3.0

_ending = False


def die_with_parent(parent_pid: int | None = None, kernel_signal: bool = True) -> None:
    """Make this process end as soon as its parent process ends, however the parent ended (``kill -9`` too).

    On the parent's end this process runs its exit hooks (``atexit``: envs closed, browsers killed) and exits; if
    that takes more than 3 s, it is killed. ``parent_pid``: the parent's pid as the parent saw it (default: the
    current parent). On Linux the kernel sends SIGTERM when the parent *thread* that started this process ends
    (``PR_SET_PDEATHSIG``); pass ``kernel_signal=False`` when that thread may end before its process does.
    Everywhere, a daemon thread also checks every 0.25 s that the parent is still this process's parent.
    SIGTERM from anyone else ends the process the same orderly way.
    """
    parent = os.getppid() if parent_pid is None else parent_pid
    signal.signal(signal.SIGTERM, _end_on_signal)
    if kernel_signal and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    threading.Thread(target=_watch_parent, args=(parent,), name="gea-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(CLEANUP_GRACE_S)  # the main thread may be stuck in native code, or its exit hooks may hang
    os.kill(os.getpid(), signal.SIGKILL)


def _end_on_signal(signum: int, frame: object) -> None:
    """Run the exit hooks once, then leave at once (a worker's own loop must not get to swallow the exit)."""
    global _ending
    if _ending:
        return
    _ending = True
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    os._exit(128 + signum)


def init_worker(imports: Sequence[str], parent_pid: int, kernel_signal: bool) -> None:
    """What a pool worker process does first: die with its parent, then import the parent's plugin modules."""
    die_with_parent(parent_pid, kernel_signal)
    load_plugins(imports)


def worker_pool(num_workers: int) -> ProcessPoolExecutor:
    """A pool of ``num_workers`` spawned processes that import this process's plugins and end with it.

    Create it in the thread that submits to it (workers are started on submission and tied to that thread).
    """
    started_by_main_thread = threading.current_thread() is threading.main_thread()
    return ProcessPoolExecutor(
        num_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(loaded_plugins(), os.getpid(), started_by_main_thread),
    )
