"""Normalized game scores: Procgen min-max (GEA's easy-mode ranges) and Atari human-normalized."""

from __future__ import annotations

from gea.rollouts.metrics import human_normalized, min_max_normalized


def normalized_score(env_id: str, mean_return: float) -> float | None:
    """The normalized score of a mean return on ``env_id``, or ``None`` when the game defines none."""
    family, _, name = env_id.partition(":")
    if family == "procgen":
        from gea.envs.adapters.procgen_games import PROCGEN_EASY_RETURN_RANGE

        if name in PROCGEN_EASY_RETURN_RANGE:
            return min_max_normalized(mean_return, *PROCGEN_EASY_RETURN_RANGE[name])
    if family == "atari":
        from gea.envs.adapters.atari_games import atari_reference_scores

        scores = atari_reference_scores()
        if name in scores:
            return human_normalized(mean_return, scores[name]["random"], scores[name]["human"])
    return None
