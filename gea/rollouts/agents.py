"""Resolve the agent names used by evaluation and collection (``random``, ``expert``, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gea.agents.baselines import RandomAgent
from gea.agents.experts import has_expert, make_expert, missing_expert_reason
from gea.agents.interface import EpisodeAdapter
from gea.errors import ConfigError
from gea.rollouts.episodes import EpisodeAgent

if TYPE_CHECKING:
    from gea.agents.policy import GEAPolicy

GEA_POLICY_FILE = "gea_policy.json"  # gea.agents.policy.POLICY_FILE (not imported: it pulls in transformers)
BUILTIN_AGENTS = (
    "random",
    "expert",
    "sb3:<path-to-zip>",
    "gea:<policy-dir>",
    "gea-sample:<policy-dir>",
    "gea-greedy:<policy-dir>",
)
GEA_PREFIXES: dict[str, bool | None] = {"gea:": None, "gea-sample:": False, "gea-greedy:": True}  # -> greedy


def unavailable_reason(name: str, env_id: str) -> str | None:
    """Why the agent called ``name`` cannot play ``env_id`` (e.g. no expert for it), or None when it can."""
    if name == "expert" and not has_expert(env_id):
        return missing_expert_reason(env_id)
    return None


def make_agent(name: str, env_id: str, seed: int, trust_remote_code: bool = False) -> EpisodeAgent:
    """Build the agent called ``name`` for ``env_id`` (``unavailable_reason`` says first whether it applies).

    ``random`` acts uniformly at random; ``expert`` is the registered scripted/bot expert of the task;
    ``sb3:<path>`` is the Stable-Baselines3 image policy saved at ``<path>`` (a zip, loaded without unpickling);
    ``gea:<dir>`` acts with the GEA policy saved in ``<dir>`` (``save_pretrained``, e.g. ``gea sft``'s
    ``out_dir/policy``; the run's ``out_dir`` works too) the way it records (``decoding``: sampled actions, as in
    PPO rollouts, unless it was trained with ``policy.decoding=greedy``); ``gea-sample:<dir>`` and
    ``gea-greedy:<dir>`` force sampled or argmax actions. Sampling draws from torch's generator seeded with ``seed``
    (``GEAAgent.reseed`` reseeds it per episode). Model code shipped inside a GEA checkpoint runs only with
    ``trust_remote_code=True``.
    """
    if name == "random":
        return RandomAgent(seed)
    if name == "expert":
        return make_expert(env_id)
    if name.startswith("sb3:"):
        from gea.agents.experts.sb3_expert import load_sb3_expert

        return load_sb3_expert(env_id, name.removeprefix("sb3:"))
    for prefix, greedy in GEA_PREFIXES.items():
        if name.startswith(prefix):
            import torch

            torch.manual_seed(seed)
            return load_gea_agent(name.removeprefix(prefix), greedy=greedy, trust_remote_code=trust_remote_code)
    raise ConfigError(f"unknown agent {name!r}; available: {', '.join(BUILTIN_AGENTS)}")


def check_agent(name: str) -> None:
    """Raise ``ConfigError`` when ``name`` is no agent, or names a checkpoint or zip that is not there (checked
    before any agent plays, so a typo in the last agent does not cost the others' run)."""
    kind, _, location = name.partition(":")
    if name in ("random", "expert"):
        return
    if f"{kind}:" in GEA_PREFIXES and location:
        path = Path(location)
        if not path.exists():
            raise ConfigError(
                f"agent {name}: {path} does not exist; give a policy folder written by save_pretrained "
                "(e.g. the policy/ folder of a gea sft or gea ppo run)"
            )
        if not any((folder / GEA_POLICY_FILE).is_file() for folder in (path, path / "policy")):
            raise ConfigError(
                f"agent {name}: {path} holds no GEA policy ({GEA_POLICY_FILE}, or policy/{GEA_POLICY_FILE})"
            )
        return
    if kind == "sb3" and location:
        if not Path(location).is_file():
            raise ConfigError(f"agent {name}: {location} does not exist; give the model.zip of an SB3 image policy")
        return
    raise ConfigError(f"unknown agent {name!r}; available: {', '.join(BUILTIN_AGENTS)}")


class GEAAgent(EpisodeAdapter):
    """A saved GEA policy playing single-env episodes; ``trained_with`` holds the observation options it was
    trained with (evaluation makes each env with them unless told otherwise)."""

    def __init__(self, policy: GEAPolicy, greedy: bool) -> None:
        super().__init__(policy, greedy=greedy)
        self.trained_with = policy.trained_with

    def reseed(self, seed: int) -> None:
        """Draw the next episode's sampled actions from torch's generator seeded with ``seed``: two agents given
        the same seed share their random draws, so policies that barely differ play nearly the same episode and
        a comparison measures the policies rather than the dice (common random numbers)."""
        import torch

        torch.manual_seed(seed)


def load_gea_agent(directory: str, greedy: bool | None = None, trust_remote_code: bool = False) -> GEAAgent:
    """A single-env agent over the GEA policy saved in ``directory`` (or in its ``policy/`` subfolder): argmax
    (``greedy=True``), sampled actions (``False``), or as the policy's ``decoding`` records (``None``)."""
    from gea.agents.policy import POLICY_FILE, GEAPolicy

    path = Path(directory)
    if not (path / POLICY_FILE).is_file() and (path / "policy" / POLICY_FILE).is_file():
        path = path / "policy"
    policy = GEAPolicy.from_pretrained(path, trust_remote_code=trust_remote_code)
    policy.eval()
    return GEAAgent(policy, greedy=policy.config.decoding == "greedy" if greedy is None else greedy)
