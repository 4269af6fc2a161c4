"""Expert for every ``babyai:*`` level: minigrid's shipped ``BabyAIBot`` planning on the privileged grid."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from gea.agents.experts import register_expert


class BabyAIBotExpert:
    """Wraps ``minigrid.utils.baby_ai_bot.BabyAIBot``; reads the level from ``env.unwrapped.minigrid``.

    minigrid documents levels the bot cannot solve: KeyInBox and PutNextS*N*Carrying.
    """

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self._bot: Any = None
        self._last_action: int | None = None

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Build a fresh bot for the episode that ``env`` has just started."""
        from minigrid.utils.baby_ai_bot import BabyAIBot

        self._bot = BabyAIBot(env.unwrapped.minigrid)
        self._last_action = None

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """The bot's next primitive action (an index into the ``babyai:*`` action names)."""
        if self._bot is None:
            raise RuntimeError(f"{self.env_id}: call expert.reset(env) after env.reset() before act()")
        action = int(self._bot.replan(self._last_action))
        self._last_action = action
        return action


@register_expert("babyai:*")
def make_babyai_bot(env_id: str) -> BabyAIBotExpert:
    """The BabyAI bot expert for one ``babyai:<Level>`` id."""
    return BabyAIBotExpert(env_id)


class BabyAISkillExpert:
    """Expert for ``babyai-skills:*``: the scripted ``SkillPlanner`` over the privileged grid and mission."""

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Nothing to prepare: the planner reads the current state at every step."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """Index of the next skill in the env's action names."""
        from gea.agents.experts.babyai_skill_planner import SkillPlanner
        from gea.envs.adapters.babyai_skills import SKILL_INDEX

        return SKILL_INDEX[SkillPlanner(env.unwrapped.minigrid).next_skill()]


@register_expert("babyai-skills:*")
def make_babyai_skill_expert(env_id: str) -> BabyAISkillExpert:
    """The scripted skill planner for one ``babyai-skills:<Level>`` id."""
    return BabyAISkillExpert(env_id)
