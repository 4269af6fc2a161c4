"""``RecordEpisodes``: write each episode's ``image`` frames to an mp4 file, atomically."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from gea.errors import MissingDependencyError

MIN_IMAGEIO_FFMPEG = (0, 8)


def check_video_support() -> None:
    """Raise ``MissingDependencyError`` unless imageio and imageio-ffmpeg >= 0.8 are installed."""
    fix = "pip install 'imageio>=2.30' 'imageio-ffmpeg>=0.8'"
    try:
        version = importlib.metadata.version("imageio-ffmpeg")
        importlib.metadata.version("imageio")
    except importlib.metadata.PackageNotFoundError as error:
        raise MissingDependencyError(f"writing mp4 videos needs imageio and imageio-ffmpeg; install: {fix}") from error
    parts = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if parts < MIN_IMAGEIO_FFMPEG:
        raise MissingDependencyError(
            f"imageio-ffmpeg {version} is installed, but mp4 writing needs >= 0.8 (older versions, e.g. the one "
            f"gym3/procgen pins, break it); upgrade: {fix}"
        )


def enlarge(image: np.ndarray, min_size: int) -> np.ndarray:
    """``image`` scaled up by the smallest integer factor that brings its shorter side to ``min_size`` or more
    (nearest neighbour: every pixel becomes a square block); unchanged when it is already that large."""
    factor = -(-min_size // max(1, min(image.shape[:2])))
    if factor <= 1:
        return np.ascontiguousarray(image)
    return np.ascontiguousarray(np.repeat(np.repeat(image, factor, axis=0), factor, axis=1))


class RecordEpisodes(gym.Wrapper[dict[str, Any], Any, dict[str, Any], Any]):
    """Records every episode's observation images (reset frame + one per step) as ``<prefix>-episode-<n>.mp4``.

    Frames stream to a hidden ``.partial`` file that is renamed to its ``.mp4`` name only once the
    episode has ended and the video is complete, so a crash never leaves a half-written ``.mp4``.
    An episode cut short by ``reset`` or ``close`` is also saved. Frames are the observation images the agent
    saw; small ones (a policy trained at 32 px) are enlarged by an integer factor, each pixel a square block,
    until their shorter side reaches ``min_size``, so the video is watchable and shows exactly what was seen.

    Args:
        env: a contract env (its observations carry ``image``).
        folder: where videos go (created if missing).
        max_episodes: stop recording after this many episodes (``None``: record all).
        fps: frames per second; defaults to the env's ``metadata["render_fps"]`` or 10.
        name_prefix: file name prefix.
        min_size: smallest shorter side of the video frames (0 keeps the images' own size).
    """

    def __init__(
        self,
        env: gym.Env[dict[str, Any], Any],
        folder: str | os.PathLike[str],
        max_episodes: int | None = None,
        fps: int | None = None,
        name_prefix: str = "rl-video",
        min_size: int = 256,
    ) -> None:
        super().__init__(env)
        check_video_support()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_episodes = max_episodes
        self.fps = fps or int(env.metadata.get("render_fps") or 10)
        self.name_prefix = name_prefix
        self.min_size = min_size
        self.episodes_recorded = 0
        self.paths: list[Path] = []
        self._writer: Any = None
        self._partial: Path | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset the env, finish any episode in progress, and start recording the new one."""
        self._finish()
        obs, info = self.env.reset(seed=seed, options=options)
        if self.max_episodes is None or self.episodes_recorded < self.max_episodes:
            self._start()
            self._append(obs)
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env, record its image, and save the video when the episode ends."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._append(obs)
        if terminated or truncated:
            self._finish()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Save the episode in progress, then close the env."""
        self._finish()
        super().close()

    def _start(self) -> None:
        name = f"{self.name_prefix}-episode-{self.episodes_recorded:05d}"
        self._partial = self.folder / f".{name}.mp4.partial"

    def _append(self, obs: dict[str, Any]) -> None:
        if self._partial is None:
            return
        frame = enlarge(np.asarray(obs["image"], dtype=np.uint8), self.min_size)
        if self._writer is None:
            import imageio_ffmpeg

            height, width = frame.shape[:2]
            # macro_block_size=2: yuv420p needs even sides; the default 16 would rescale e.g. 84x84 frames
            self._writer = imageio_ffmpeg.write_frames(
                str(self._partial),
                (width, height),
                fps=self.fps,
                codec="libx264",
                macro_block_size=2,
                output_params=["-f", "mp4"],
                ffmpeg_log_level="error",
            )
            self._writer.send(None)
        self._writer.send(frame)

    def _finish(self) -> None:
        if self._partial is None:
            return
        if self._writer is None:  # no frame was recorded
            self._partial = None
            return
        self._writer.close()
        final = self._partial.with_name(self._partial.name.removeprefix(".").removesuffix(".partial"))
        os.replace(self._partial, final)
        self.paths.append(final)
        self.episodes_recorded += 1
        self._writer = None
        self._partial = None
