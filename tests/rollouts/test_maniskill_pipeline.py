"""ManiSkill through the pipeline: `gea collect` writes motion-planner demonstrations next to Meta-World ones, the
continuous tokenizer fitted on the mixed data covers both action sizes (4-d and 8-d, zero-padded to 21), and
`gea eval` runs the `maniskill_small` suite with images."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from gea.cli import main
from gea.config import load_job_config
from gea.rollouts.collect import CollectConfig, collect
from gea.rollouts.dataset import WindowDataset, verify
from gea.rollouts.evaluate import EvalConfig, evaluate_with_progress, plan_runs
from gea.rollouts.report import write_report
from gea.tokenizers import ResidualVQTokenizer, load_tokenizer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mani_skill") is None or importlib.util.find_spec("metaworld") is None,
    reason="needs ManiSkill and Meta-World: pip install 'gea[maniskill,metaworld]'",
)
MANISKILL, METAWORLD = "maniskill:PushCube", "metaworld:reach-v3"


def test_collect_maniskill_demos_and_fit_the_tokenizer_on_mixed_data(tmp_path: Path) -> None:
    config = load_job_config(
        "collect",
        CollectConfig,
        [f"out={tmp_path / 'data'}", "progress=false", f"envs=[{MANISKILL},{METAWORLD}]", "episodes_per_task=2",
         "num_envs=2", "image_size=32"],
    )  # fmt: skip
    meta = collect(config).meta
    assert verify(str(meta.root)).ok
    rows = [row for row in meta.episodes.to_pylist() if row["embodiment"] == MANISKILL]
    assert len(rows) == 2 and all(row["success"] for row in rows)
    window = next(w for w in WindowDataset(meta.root, context=3, loop=False) if w["embodiment"] == MANISKILL)
    assert window["images"].shape == (3, 32, 32, 3) and window["actions"].shape == (3, 8)
    assert window["instruction"] == "push the blue cube onto the red and white target"

    out = tmp_path / "tokenizer"
    tiny = ["tokenizer.latent_dim=16", "tokenizer.hidden_dim=32", "tokenizer.layers=2", "tokenizer.codebook_size=16"]
    fit = ["tokenizer", "fit", f"data={meta.root}", f"out={out}", "train.steps=30", "progress=false", *tiny]
    assert main(fit) == 0
    tokenizer = load_tokenizer(out / "tokenizer")
    assert isinstance(tokenizer, ResidualVQTokenizer) and tokenizer.config.max_dim == 21
    assert set(tokenizer.embodiments) == {MANISKILL, METAWORLD}
    assert json.loads((out / "metrics.json").read_text())["heldout_mse"] >= 0
    actions = np.asarray(window["actions"], np.float32)
    decoded = tokenizer.decode(tokenizer.encode(actions, MANISKILL), MANISKILL)
    assert decoded.shape == (3, 8) and np.all(np.abs(decoded) <= 1.0 + 1e-6)
    assert tokenizer.decode(tokenizer.encode(np.zeros((1, 4)), METAWORLD), METAWORLD).shape == (1, 4)


def test_small_suite_expert_beats_random_with_images(tmp_path: Path) -> None:
    overrides = ["suite=maniskill_small", "image_size=32", "videos_per_task=1", f"out_dir={tmp_path}"]
    config = load_job_config("eval", EvalConfig, overrides)
    results = evaluate_with_progress(config)
    payload = write_report(config, results, [t.env for t in plan_runs(config)[1]], tmp_path)
    rates = {(row["env_id"], row["agent"]): row["success_rate"] for row in payload["tasks"]}
    for task in config.suite.tasks:
        assert rates[(task.env, "expert")] == 1.0 and rates[(task.env, "random")] == 0.0, rates
    assert len(list((tmp_path / "videos").rglob("*.mp4"))) == 2 * len(config.suite.tasks)
