"""Normalized game scores: Procgen min-max (GEA's easy-mode ranges) and Atari human-normalized."""

from __future__ import annotations


def normalized_score(env_id: str, mean_return: float) -> float | None:
    """The normalized score of a mean return on ``env_id``, or ``None`` when the game defines none."""
    family, _, name = env_id.partition(":")
    if family == "procgen":
        from gea.envs.adapters.procgen_games import PROCGEN_EASY_RETURN_RANGE, normalized_return

        return normalized_return(name, mean_return) if name in PROCGEN_EASY_RETURN_RANGE else None
    if family == "atari":
        from gea.envs.adapters.atari_data import human_normalized_score

        try:
            return human_normalized_score(name, mean_return)
        except KeyError:
            return None
    return None
