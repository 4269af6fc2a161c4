"""Hydra structured configs: compose a job's YAML onto its dataclass schema so typos fail early."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gea.errors import ConfigError
from gea.files import atomic_write_text

CONFIG_MODULE = "gea.configs"
SchemaT = TypeVar("SchemaT")


def load_job_config(job: str, schema: type[SchemaT], overrides: Sequence[str] = ()) -> SchemaT:
    """Compose ``gea/configs/<job>.yaml`` with command-line ``overrides`` and validate it against ``schema``.

    The YAML file lists ``<job>_schema`` first in its defaults; an unknown key or a value of the wrong
    type raises ``ConfigError`` naming the key. A schema's ``choices`` (``{field: {option: dataclass}}``) become
    Hydra config groups, e.g. ``policy=small|mllm``: the YAML picks the default option in its defaults list.
    """
    store = ConfigStore.instance()
    node = OmegaConf.structured(schema)
    for group, options in getattr(schema, "choices", {}).items():
        for name, option in options.items():
            store.store(group=group, name=name, node=option)
        node[group] = MISSING  # filled by the chosen option (a field typed Any holds any of them)
    store.store(name=f"{job}_schema", node=node)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            composed = compose(config_name=job, overrides=list(overrides))
        return OmegaConf.to_object(composed)  # type: ignore[return-value]
    except (HydraException, OmegaConfBaseException) as error:
        keys = ", ".join(field.name for field in dataclasses.fields(schema))  # type: ignore[arg-type]
        message = str(error).split("\nTo append to your config")[0]
        raise ConfigError(f"invalid configuration for `gea {job}`: {message}\nValid top-level keys: {keys}") from error
    finally:
        GlobalHydra.instance().clear()


def apply_overrides(job: str, config: SchemaT, overrides: Sequence[str]) -> SchemaT:
    """``config`` (a schema object of ``gea <job>``) with command-line ``overrides`` applied and validated."""
    if not overrides:
        return config
    ConfigStore.instance().store(name=f"{job}_base", node=OmegaConf.structured(config))
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            composed = compose(config_name=f"{job}_base", overrides=list(overrides))
        return OmegaConf.to_object(composed)  # type: ignore[return-value]
    except (HydraException, OmegaConfBaseException) as error:
        message = str(error).split("\nTo append to your config")[0]
        raise ConfigError(f"invalid override for `gea {job}`: {message}") from error
    finally:
        GlobalHydra.instance().clear()


def save_config(config: Any, path: Path) -> None:
    """Write a resolved dataclass config as YAML (atomically) next to a run's outputs."""
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.structured(config)))


def to_dict(config: Any) -> dict[str, Any]:
    """A plain dict of a dataclass config (for logging and JSON reports)."""
    return dataclasses.asdict(config)
