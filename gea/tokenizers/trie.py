"""A prefix tree over token-id sequences, for constrained decoding of a finite set of actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

ValueT = TypeVar("ValueT")


@dataclass
class _Node(Generic[ValueT]):
    children: dict[int, _Node[ValueT]] = field(default_factory=dict)
    value: ValueT | None = None
    first: ValueT | None = None  # value of the first sequence inserted through this node


class TokenTrie(Generic[ValueT]):
    """Maps whole id sequences to values; answers which ids may follow a prefix."""

    def __init__(self) -> None:
        self.root: _Node[ValueT] = _Node()

    def insert(self, ids: Sequence[int], value: ValueT) -> None:
        """Add one sequence; a sequence that is already present keeps its first value."""
        node = self.root
        if node.first is None:
            node.first = value
        for token in ids:
            node = node.children.setdefault(int(token), _Node())
            if node.first is None:
                node.first = value
        if node.value is None:
            node.value = value

    def contains(self, ids: Sequence[int]) -> bool:
        """Whether ``ids`` is exactly one inserted sequence."""
        node = self._walk(ids)
        return node is not None and node.value is not None

    def allowed(self, prefix: Sequence[int]) -> np.ndarray:
        """Sorted ids that extend ``prefix`` towards some sequence (empty if ``prefix`` leads nowhere)."""
        node = self._walk(prefix)
        if node is None:
            return np.zeros(0, np.int64)
        return np.array(sorted(node.children), np.int64)

    def resolve(self, ids: Sequence[int | None]) -> ValueT | None:
        """Follow ``ids`` as far as they match; return the value there, else the first value below it."""
        node = self.root
        for token in ids:
            child = node.children.get(token) if token is not None else None
            if child is None:
                break
            node = child
        return node.value if node.value is not None else node.first

    def _walk(self, ids: Sequence[int]) -> _Node[ValueT] | None:
        node: _Node[ValueT] | None = self.root
        for token in ids:
            if node is None:
                return None
            node = node.children.get(int(token))
        return node
