"""RecordEpisodes on a real env: one readable mp4 per episode with every frame, written atomically."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

import gea.envs
from gea.envs.recording import RecordEpisodes, enlarge
from gea.errors import MissingDependencyError

pytestmark = pytest.mark.timeout(120)


def _frames(path: Path) -> np.ndarray:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return np.stack(list(reader.iter_data()))


def test_each_episode_becomes_an_mp4_with_every_frame(tmp_path: Path) -> None:
    env = RecordEpisodes(gea.envs.make("cartpole", image_size=32, max_episode_steps=5), tmp_path, fps=5)
    first, _ = env.reset(seed=0)
    for _ in range(5):
        *_, truncated, _ = env.step(0)
    assert truncated
    assert first["image"].shape == (32, 32, 3)  # the agent sees its own size ...
    frames = _frames(tmp_path / "rl-video-episode-00000.mp4")
    assert frames.shape == (6, 256, 256, 3)  # ... the video enlarges it 8x; the reset frame and one per step
    enlarged = np.repeat(np.repeat(first["image"], 8, axis=0), 8, axis=1)
    assert np.abs(frames[0].astype(int) - enlarged.astype(int)).mean() < 8  # lossy codec, same picture
    env.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rl-video-episode-00000.mp4"]


def test_episode_limit_prefix_and_cut_short_episodes(tmp_path: Path) -> None:
    env = RecordEpisodes(gea.envs.make("cartpole", image_size=32), tmp_path, max_episodes=2, name_prefix="eval")
    for steps in (3, 4, 2):  # each episode is cut short by the next reset
        env.reset(seed=steps)
        for _ in range(steps):
            env.step(1)
    env.close()
    assert [path.name for path in env.paths] == ["eval-episode-00000.mp4", "eval-episode-00001.mp4"]
    assert [len(_frames(path)) for path in env.paths] == [4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval-episode-00000.mp4", "eval-episode-00001.mp4"]


def test_crash_mid_episode_leaves_no_mp4(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, gea.envs
        from gea.envs.recording import RecordEpisodes, enlarge
        env = RecordEpisodes(gea.envs.make("cartpole", image_size=32), {str(tmp_path)!r})
        env.reset(seed=0)
        for _ in range(10):
            env.step(0)
        os._exit(1)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 1, result.stderr.decode()
    assert list(tmp_path.glob("*.mp4")) == []
    assert [p.name for p in tmp_path.iterdir()] == [".rl-video-episode-00000.mp4.partial"]


def test_old_imageio_ffmpeg_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "0.4.9" if name == "imageio-ffmpeg" else real_version(name)
    )
    with pytest.raises(MissingDependencyError, match=r"imageio-ffmpeg 0\.4\.9 .*pip install .*'imageio-ffmpeg>=0\.8'"):
        RecordEpisodes(gea.envs.make("cartpole"), tmp_path)


@pytest.mark.parametrize(
    ("size", "min_size", "expected"), [(32, 256, 256), (84, 256, 336), (300, 256, 300), (32, 0, 32)]
)
def test_small_frames_are_enlarged_by_an_integer_factor(size: int, min_size: int, expected: int) -> None:
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    enlarged = enlarge(image, min_size)
    assert enlarged.shape == (expected, expected, 3)
    factor = expected // size
    np.testing.assert_array_equal(enlarged[::factor, ::factor], image)  # every pixel became a block
