"""Resolve the agent names used by evaluation and collection (``random``, ``expert``, ...)."""

from __future__ import annotations

from pathlib import Path

from gea.agents.baselines import RandomAgent
from gea.agents.experts import has_expert, make_expert
from gea.errors import ConfigError
from gea.rollouts.episodes import EpisodeAgent

GEA_POLICY_FILE = "gea_policy.json"  # gea.agents.policy.POLICY_FILE (not imported: it pulls in transformers)
BUILTIN_AGENTS = ("random", "expert", "sb3:<path-to-zip>", "gea:<policy-dir>", "gea-sample:<policy-dir>")


def make_agent(name: str, env_id: str, seed: int, trust_remote_code: bool = False) -> EpisodeAgent | None:
    """Build the agent called ``name`` for ``env_id``; ``None`` when it does not apply to that task.

    ``random`` acts uniformly at random; ``expert`` is the registered scripted/bot expert of the task;
    ``sb3:<path>`` is the Stable-Baselines3 image policy saved at ``<path>`` (a zip, loaded without unpickling);
    ``gea:<dir>`` acts greedily with the GEA policy saved in ``<dir>`` (``save_pretrained``, e.g. ``gea sft``'s
    ``out_dir/policy``; the run's ``out_dir`` works too); ``gea-sample:<dir>`` samples the same policy's actions
    (temperature 1, as in PPO rollouts) from a torch generator seeded with ``seed``. Model code shipped inside a
    GEA checkpoint runs only with ``trust_remote_code=True``.
    """
    if name == "random":
        return RandomAgent(seed)
    if name == "expert":
        return make_expert(env_id) if has_expert(env_id) else None
    if name.startswith("sb3:"):
        from gea.agents.experts.sb3_expert import load_sb3_expert

        return load_sb3_expert(env_id, name.removeprefix("sb3:"))
    if name.startswith("gea:"):
        return load_gea_agent(name.removeprefix("gea:"), trust_remote_code=trust_remote_code)
    if name.startswith("gea-sample:"):
        import torch

        torch.manual_seed(seed)
        return load_gea_agent(name.removeprefix("gea-sample:"), greedy=False, trust_remote_code=trust_remote_code)
    raise ConfigError(f"unknown agent {name!r}; available: {', '.join(BUILTIN_AGENTS)}")


def check_agent(name: str) -> None:
    """Raise ``ConfigError`` when ``name`` is no agent, or names a checkpoint or zip that is not there (checked
    before any agent plays, so a typo in the last agent does not cost the others' run)."""
    kind, _, location = name.partition(":")
    if name in ("random", "expert"):
        return
    if kind in ("gea", "gea-sample") and location:
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


def load_gea_agent(directory: str, greedy: bool = True, trust_remote_code: bool = False) -> EpisodeAgent:
    """A single-env agent (argmax, or sampled actions with ``greedy=False``) over the GEA policy saved in
    ``directory`` (or in its ``policy/`` subfolder)."""
    from gea.agents.interface import EpisodeAdapter
    from gea.agents.policy import POLICY_FILE, GEAPolicy

    path = Path(directory)
    if not (path / POLICY_FILE).is_file() and (path / "policy" / POLICY_FILE).is_file():
        path = path / "policy"
    policy = GEAPolicy.from_pretrained(path, trust_remote_code=trust_remote_code)
    policy.eval()
    return EpisodeAdapter(policy, greedy=greedy)
