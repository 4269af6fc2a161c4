"""GEA policy speed: actions/s of ``GEAPolicy.act`` vs Hugging Face ``generate`` with the same constraints.

Both sides run the tiny default model (LLaVA-OneVision class), batch 8 envs of mixed embodiments
(BabyAI discrete names + Meta-World continuous codes), context c = 3, greedy decoding, and produce the
same thing per step: env actions, token ids, summed log-prob and value. The ``generate`` side is what one
writes with stock transformers: build the prompt embeddings (all c images encoded each step), call
``model.generate(inputs_embeds=..., logits_processor=[ConstraintLogitsProcessor])`` with
``output_scores``/``output_hidden_states`` for log-prob and value. ``act`` adds per-env visual-feature
caching across steps, KV reuse of the prompt header (description, actions, instruction), a prebuilt SDPA
mask and a lean KV-cache decode loop. The two are checked to emit identical tokens.

Throughput: ``--repeats`` fresh processes, each running both sides on one model step by step in
alternating order, so both see the same (shared, noisy) machine load; medians are reported. Peak memory:
one extra process per side running only that side. Results go to ``benchmarks/results/policy.md``.

    python benchmarks/policy.py                 # batch 8, c = 3, 30 steps, 5 repeats
    python benchmarks/policy.py --steps 10 --repeats 2 --output /tmp/policy.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "policy.md"
ENV_IDS = ("babyai:GoToRedBall", "metaworld:reach-v3")


def make_policy(batch: int, context: int) -> tuple[Any, list[str]]:
    """The tiny default policy and ``batch`` env ids alternating between a discrete and a continuous env."""
    from gea.agents import GEAPolicy, PolicyConfig

    env_ids = [ENV_IDS[index % len(ENV_IDS)] for index in range(batch)]
    policy = GEAPolicy.build(PolicyConfig(context=context), env_ids)
    return policy.eval(), env_ids


def observations(step: int, batch: int) -> list[dict[str, Any]]:
    """Deterministic synthetic observations (64x64 images) for one step."""
    rng = np.random.default_rng(step + 1000)
    images = rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
    return [{"image": image, "instruction": "go to the red ball"} for image in images]


class GenerateBaseline:
    """One env step per call, done with ``model.generate`` and a ``ConstraintLogitsProcessor``."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.windows: list[list[tuple[np.ndarray, list[int]]]] = []

    @torch.inference_mode()
    def act(
        self, rows: list[dict[str, Any]], env_ids: list[str]
    ) -> tuple[list[Any], list[list[int]], torch.Tensor, torch.Tensor]:
        """Actions, token ids, summed log-probs and values for one step (greedy)."""
        from gea.agents.constraints import ConstraintLogitsProcessor
        from gea.agents.prompt import PromptRecord
        from gea.envs import spec

        policy, backbone = self.policy, self.policy.backbone
        specs = [spec(env_id) for env_id in env_ids]
        while len(self.windows) < len(rows):
            self.windows.append([])
        records = []
        for index, (row, env_spec) in enumerate(zip(rows, specs, strict=True)):
            window = self.windows[index]
            window.append((row["image"], []))
            del window[: -policy.config.context]
            records.append(
                PromptRecord(
                    env_spec.id,
                    policy.task_index(env_spec.id),
                    policy.prompts.header_ids(env_spec, row["instruction"]),
                    np.stack([image for image, _ in window]),
                    [ids for _, ids in window[:-1]],
                )
            )
        images = torch.from_numpy(np.concatenate([record.images for record in records]))
        features = backbone.image_features(images)
        counts = [len(record.images) for record in records]
        per_row = [chunk.reshape(-1, features.shape[-1]) for chunk in torch.split(features, counts)]
        tokens = policy.prompts.batch(records, policy.device)
        embeds = policy._embed_prompts(tokens, torch.cat(per_row))
        end_id = policy.prompts.pad_id
        processor = ConstraintLogitsProcessor(
            policy.masks, env_ids, [policy.codec.allowed_next_fn(s) for s in specs], end_id
        )
        out = backbone.model.generate(
            inputs_embeds=embeds,
            attention_mask=tokens.attention_mask,
            logits_processor=[processor],
            max_new_tokens=policy.codec.max_tokens(specs),
            do_sample=False,
            eos_token_id=end_id,
            pad_token_id=end_id,
            output_scores=True,
            output_hidden_states=True,
            return_dict_in_generate=True,
        )
        generated = out.sequences
        token_ids: list[list[int]] = []
        log_prob = torch.zeros(len(rows))
        for row in range(len(rows)):
            ids: list[int] = []
            for position, token in enumerate(generated[row].tolist()):
                if token == end_id:
                    break
                ids.append(token)
                log_prob[row] += torch.log_softmax(out.scores[position][row], -1)[token]
            token_ids.append(ids)
            self.windows[row][-1] = (self.windows[row][-1][0], ids)
        last = out.hidden_states[0][-1][:, -1]
        visual_mean = torch.stack([chunk.mean(0) for chunk in per_row])
        tasks = torch.tensor([record.task for record in records])
        value = policy.value_head.popart.denormalize(policy.value_head(last, visual_mean, tasks), tasks)
        actions = [policy.codec.decode(s, ids) for s, ids in zip(specs, token_ids, strict=True)]
        return actions, token_ids, log_prob, value


def run_side(side: str, batch: int, context: int, steps: int, threads: int) -> dict[str, Any]:
    """Time ``steps`` env steps of one side in this process; returns actions/s, peak memory and token ids."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    policy, env_ids = make_policy(batch, context)
    baseline = GenerateBaseline(policy)
    step_fn = (
        (lambda rows: policy.act(rows, env_ids, greedy=True).token_ids)
        if side == "act"
        else (lambda rows: baseline.act(rows, env_ids)[1])
    )
    step_fn(observations(-1, batch))  # warm-up (first-call allocations), then a fresh episode
    policy.reset(None)
    baseline.windows.clear()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    emitted = []
    start = time.perf_counter()
    for step in range(steps):
        emitted.append(step_fn(observations(step, batch)))
    elapsed = time.perf_counter() - start
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {
        "actions_per_s": batch * steps / elapsed,
        "peak_rss_mib": peak_rss,
        "gpu_peak_mib": gpu_peak,
        "tokens": emitted,
    }


def run_interleaved(batch: int, context: int, steps: int, threads: int) -> dict[str, Any]:
    """Both sides on one model, step by step in alternating order, so both see the same machine load."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    policy, env_ids = make_policy(batch, context)
    baseline = GenerateBaseline(policy)
    sides = {
        "act": lambda rows: policy.act(rows, env_ids, greedy=True).token_ids,
        "generate": lambda rows: baseline.act(rows, env_ids)[1],
    }
    for step_fn in sides.values():
        step_fn(observations(-1, batch))  # warm-up, then a fresh episode
    policy.reset(None)
    baseline.windows.clear()
    elapsed = dict.fromkeys(sides, 0.0)
    tokens: dict[str, list[Any]] = {name: [] for name in sides}
    for step in range(steps):
        for name in sorted(sides, reverse=step % 2 == 1):
            start = time.perf_counter()
            tokens[name].append(sides[name](observations(step, batch)))
            elapsed[name] += time.perf_counter() - start
    return {
        "act": batch * steps / elapsed["act"],
        "generate": batch * steps / elapsed["generate"],
        "same_tokens": tokens["act"] == tokens["generate"],
    }


def child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one side in a fresh interpreter and parse its JSON line."""
    command = [
        sys.executable, __file__, "--child", side, "--batch", str(args.batch), "--context", str(args.context),
        "--steps", str(args.steps), "--threads", str(args.threads),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def write_report(
    args: argparse.Namespace, interleaved: list[dict[str, Any]], memory: dict[str, dict[str, Any]], path: Path
) -> str:
    """Markdown summary of the medians, written to ``path``."""
    ratios = [run["act"] / run["generate"] for run in interleaved]
    same = all(run["same_tokens"] for run in interleaved) and memory["act"]["tokens"] == memory["generate"]["tokens"]
    rows = []
    for key, side in (("act", "GEAPolicy.act"), ("generate", "HF generate + LogitsProcessor")):
        rate = statistics.median(run[key] for run in interleaved)
        per_repeat = ", ".join(f"{run[key]:.1f}" for run in interleaved)
        gpu = memory[key]["gpu_peak_mib"]
        rows.append(
            f"| {side} | {rate:.1f} | {per_repeat} | {memory[key]['actions_per_s']:.1f} | "
            f"{memory[key]['peak_rss_mib']:.0f} | {'-' if gpu is None else f'{gpu:.0f}'} |"
        )
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    text = "\n".join(
        [
            "# GEA policy: `act()` vs Hugging Face `generate`",
            "",
            f"Command: `python benchmarks/policy.py --batch {args.batch} --context {args.context} "
            f"--steps {args.steps} --repeats {args.repeats} --threads {args.threads}`",
            "",
            f"Tiny default model (LLaVA-OneVision, frozen EfficientNet-Lite0 + Qwen2 2x128), batch {args.batch} envs "
            f"({', '.join(ENV_IDS)} alternating), context c = {args.context}, greedy, {args.steps} env steps "
            f"per repeat after one warm-up step; torch threads = {args.threads}; both sides under "
            f"`torch.inference_mode()`. Device: {device}; torch {torch.__version__}.",
            "",
            f"Throughput: {args.repeats} repeats, each a fresh process running both sides on the same model, "
            "step by step in alternating order (both see the same machine load). Peak memory: one more "
            "process per side running only that side (its throughput alone is in the 'alone' column).",
            "",
            "| side | actions/s (median) | per repeat | alone | peak RSS MiB | GPU peak MiB |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Speed-up (median of per-repeat ratios): **{statistics.median(ratios):.2f}x** (goal >= 2x); "
            f"per repeat: {', '.join(f'{ratio:.2f}' for ratio in ratios)}.",
            f"Identical token ids from both sides: {'yes' if same else 'NO'}.",
            "",
            "Peak RSS is the whole process (Python, torch, transformers, the model); with a model this small it is",
            "dominated by the libraries. The machine is shared with other jobs (load average about 10 on 2 cores",
            "while this ran), so absolute numbers vary between runs; the per-repeat ratio is the stable figure.",
            "",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main() -> None:
    """Parse arguments; as parent run both sides alternately and write the report, as child time one side."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--context", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=("act", "generate", "both"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "both":
            print(json.dumps(run_interleaved(args.batch, args.context, args.steps, args.threads)))
        else:
            print(json.dumps(run_side(args.child, args.batch, args.context, args.steps, args.threads)))
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    interleaved = []
    for repeat in range(args.repeats):
        interleaved.append(child("both", args))
        run = interleaved[-1]
        print(f"repeat {repeat + 1}/{args.repeats}: act {run['act']:.1f}, generate {run['generate']:.1f}", flush=True)
    memory = {side: child(side, args) for side in ("act", "generate")}
    print(write_report(args, interleaved, memory, args.output))


if __name__ == "__main__":
    main()
