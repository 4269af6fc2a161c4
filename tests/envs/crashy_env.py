"""Test-only environment that misbehaves on purpose inside a vector-env worker.

It lives in an importable module (not a test file) so that worker processes, which are forked from a
fork server or spawned, can import it and find its registration: pass ``imports=("crashy_env",)``.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from typing import Any

import gymnasium as gym

import gea.envs
from gea.envs.registry import register

CRASHY_ID = "test:crashy-cartpole"


class Misbehave(gym.Wrapper[Any, Any, Any, Any]):
    """Real CartPole (under the contract) whose ``at_step``-th step since process start misbehaves.

    Modes: ``exit`` (``os._exit``), ``segfault`` (SIGSEGV), ``sigkill``, ``hang`` (sleeps for an hour),
    ``slow`` (sleeps 5 s, then steps: time to interrupt the wait even on a loaded machine), ``raise``
    (``RuntimeError``), ``none`` (behaves).
    """

    def __init__(self, env: gym.Env[Any, Any], mode: str, at_step: int) -> None:
        super().__init__(env)
        self.mode = mode
        self.at_step = at_step
        self.steps = 0

    def step(self, action: Any) -> Any:
        """Step CartPole, or misbehave on the chosen step."""
        self.steps += 1
        if self.steps == self.at_step:
            if self.mode == "exit":
                os._exit(3)
            if self.mode == "segfault":
                os.kill(os.getpid(), signal.SIGSEGV)
            if self.mode == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.mode == "hang":
                time.sleep(3600)
            if self.mode == "slow":
                time.sleep(5)
            if self.mode == "raise":
                raise RuntimeError("crashy env failed on purpose")
        return self.env.step(action)


@register(replace(gea.envs.spec("cartpole"), id=CRASHY_ID))
def make_crashy(mode: str = "none", at_step: int = 3, **kwargs: Any) -> gym.Env[Any, Any]:
    """CartPole that misbehaves (see ``Misbehave``) on its ``at_step``-th step."""
    return Misbehave(gea.envs.make("cartpole", **kwargs).unwrapped, mode, at_step)
