"""The SFT input pipeline one step ahead: while a step computes, one background thread reads, decodes and collates
the windows of the next step (and encodes their images with the vision tower while it is frozen, into the
backbone's feature cache, so the step's forward finds them there).

The batches and their order are exactly those of reading synchronously: one producer, called in turn. The reader's
position saved with a checkpoint is the one after the last batch handed out (``reader_state``), so a resumed run
neither skips nor repeats the batch that was prepared ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

Batches = TypeVar("Batches")


class Prefetcher(Generic[Batches]):
    """Calls ``produce()`` one call ahead in a background thread; ``state()`` is read just before each call."""

    def __init__(self, produce: Callable[[], Batches], state: Callable[[], Any]) -> None:
        self._produce, self._state = produce, state
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gea-sft-prefetch")
        self._pending: Future[tuple[Any, Batches]] | None = None

    def _run(self) -> tuple[Any, Batches]:
        state = self._state()
        return state, self._produce()

    def next(self, more: bool = True) -> Batches:
        """The next ``produce()`` result; with ``more``, the one after it starts being prepared at once."""
        pending = self._pending or self._pool.submit(self._run)
        self._pending = self._pool.submit(self._run) if more else None
        return pending.result()[1]

    def reader_state(self) -> Any:
        """``state()`` as of after the last result handed out (waits for a batch being prepared)."""
        if self._pending is None:
            return self._state()
        return self._pending.result()[0]

    def close(self) -> None:
        """Stop the thread (a batch still being prepared is finished and dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending = None
