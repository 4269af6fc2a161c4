"""Action tokenizer benchmark on held-out Meta-World scripted actions (normalized to [-1, 1]).

Collects state-only episodes with Meta-World's own scripted policies (``metaworld.policies``; no
rendering), fits each tokenizer on the training episodes and reports reconstruction MSE on held-out
episodes (unseen goal/object positions) against tokens per action, plus encode+decode throughput.

    .venv/bin/python benchmarks/action_tokenizers.py [--out benchmarks/results/action_tokenizers.md] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gea.tokenizers import (
    ActionStats,
    FASTTokenizer,
    ResidualVQTokenizer,
    RVQConfig,
    RVQTrainConfig,
    UniformBinTokenizer,
    chunk_actions,
)

TASKS = (
    "reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3", "basketball-v3",
    "sweep-into-v3", "lever-pull-v3", "hammer-v3", "coffee-push-v3",
)  # fmt: skip
BOUNDS = ActionStats.from_bounds([-1.0] * 4, [1.0] * 4)  # Meta-World's action box: already [-1, 1]


@dataclass
class Row:
    """One benchmark result."""

    method: str
    setting: str
    tokens_per_action: float
    vocab: int
    mse: float
    actions_per_second: float
    fit_seconds: float


def collect(tasks: tuple[str, ...], episodes: int, steps: int, seed: int = 0) -> np.ndarray:
    """(tasks, episodes, steps, 4) scripted actions; episode i uses Meta-World MT1 task variation i."""
    import metaworld
    from metaworld.policies import ENV_POLICY_MAP

    warnings.filterwarnings("ignore", module="metaworld")
    result = np.zeros((len(tasks), episodes, steps, 4), np.float32)
    for t, name in enumerate(tasks):
        benchmark = metaworld.MT1(name, seed=seed)
        env = benchmark.train_classes[name]()
        policy = ENV_POLICY_MAP[name]()
        for e in range(episodes):
            env.set_task(benchmark.train_tasks[e])
            observation, _ = env.reset(seed=seed + e)
            for s in range(steps):
                action = np.clip(policy.get_action(observation), -1.0, 1.0)
                result[t, e, s] = action
                observation, *_ = env.step(action)
        env.close()
    return result


def timed(encode_decode: Callable[[], object], count: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` actions per second of one encode+decode pass over ``count`` actions."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encode_decode()
        best = min(best, time.perf_counter() - start)
    return count / best


def bench_uniform(train: np.ndarray, test: np.ndarray, bins: int) -> Row:
    """Uniform bins over the action box (4 tokens per action)."""
    start = time.perf_counter()
    tokenizer = UniformBinTokenizer(bins, BOUNDS)
    fit = time.perf_counter() - start
    decoded = tokenizer.decode_array(tokenizer.encode_array(test))
    speed = timed(lambda: tokenizer.decode_array(tokenizer.encode_array(test)), len(test))
    return Row("uniform bins", f"{bins} bins", 4, bins, float(np.mean((decoded - test) ** 2)), speed, fit)


def bench_rvq(train: np.ndarray, test: np.ndarray, depth: int, codebook: int, steps: int) -> Row:
    """Small residual VQ-VAE (latent 64, 3-layer MLPs of 256) with ``depth`` codebooks of ``codebook`` codes."""
    config = RVQConfig(num_quantizers=depth, codebook_size=codebook)
    tokenizer = ResidualVQTokenizer(config, RVQTrainConfig(steps=steps), stats={"metaworld": BOUNDS})
    start = time.perf_counter()
    tokenizer.fit({"metaworld": train}, progress=False)
    fit = time.perf_counter() - start
    decoded = tokenizer.decode_array(tokenizer.encode_array(test))
    speed = timed(lambda: tokenizer.decode_array(tokenizer.encode_array(test)), len(test))
    mse = float(np.mean((decoded - test) ** 2))
    return Row("RVQ", f"{depth} x {codebook} codes", depth, codebook, mse, speed, fit)


def bench_fast(train_chunks: np.ndarray, test_chunks: np.ndarray, scale: float, chunk: int) -> Row:
    """FAST over chunks of ``chunk`` actions; tokens per action include the end id."""
    tokenizer = FASTTokenizer(chunk=chunk, scale=scale, bpe_vocab_size=1024, stats=BOUNDS)
    start = time.perf_counter()
    tokenizer.fit(train_chunks)
    tokenizer.stats = BOUNDS  # the known action box, as for the other methods
    fit = time.perf_counter() - start
    ids = tokenizer.encode(test_chunks)
    decoded = tokenizer.decode(ids)
    tokens = float(np.mean([len(row) for row in ids])) / chunk
    speed = timed(lambda: tokenizer.decode(tokenizer.encode(test_chunks)), test_chunks.shape[0] * chunk)
    mse = float(np.mean((decoded - test_chunks) ** 2))
    return Row("FAST", f"chunk {chunk}, scale {scale:g}", tokens, tokenizer.vocab_size, mse, speed, fit)


def markdown(rows: list[Row], notes: list[str]) -> str:
    """The results page."""
    lines = [
        "# Action tokenizers on held-out Meta-World scripted actions",
        "",
        "Reconstruction MSE on held-out episodes (actions in [-1, 1]; lower is better), tokens per action,",
        "and encode+decode throughput. RVQ at 2 tokens/action must reach MSE <= 0.004 (GEA reports ~0.0038).",
        "",
        "| method | setting | tokens/action | ids | held-out MSE | encode+decode actions/s | fit s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.method} | {row.setting} | {row.tokens_per_action:.2f} | {row.vocab} | {row.mse:.6f} "
            f"| {row.actions_per_second:,.0f} | {row.fit_seconds:.1f} |"
        )
    return "\n".join([*lines, "", *notes, ""])


def main() -> None:
    """Run the benchmark and write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/action_tokenizers.md"))
    parser.add_argument("--quick", action="store_true", help="3 tasks, fewer steps: a smoke run")
    parser.add_argument("--rvq-steps", type=int, default=600)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine is shared: one thread avoids contention (measured 5x faster than 2)
    tasks = TASKS[:3] if args.quick else TASKS
    episodes, held_out, steps = (4, 1, 60) if args.quick else (10, 2, 150)
    rvq_steps = 50 if args.quick else args.rvq_steps

    started = time.perf_counter()
    actions = collect(tasks, episodes, steps)
    collect_seconds = time.perf_counter() - started
    train = actions[:, :-held_out].reshape(-1, 4)
    test = actions[:, -held_out:].reshape(-1, 4)
    train_chunks = np.concatenate([chunk_actions(e, 10) for e in actions[:, :-held_out].reshape(-1, steps, 4)])
    test_chunks = np.concatenate([chunk_actions(e, 10) for e in actions[:, -held_out:].reshape(-1, steps, 4)])
    print(f"collected {actions.shape} actions in {collect_seconds:.0f}s; train {len(train)}, held-out {len(test)}")

    rows: list[Row] = []
    for bins in (16, 64, 256):
        rows.append(bench_uniform(train, test, bins))
        print(rows[-1], flush=True)
    for depth, codebook in ((1, 512), (2, 64), (2, 256), (2, 512), (2, 1024), (3, 512), (4, 512)):
        rows.append(bench_rvq(train, test, depth, codebook, rvq_steps))
        print(rows[-1], flush=True)
    for scale in (5.0, 10.0, 20.0):
        rows.append(bench_fast(train_chunks, test_chunks, scale, chunk=10))
        print(rows[-1], flush=True)

    total = time.perf_counter() - started
    command = "`.venv/bin/python benchmarks/action_tokenizers.py" + (" --quick`" if args.quick else "`")
    notes = [
        f"Command: {command}. Total {total / 60:.1f} min (collection {collect_seconds:.0f} s).",
        "",
        f"Data: Meta-World v3 scripted policies (`metaworld.policies`), {len(tasks)} tasks x {episodes} episodes x "
        f"{steps} steps, state only; episodes continue after success. Each episode is a different MT1 task "
        f"variation (goal/object positions); the last {held_out} per task are held out ({len(test)} actions), "
        f"the rest train ({len(train)} actions). Actions clipped to the [-1, 1] action box.",
        "",
        f"RVQ: small CPU config (latent 64, 3-layer MLPs of 256, EMA codebooks with k-means init, commitment 1.0), "
        f"{rvq_steps} AdamW steps of 512 at lr 2e-3 (warmup + cosine), seed 0. All timings with 1 torch thread. "
        "Uniform bins: per-dimension bins over [-1, 1]. FAST: DCT over chunks of 10 actions, BPE vocab 1024; "
        "tokens/action counts the end id and is an average (variable length).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs shared with other jobs "
        f"(load average {os.getloadavg()[0]:.1f} at the end), torch {torch.__version__}, "
        f"{datetime.date.today().isoformat()}. Throughput is single-process, batched (all held-out actions at once).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(rows, notes))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
