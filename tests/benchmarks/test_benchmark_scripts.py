"""Every side-by-side benchmark script runs end to end at tiny settings, and both of its sides do the same work.

Each script writes a Markdown report and a JSON record next to it; these tests run the script as a user would
(``python benchmarks/NAME.py ...``) and read the record: same env steps, windows, actions or tokens on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gea.agents.experts.net_expert import PACKAGED_EXPERTS_DIR, RECORD_FILE, expert_folder
from gea.agents.experts.procgen_search import SEARCH_GAMES
from gea.envs.adapters.procgen_games import PROCGEN_GAMES

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, output: Path, *arguments: str) -> dict[str, Any]:
    """Run ``benchmarks/<name>.py`` with ``arguments`` and return the JSON record written next to ``output``."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert output.exists() and output.read_text().startswith("# ")
    return json.loads(output.with_suffix(".json").read_text())


def test_data_collection_and_window_loading(tmp_path: Path) -> None:
    out = tmp_path / "data.md"
    record = run_script(
        "data", out, "--sections", "collection,loading,storage", "--collection", "babyai", "--collect-episodes", "1",
        "--episodes", "3", "--repeats", "2", "--storage-envs", "babyai:BossLevel", "--storage-episodes", "1",
        "--out", str(out),
    )  # fmt: skip
    (collection,) = record["collection"].values()
    assert collection["steps"]["1"] == collection["steps"]["2"] and len(collection["speedup"]) == 2
    assert min(collection["steps"]["1"]) > 0
    loading = record["loading"]
    assert loading["same_windows"]
    counts = {side: set(windows) for side, windows in loading["windows"].items()}
    assert set(counts) == {"gea-png", "gea-png-1", "gea-jpeg", "gea-raw", "minari-loader", "minari-memory"}
    assert len({count for windows in counts.values() for count in windows}) == 1  # every side, every repeat
    assert all(len(loading["cpu_seconds"][side]) == 2 for side in counts)
    assert "load average" in out.read_text()
    (storage,) = record["storage"].values()
    assert set(storage["kib_per_step"]) == {"png", "jpeg", "raw"} and min(storage["kib_per_step"].values()) > 0
    assert storage["windows"]["png"] == storage["windows"]["raw"] == [storage["steps"]] * 2  # every step, each run


def test_ppo_runs_the_same_env_steps_on_both_sides(tmp_path: Path) -> None:
    record = run_script(
        "ppo", tmp_path / "ppo.md", "--envs", "cartpole", "starpilot", "--repeats", "1", "--steps", "1024",
        "--out", str(tmp_path),
    )  # fmt: skip
    for name, entry in record["envs"].items():
        assert set(entry["modes"]) == {"on", "off"}, name
        for mode in entry["modes"].values():
            assert mode["steps"]["gea"] == mode["steps"]["sb3"] == [1024]
            assert len(mode["speedup"]["wall"]) == 1
    assert (tmp_path / "ppo_cartpole.png").exists()
    assert "CartPole-v1" in (tmp_path / "ppo.md").read_text()


def test_policy_sides_emit_the_same_actions_and_tokens(tmp_path: Path) -> None:
    out = tmp_path / "policy.md"
    record = run_script("policy", out, "--batch", "2", "--steps", "2", "--repeats", "1", "--output", str(out))
    (run,) = record["interleaved"]
    assert run["same_tokens"]
    assert run["actions"]["act"] == run["actions"]["generate"] == 4
    assert run["tokens"]["act"] == run["tokens"]["generate"] > 0
    assert "compute_transition_scores" in out.read_text()


def test_sft_sides_train_on_the_same_samples_and_tokens(tmp_path: Path) -> None:
    out = tmp_path / "sft.md"
    record = run_script(
        "sft", out, "--episodes", "2", "--batch", "2", "--warmup", "1", "--steps", "2", "--repeats", "2",
        "--output", str(out),
    )  # fmt: skip
    assert record["same_work"]
    assert set(record["runs"]) == {"gea", "hf", "hf-generic"}
    for gea, hf, generic in zip(*record["runs"].values(), strict=True):
        assert gea["samples"] == hf["samples"] == generic["samples"] == [2, 2]
        assert gea["tokens"] == hf["tokens"] == generic["tokens"] and min(gea["tokens"]) > 0
    assert set(record["ratios"]) == {"hf", "hf-generic"}


def test_env_overhead_sides_take_the_same_env_steps(tmp_path: Path) -> None:
    out = tmp_path / "env_overhead.md"
    record = run_script(
        "env_overhead", out, "--cases", "cartpole", "--steps", "20", "--chunk", "5", "--vector", "babyai",
        "--vector-envs", "4", "--vector-env-steps", "48", "--envpool", "atari", "--envpool-envs", "1,4",
        "--repeats", "1", "--output", str(out),
    )  # fmt: skip
    (overhead,) = record["overhead"]
    assert len(set(overhead["side_steps"].values())) == 1 and overhead["side_steps"]["gea"] == overhead["steps"]
    (vector,) = record["vector"]
    assert vector["side_steps"]["single"] == vector["side_steps"]["vector"] > 0
    assert [result["num_envs"] for result in record["envpool"]] == [1, 4]
    for result in record["envpool"]:
        assert result["side_steps"]["gea"] == result["side_steps"]["envpool"] == result["steps"]
    assert "envpool.make_gymnasium('Pong-v5'" in out.read_text()


def test_env_overhead_maniskill_sides_take_the_same_env_steps(tmp_path: Path) -> None:
    out = tmp_path / "env_overhead.md"
    record = run_script(
        "env_overhead", out, "--cases", "maniskill", "--steps", "32", "--chunk", "16", "--vector", "", "--envpool", "",
        "--repeats", "1", "--output", str(out),
    )  # fmt: skip
    (overhead,) = record["overhead"]
    assert overhead["env_id"] == "maniskill:PickCube" and overhead["steps"] == 8
    assert len(set(overhead["side_steps"].values())) == 1 and overhead["side_steps"]["gea"] == 8


def test_maniskill_experts_report_and_experts_section(tmp_path: Path) -> None:
    out, experts = tmp_path / "maniskill_experts.md", tmp_path / "experts.md"
    experts.write_text("# Experts\n\nSomeone else's table.\n")
    arguments = ["--episodes", "1", "--image-episodes", "0", "--tasks", "PushCube", "--out", str(out)]
    for _ in range(2):  # the second run replaces the section instead of appending another
        record = run_script("maniskill_experts", out, *arguments, "--experts-file", str(experts))
    (task,) = record["tasks"]
    assert task["task"] == "PushCube" and task["expert"] == [True] and task["random"] == [False]
    text = experts.read_text()
    assert text.startswith("# Experts") and "Someone else's table." in text
    assert text.count("maniskill-experts: begin") == 1 and "| maniskill:PushCube | yes | 1 | 100%" in text


def test_experts_report_has_a_row_for_every_procgen_game(tmp_path: Path) -> None:
    out = tmp_path / "experts.md"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "benchmarks" / "experts.py"), "report", "--out", str(out)]
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = out.read_text().split("## Procgen (easy mode)")[1].split("## Atari")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    by_game: dict[str, list[list[str]]] = {}
    for cells in rows:
        if cells[0].startswith("procgen:"):
            by_game.setdefault(cells[0], []).append(cells)
    assert sorted(by_game) == sorted(f"procgen:{game}" for game in PROCGEN_GAMES)
    for env_id, game_rows in by_game.items():
        first = game_rows[0]  # the expert that serves the game, then (for a search expert) the failed training run
        shipped = (expert_folder(env_id, PACKAGED_EXPERTS_DIR) / RECORD_FILE).is_file()
        searched = env_id.removeprefix("procgen:") in SEARCH_GAMES and not shipped
        assert first[-1] == ("yes" if shipped else "yes (search)" if searched else "**no**"), env_id
        if shipped or searched:
            assert first[11] == "yes", f"{env_id} has an expert that does not beat random"
        assert all(cells[-1] == "**no**" for cells in game_rows[1:]), env_id
