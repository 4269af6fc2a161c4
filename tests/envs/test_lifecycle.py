"""Envs and worker pools left open are closed at interpreter exit, once, newest first; closed ones are forgotten."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

import gea.envs
from gea.envs import lifecycle


class _Resource:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name
        lifecycle.close_at_exit(self)

    def close(self) -> None:
        self.log.append(self.name)
        lifecycle.forget(self)


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only what it registers (close_all must not close other tests' envs)."""
    monkeypatch.setattr(lifecycle, "_OPEN", {})


def test_open_resources_close_newest_first_and_closed_ones_are_forgotten() -> None:
    log: list[str] = []
    first, second, third = _Resource(log, "first"), _Resource(log, "second"), _Resource(log, "third")
    second.close()
    lifecycle.close_all()
    assert log == ["second", "third", "first"]
    lifecycle.close_all()
    assert log == ["second", "third", "first"]  # nothing is closed twice
    del first, third


def test_a_collected_resource_is_dropped() -> None:
    resource = _Resource([], "gone")
    assert len(lifecycle._OPEN) == 1
    del resource
    gc.collect()
    assert lifecycle._OPEN == {}


def test_contract_env_close_is_idempotent_and_unregisters() -> None:
    env = gea.envs.make("cartpole", image_size=16)
    assert any(reference() is env for reference in lifecycle._OPEN.values())
    env.close()
    env.close()
    assert not any(reference() is env for reference in lifecycle._OPEN.values())


def test_a_script_that_never_closes_exits_cleanly() -> None:
    script = textwrap.dedent(
        """
        import gea.envs
        if __name__ == "__main__":
            env = gea.envs.make("metaworld:reach-v3", image_size=32)
            env.reset(seed=0)
            envs = gea.envs.make_vec("cartpole", num_envs=2, num_workers=1, seed=0)
            envs.reset()
            print("done")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "done\n"
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr and "leaked" not in done.stderr
