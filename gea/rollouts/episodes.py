"""Run one episode of an agent in a contract env and summarize it: the one episode loop of evaluation,
collection and expert training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym


class EpisodeAgent(Protocol):
    """Anything that acts one env at a time: experts, baselines, adapted policies."""

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Called after each ``env.reset``."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> Any:
        """The native action for the current observation."""


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one episode. ``ended``: ``terminated`` (the game ended it), ``truncated`` (a time limit),
    ``step_cap`` (evaluation's ``max_steps``, shorter than the game's own limit; set by the evaluator) or
    ``success`` (cut at its first success by ``end_on_success`` while the game went on)."""

    env_id: str
    seed: int
    success: bool
    episode_return: float
    length: int
    ended: str = "terminated"

    @property
    def whole(self) -> bool:
        """Whether the episode was played to the game's own end (what normalized game scores assume)."""
        return self.ended in ("terminated", "truncated")


class StepObserver(Protocol):
    """Told about every step of an episode (e.g. to record it): the observation acted on, the agent's action,
    and the env's answer, with ``terminated`` already set where the episode ended on success."""

    def __call__(
        self, observation: dict[str, Any], action: Any, reward: float, terminated: bool, truncated: bool, success: bool
    ) -> None:
        """Handle one step."""


def run_episode(
    env: gym.Env[Any, Any],
    agent: EpisodeAgent,
    seed: int,
    env_id: str,
    end_on_success: bool = True,
    perturb: Callable[[Any], Any] | None = None,
    on_step: StepObserver | None = None,
) -> EpisodeResult:
    """Play one episode from ``reset(seed=seed)`` until it ends (or, with ``end_on_success``, first succeeds).

    ``perturb(action)`` gives the action the env executes instead of the agent's (e.g. DART-style noise); an
    agent with ``observe_action`` is told what was executed when it differs. ``on_step`` sees every step with
    the agent's own action; an episode ended by success is reported as terminated.
    """
    observation, info = env.reset(seed=seed)
    agent.reset(env)
    total, length, success = 0.0, 0, bool(info["success"])
    done, ended = False, "terminated"
    while not done:
        action = agent.act(env, observation)
        executed = action if perturb is None else perturb(action)
        if executed is not action and hasattr(agent, "observe_action"):
            agent.observe_action(executed)
        next_observation, reward, terminated, truncated, info = env.step(executed)
        total += float(reward)
        length += 1
        success = success or bool(info["success"])
        ended = "terminated" if terminated else "truncated" if truncated else "success"
        terminated = bool(terminated) or (end_on_success and success)
        if on_step is not None:
            on_step(observation, action, float(reward), terminated, bool(truncated), bool(info["success"]))
        observation, done = next_observation, terminated or bool(truncated)
    return EpisodeResult(env_id, seed, success, total, length, ended)
