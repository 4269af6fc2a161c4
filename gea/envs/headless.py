"""Headless rendering defaults, applied before any simulator is imported (user settings win)."""

import os

GL_BACKENDS = ("egl", "osmesa")
"""``MUJOCO_GL`` values that PyOpenGL must use too (``PYOPENGL_PLATFORM``)."""


def apply_headless_defaults() -> None:
    """Set each rendering variable that the user has not set.

    ``MUJOCO_GL`` defaults to ``egl`` (set ``MUJOCO_GL=osmesa`` where EGL is unavailable); ``PYOPENGL_PLATFORM``
    follows it, so ``MUJOCO_GL=osmesa`` alone is enough; ``SDL_VIDEODRIVER=dummy`` keeps pygame renderers of classic
    Gymnasium envs windowless.
    """
    backend = os.environ.setdefault("MUJOCO_GL", "egl")
    if backend in GL_BACKENDS:
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
