"""Headless rendering defaults, applied before any simulator is imported (user settings win)."""

import os

HEADLESS_DEFAULTS = {
    "MUJOCO_GL": "egl",  # MuJoCo through EGL (set MUJOCO_GL=osmesa where EGL is unavailable)
    "PYOPENGL_PLATFORM": "egl",
    "SDL_VIDEODRIVER": "dummy",  # pygame renderers of classic Gymnasium envs, no window
}


def apply_headless_defaults() -> None:
    """Set each rendering variable that the user has not set."""
    for name, value in HEADLESS_DEFAULTS.items():
        os.environ.setdefault(name, value)
