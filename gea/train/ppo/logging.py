"""Run logging on rank 0: TensorBoard scalars, a tqdm progress bar over env steps, and the saved config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm import tqdm

from gea.config import save_config

GROUPS = {
    "return": "charts",
    "success": "charts",
    "episode_length": "charts",
    "episodes": "charts",
    "fps": "charts",
    "lr": "charts",
    "worker_restarts": "charts",
    "rollout_fraction": "charts",
}


class RunLogger:
    """TensorBoard (``<out_dir>/tensorboard``) and a progress bar; does nothing on ranks other than 0."""

    def __init__(self, out_dir: Path, enabled: bool, config: Any, total_steps: int) -> None:
        self.enabled = enabled
        self.writer: Any = None
        if enabled:
            save_config(config, out_dir / "config.yaml")
            if config.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out_dir / "tensorboard"))
        disable = not (enabled and config.progress)
        self.progress = tqdm(total=total_steps, unit="step", desc="gea ppo", disable=disable, dynamic_ncols=True)

    def log(self, step: int, metrics: dict[str, float], new_steps: int) -> None:
        """Write every metric as ``charts/<name>`` or ``losses/<name>`` and advance the progress bar."""
        if not self.enabled:
            return
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(f"{GROUPS.get(name, 'losses')}/{name}", value, step)
        shown = {key: f"{metrics[key]:.3g}" for key in ("return", "success", "fps") if key in metrics}
        self.progress.set_postfix(shown, refresh=False)
        self.progress.update(new_steps)

    def close(self) -> None:
        """Flush TensorBoard and close the progress bar."""
        self.progress.close()
        if self.writer is not None:
            self.writer.close()
