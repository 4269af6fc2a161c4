"""Worker processes end with their parent: ``kill -9`` of a command leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from readme_plugin import gea_command, gea_env, readme_plugin

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table in /proc")


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    table, found, frontier = process_table(), [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, (ppid, _) in table.items() if ppid == parent]
        found += children
        frontier += children
    return found


def alive(pids: list[int]) -> list[int]:
    """The processes of ``pids`` that still run (zombies count as ended)."""
    table = process_table()
    return [pid for pid in pids if pid in table and table[pid][1] != "Z"]


def command_line(pid: int) -> str:
    """The command line of ``pid`` ("" once it has ended)."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_kill_9_of_gea_collect_leaves_no_live_child_within_5_s(tmp_path: Path) -> None:
    (tmp_path / "my_corridor.py").write_text(readme_plugin())
    args = ["collect", "imports=[my_corridor]", "envs=[corridor:walk]", "episodes_per_task=1000000", "num_envs=2"]
    command = gea_command([*args, "image_size=16", f"out={tmp_path / 'data'}", "progress=false"])
    process = subprocess.Popen(command, cwd=tmp_path, env=gea_env(), stdout=subprocess.DEVNULL)
    workers: list[int] = []
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            workers = [pid for pid in descendants(process.pid) if "spawn_main" in command_line(pid)]
        assert len(workers) == 2, f"the two collection workers did not start (exit code {process.poll()})"
        time.sleep(1.0)  # let them run episodes
        children = descendants(process.pid)  # the workers and multiprocessing's resource tracker
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 5
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(children)
        assert not left, [command_line(pid) for pid in left]
    finally:
        process.kill()
        for pid in alive([*workers, *children]):
            os.kill(pid, signal.SIGKILL)
