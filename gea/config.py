"""Hydra structured configs: compose a job's YAML onto its dataclass schema and check it before any work.

A wrong key is answered with the closest real ones at its level ("did you mean optim.lr?"), a value of the wrong
type with the type the option takes, a value out of range with the rule it breaks (``gea.schema``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gea.errors import ConfigError
from gea.files import atomic_write_text
from gea.schema import check_values, choices_of, describe_type, fields_of, find_class, lookup, suggest, walk

CONFIG_MODULE = "gea.configs"
SchemaT = TypeVar("SchemaT")


def load_job_config(job: str, schema: type[SchemaT], overrides: Sequence[str] = ()) -> SchemaT:
    """Compose ``gea/configs/<job>.yaml`` with command-line ``overrides``, check it against ``schema`` and
    return the schema object; any mistake raises ``ConfigError`` naming the key and the fix.

    The YAML file lists ``<job>_schema`` first in its defaults. A schema's ``choices`` (``{field: {option:
    dataclass}}``) become Hydra config groups, e.g. ``policy=small|mllm``, whose default the YAML picks.
    """
    composed = compose_job(job, schema, overrides)
    return _to_object(job, schema, composed, overrides)


def compose_job(job: str, schema: type, overrides: Sequence[str] = ()) -> DictConfig:
    """The composed (not yet checked) config of ``gea <job>``: its YAML, recipes and ``overrides``."""
    store = ConfigStore.instance()
    node = OmegaConf.structured(schema)
    for group, options in choices_of(schema).items():
        for name, option in options.items():
            store.store(group=group, name=name, node=option)
        node[group] = MISSING  # filled by the chosen option (a field typed Any holds any of them)
    store.store(name=f"{job}_schema", node=node)
    return _compose(job, job, schema, overrides)


def apply_overrides(job: str, config: SchemaT, overrides: Sequence[str]) -> SchemaT:
    """``config`` (a schema object of ``gea <job>``) with command-line ``overrides`` applied and checked."""
    if not overrides:
        return config
    ConfigStore.instance().store(name=f"{job}_base", node=OmegaConf.structured(config))
    composed = _compose(job, f"{job}_base", type(config), overrides)
    return _to_object(job, type(config), composed, overrides)


def save_config(config: Any, path: Path) -> None:
    """Write a resolved dataclass config as YAML (atomically) next to a run's outputs."""
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.structured(config)))


def to_dict(config: Any) -> dict[str, Any]:
    """A plain dict of a dataclass config (for logging and JSON reports)."""
    return dataclasses.asdict(config)


# ------------------------------------------------------------------------------------------------ internals
def _compose(job: str, name: str, schema: type, overrides: Sequence[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(explain(job, schema, error, overrides)) from error
    finally:
        GlobalHydra.instance().clear()


def _to_object(job: str, schema: type, composed: DictConfig, overrides: Sequence[str]) -> Any:
    _check_added_keys(job, schema, composed, overrides)
    try:
        config = OmegaConf.to_object(composed)
    except OmegaConfBaseException as error:
        raise ConfigError(explain(job, schema, error, overrides)) from error
    check_values(config)
    return config


def _check_added_keys(job: str, schema: type, composed: DictConfig, overrides: Sequence[str]) -> None:
    """``+key=value`` adds entries to free-form mappings (``+env_kwargs.view=agent``) only, never new options."""
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if override.startswith("+") and "@" not in key:
            parent = OmegaConf.select(composed, key.rpartition(".")[0]) if "." in key else composed
            if OmegaConf.is_config(parent) and OmegaConf.get_type(parent) not in (dict, None):
                raise ConfigError(_unknown_key(job, schema, key, OmegaConf.get_type(parent)))


def command_name(job: str) -> str:
    """The command a job runs under (``tokenizer_fit`` -> ``tokenizer fit``)."""
    return job.replace("_", " ")


def explain(job: str, schema: type, error: BaseException, overrides: Sequence[str] = ()) -> str:
    """A message for a Hydra/OmegaConf composition error that names the key and the fix."""
    job = command_name(job)
    text = "\n".join(str(item) for item in _chain(error))
    missing_option = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    if missing_option:
        group, name = missing_option.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.MULTILINE)
        close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"{group}={name}: there is no such {group}{hint}; choose one of: {', '.join(options)}"
    key = _failing_key(text)
    unknown = re.search(r"Key '([^']+)' (?:not in '(\w+)'|is not in struct)", text)
    if unknown and key is not None:
        owner = re.search(r"object_type=(\w+)", text)
        kind = find_class(schema, owner.group(1)) if owner else None
        if key.rpartition(".")[2] != unknown.group(1):  # a key inside a list entry, e.g. suite.tasks=[{episdes: 1}]
            key = f"{key}[].{unknown.group(1)}"
        return _unknown_key(job, schema, key, kind or dict)
    if "could not be converted" in text or "is not a valid" in text:
        field = lookup(schema, key or "")
        value = next((item.split("=", 1)[1] for item in overrides if item.lstrip("+").startswith(f"{key}=")), None)
        expected = describe_type(field.type) if field else "another type"
        about = f" ({field.help})" if field and field.help else ""
        return f"{key}={value if value is not None else '?'}: {key} takes {expected}{about}"
    mandatory = re.search(r"missing mandatory value: (\S+)", text)
    if mandatory:
        field = lookup(schema, mandatory.group(1))
        about = f" ({field.help})" if field and field.help else ""
        return f"`gea {job}` needs {mandatory.group(1)}=...{about}"
    message = str(error).split("\nTo append to your config")[0].split("\nConfig search path")[0]
    return f"invalid configuration for `gea {job}`: {message}"


def _unknown_key(job: str, schema: type, key: str, owner: type) -> str:
    job = command_name(job)
    parent = key.rpartition(".")[0]
    if owner is dict:
        return f"{key}: {parent} is a free-form mapping; add an entry to it with +{key}=VALUE"
    prefix = re.sub(r"\[\]$", "", parent) + "." if parent else ""
    candidates = [dataclasses.replace(item, key=f"{prefix}{item.name}") for item in fields_of(owner)]
    squeezed = re.sub(r"[._\[\]]", "", key)
    close = [item.key for item in walk(schema) if re.sub(r"[._]", "", item.key) == squeezed]  # policy.lora_rank
    close = close or suggest(key.rpartition(".")[2], candidates)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    where = f"keys under {parent}" if parent else "top-level keys"
    extra = ""
    if parent.split(".")[0] in choices_of(schema) and parent.count(".") == 0:
        group = parent.split(".")[0]
        extra = f" (pick the kind itself with {group}={'|'.join(choices_of(schema)[group])})"
    return (
        f"unknown option {key!r}{hint}\nValid {where}: {', '.join(item.name for item in fields_of(owner))}{extra}"
        f"\n(`gea {job} --help` describes every option)"
    )


def _failing_key(text: str) -> str | None:
    for pattern in (r"Could not override '([^']+)'", r"Error merging override \+?([^=\s]+)=", r"full_key: (\S+)"):
        found = re.search(pattern, text)
        if found:
            return found.group(1)
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__
