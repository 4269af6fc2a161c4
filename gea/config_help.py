"""``gea <job> --help``: every option of the job's schema with the value it takes by default and its help text.

Nothing here is written by hand per option: keys, help texts and sections come from the schema dataclasses
(``gea.schema.option``), defaults from the composed job YAML (recipes included), config groups (suites,
recipes, policy kinds) from the files and choices that exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import textwrap
import typing
from importlib import resources
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gea.config import CONFIG_MODULE, compose_job
from gea.schema import choices_of, fields_of, section_type

KEY_WIDTH = 36
LONG_VALUE = 48
WIDTH = 118


def help_text(job: str, schema: type, usage: str, about: str) -> str:
    """The full ``--help`` of ``gea <job>``: ``usage`` and ``about`` (what the command does and writes), then the
    config groups and every option of ``schema`` with its default and help."""
    composed = compose_job(job, schema)
    lines = [
        usage.rstrip(),
        "",
        about.strip(),
        "",
        f"Options (key=default; Hydra overrides of gea/configs/{job}.yaml):",
    ]
    lines += _group_lines(job, schema, composed)
    lines += _section_lines(schema, composed, "")
    lines += ["", "Lists and mappings take Hydra syntax: 'envs=[a,b]', +env_kwargs.view=agent adds a mapping entry."]
    return "\n".join(lines)


def _group_lines(job: str, schema: type, composed: DictConfig) -> list[str]:
    """One line per config group of the job's YAML defaults list (e.g. ``suite=quick``) with its options."""
    lines = []
    for entry in _defaults(job):
        if not isinstance(entry, dict):
            continue
        ((target, chosen),) = entry.items()
        group = str(target).split("@", 1)[0]
        if group in choices_of(schema):
            continue  # listed with its section
        options = sorted(
            item.name.removesuffix(".yaml")
            for item in resources.files(CONFIG_MODULE).joinpath(group).iterdir()
            if item.name.endswith(".yaml")
        )
        key = target if str(target).endswith("_global_") else group
        lines.append(_line(f"{key}={chosen}", f"one of {', '.join(options)} (files in gea/configs/{group}/)"))
    return lines


def _section_lines(schema: type, composed: Any, prefix: str) -> list[str]:
    """The options of one schema section, its nested sections after a header each."""
    lines: list[str] = []
    nested: list[str] = []
    for item in fields_of(schema, prefix):
        groups = choices_of(schema)
        if item.name in groups:
            nested += _choice_lines(item.key, item.help, groups[item.name], composed)
            continue
        sections = section_type(schema, item.name)
        value = _value(composed, item.key)
        if sections and typing.get_origin(item.type) not in (list, tuple):
            nested += ["", *_wrap(f"{item.key}.*: {item.help or _first_line(sections[0])}")]
            nested += _section_lines(sections[0], composed, f"{item.key}.")
            continue
        about = item.help
        if sections:  # a list of sections, e.g. suite.tasks
            keys = ", ".join(field.name for field in dataclasses.fields(sections[0]))
            about = f"{about}; each entry {{{keys}}}"
        lines.append(_line(f"{item.key}={_format(value)}", about))
    return lines + nested


def _choice_lines(key: str, about: str, options: dict[str, type], composed: Any) -> list[str]:
    """A choice field (e.g. ``policy=small|mllm``): the chosen option's keys first, then each other option's."""
    chosen_type = OmegaConf.get_type(OmegaConf.select(composed, key))
    chosen = next((name for name, kind in options.items() if kind is chosen_type), next(iter(options)))
    lines = ["", _line(f"{key}={chosen}", f"{about} ({'|'.join(options)})")]
    for name, kind in sorted(options.items(), key=lambda pair: pair[0] != chosen):
        values = composed if name == chosen else OmegaConf.create({key: OmegaConf.structured(kind)})
        lines += _wrap(f"{key}={name}: {_first_line(kind)}")
        lines += _section_lines(kind, values, f"{key}.")
    return lines


def _value(composed: Any, key: str) -> Any:
    """The composed value at ``key`` ("???" where the job requires one)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(composed, parent_key) if parent_key else composed
    with contextlib.suppress(OmegaConfBaseException):  # a key that is not there is not missing either
        if isinstance(parent, DictConfig) and OmegaConf.is_missing(parent, leaf):
            return "???"
    return OmegaConf.select(composed, key, default=None)


def _defaults(job: str) -> list[Any]:
    text = resources.files(CONFIG_MODULE).joinpath(f"{job}.yaml").read_text()
    return list(OmegaConf.to_container(OmegaConf.create(text)).get("defaults", []))  # type: ignore[union-attr]


def _format(value: Any) -> str:
    """A value as it is written on the command line (``null``, ``true``, ``[a,b]``, ``{key: value}``)."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    if value == "???":
        return "(required)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and len(str(value)) > LONG_VALUE:
        return f"[{len(value)} entries]"
    if isinstance(value, list):
        return "[" + ",".join(_format(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_format(item)}" for key, item in value.items()) + "}"
    return str(value)


def _first_line(kind: type) -> str:
    """The first paragraph of a dataclass's docstring, on one line."""
    paragraph = (kind.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split()).replace("``", "`")


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    ) or [indent]


def _line(left: str, about: str) -> str:
    """``  key=value`` and its help, aligned in a column and wrapped."""
    left = f"  {left}"
    lines = textwrap.wrap(about.replace("``", "`"), WIDTH - KEY_WIDTH, break_on_hyphens=False) or [""]
    first = f"{left:<{KEY_WIDTH}}{lines[0]}" if len(left) < KEY_WIDTH else f"{left}\n{'':<{KEY_WIDTH}}{lines[0]}"
    return "\n".join([first.rstrip(), *(f"{'':<{KEY_WIDTH}}{line}" for line in lines[1:])])
