"""What a job's schema says about each option: its help text, type and value rules, found by dotted key.

Every option of a job schema is a dataclass field declared with ``option(default, "help text", minimum=...)``;
``gea <job> --help`` lists them (``gea.config_help``), ``check_values`` enforces their rules, and a misspelled
key is answered with the closest real ones (``suggest``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

from gea.errors import ConfigError

HELP, MINIMUM, CHOICES = "help", "minimum", "choices"


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    minimum: float | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A schema field: its default (or ``factory`` for a mutable one), the help text ``--help`` shows, and the
    rules ``check_values`` enforces (``minimum`` for numbers, ``choices`` for strings)."""
    metadata = {HELP: help, MINIMUM: minimum, CHOICES: tuple(choices) if choices else None}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SchemaField:
    """One option: its dotted ``key``, type, help text and rules (``owner`` is the dataclass declaring it)."""

    key: str
    name: str
    type: Any
    help: str
    minimum: float | None
    choices: tuple[str, ...] | None
    owner: type


@functools.cache
def type_hints(schema: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (string annotations evaluated)."""
    return typing.get_type_hints(schema)


def is_schema(tp: Any) -> bool:
    """Whether ``tp`` is a dataclass type (a nested section of a schema)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def choices_of(schema: type) -> dict[str, dict[str, type]]:
    """A schema's option groups: ``{field: {option name: dataclass}}`` (e.g. ``policy=small|mllm``)."""
    return dict(getattr(schema, "choices", {}))


def fields_of(schema: type, prefix: str = "") -> list[SchemaField]:
    """Every field of ``schema`` directly (not of its sections), with keys under ``prefix``."""
    hints = type_hints(schema)
    return [
        SchemaField(
            f"{prefix}{item.name}",
            item.name,
            hints[item.name],
            str(item.metadata.get(HELP, "")),
            item.metadata.get(MINIMUM),
            item.metadata.get(CHOICES),
            schema,
        )
        for item in dataclasses.fields(schema)
    ]


def section_type(schema: type, name: str) -> list[type]:
    """The dataclass(es) a field of ``schema`` holds: its type, the element type of a list, or a choice's options."""
    groups = choices_of(schema)
    if name in groups:
        return list(groups[name].values())
    tp = type_hints(schema).get(name)
    candidates = [tp, *typing.get_args(tp)]
    return [candidate for candidate in candidates if is_schema(candidate)]


def walk(schema: type, prefix: str = "") -> Iterator[SchemaField]:
    """Every leaf option of ``schema`` and its sections, depth first (a choice field: all of its options)."""
    for item in fields_of(schema, prefix):
        sections = section_type(schema, item.name)
        if sections and typing.get_origin(item.type) not in (list, tuple):
            for section in sections:
                yield from walk(section, f"{item.key}.")
        else:
            yield item


def lookup(schema: type, key: str) -> SchemaField | None:
    """The field at dotted ``key`` (through sections, list elements and choice options), or None."""
    head, _, rest = key.partition(".")
    head = head.split("[", 1)[0]
    match = next((item for item in fields_of(schema) if item.name == head), None)
    if match is None or not rest:
        return match
    for section in section_type(schema, head):
        found = lookup(section, rest)
        if found is not None:
            return dataclasses.replace(found, key=f"{head}.{found.key}")
    return None


def find_class(schema: type, name: str) -> type | None:
    """The dataclass called ``name`` among ``schema`` and its sections."""
    if schema.__name__ == name:
        return schema
    for item in fields_of(schema):
        for section in section_type(schema, item.name):
            found = find_class(section, name)
            if found is not None:
                return found
    return None


def describe_type(tp: Any) -> str:
    """How to write a value of type ``tp`` on the command line, in words."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        named = [describe_type(arg) for arg in args if arg is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return "a list, e.g. [a,b]"
    if origin is dict or tp is dict:
        return "a mapping, e.g. {key: value}"
    return {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "a string",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def suggest(word: str, candidates: Sequence[SchemaField]) -> list[str]:
    """The options ``word`` most likely meant: close spellings of the name, else those whose help text holds
    every word of it (``learning_rate`` -> ``lr``, "learning rate")."""
    names = {item.name: item for item in candidates}
    close = difflib.get_close_matches(word, list(names), n=3, cutoff=0.6)
    if close:
        return [names[name].key for name in close]
    words = [part for part in re.split(r"[_\W]+", word.lower()) if len(part) > 1]
    return [item.key for item in candidates if words and all(part in item.help.lower() for part in words)][:3]


def check_values(config: Any, prefix: str = "") -> None:
    """Enforce every field's ``minimum`` and ``choices`` (recursively); a violation raises ``ConfigError`` that
    names the key, the rule and an example of a valid value."""
    if not dataclasses.is_dataclass(config):
        return
    for item in fields_of(type(config), prefix):
        value = getattr(config, item.name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if item.minimum is not None and number and value < item.minimum:
            raise ConfigError(
                f"{item.key}={value}: must be at least {item.minimum:g} ({item.help}); "
                f"e.g. {item.key}={max(_default(item), item.minimum):g}"
            )
        if item.choices is not None and value not in item.choices:
            raise ConfigError(f"{item.key}={value}: choose one of {', '.join(item.choices)} ({item.help})")
        for element in value if isinstance(value, list) else [value]:
            check_values(element, f"{item.key}.")


def _default(item: SchemaField) -> float:
    default = next(field.default for field in dataclasses.fields(item.owner) if field.name == item.name)
    return float(default) if isinstance(default, int | float) else float(item.minimum or 0)
