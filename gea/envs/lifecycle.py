"""Close the environments and worker pools still open when the interpreter exits, before it tears modules down.

A script that never calls ``close()`` (the README's snippets, a notebook cell) would otherwise leave its env to be
finalized during interpreter shutdown, when a MuJoCo renderer's ``__del__`` can no longer reach EGL (tracebacks
at exit), and leave a vector env's worker processes and shared-memory blocks behind. Every contract env and every
worker pool registers here when it is created and unregisters when it is closed; only weak references are kept,
so nothing lives longer because of this.
"""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)


class Closable(Protocol):
    """Anything with an idempotent ``close()``."""

    def close(self) -> None:
        """Release what it holds."""


_OPEN: dict[int, weakref.ref[Closable]] = {}  # id -> weak reference, in registration order


def close_at_exit(resource: Closable) -> None:
    """Close ``resource`` at interpreter exit unless it was closed (and ``forget`` called) before.

    Exit handlers run newest first, and simulators register their own while building an env (MuJoCo's EGL
    registers ``eglTerminate`` when it makes its first context); moving ``close_all`` to the newest place
    each time makes it run before them, while the renderers it closes can still be freed.
    """
    key = id(resource)
    _OPEN[key] = weakref.ref(resource, lambda _: _OPEN.pop(key, None))
    atexit.unregister(close_all)
    atexit.register(close_all)


def forget(resource: Closable) -> None:
    """``resource`` has been closed: nothing to do for it at exit."""
    reference = _OPEN.get(id(resource))
    if reference is not None and reference() is resource:
        del _OPEN[id(resource)]


def close_all() -> None:
    """Close every registered resource still open, newest first."""
    for reference in reversed(list(_OPEN.values())):
        resource = reference()
        if resource is None:
            continue
        try:
            resource.close()
        except Exception as error:  # one failing close must not keep the others open; it is reported, not hidden
            logger.warning("closing %r at exit failed: %r", resource, error)
