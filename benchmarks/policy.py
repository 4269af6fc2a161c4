"""GEA policy speed: actions/s of ``GEAPolicy.act`` vs Hugging Face ``generate`` with the same constraints.

Both sides run the tiny default model (LLaVA-OneVision class), batch 8 envs of mixed embodiments
(BabyAI discrete names + Meta-World continuous codes), context c = 3, greedy decoding, and produce the
same thing per step: env actions, token ids, summed log-prob and value. The ``generate`` side is what one
writes with stock transformers: keep each env's last c visual features (only the newest image is encoded per
step), build the prompt embeddings, call ``model.generate(inputs_embeds=...,
logits_processor=[ConstraintLogitsProcessor])`` with ``output_scores``/``output_hidden_states``, and take the
log-probs from ``model.compute_transition_scores``. ``act`` adds KV reuse of the prompt header (description,
actions, instruction), runs the decoder layers itself with a prebuilt SDPA mask and takes only the last position
through the last layer (``Backbone.decode_last``: the other positions need only their keys and values there), and
appends forced final tokens without a model call. The two are checked to emit identical tokens.

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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _bench import load_average, median_spread, paired_ratios, side_order, write_results

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
    """One env step per call, done with ``model.generate`` and a ``ConstraintLogitsProcessor``.

    Written the way a transformers user would: each env's window keeps the visual features of its last c images
    (only the newest image is encoded each step), the prompt embeddings go to ``generate`` with
    ``output_scores``/``output_hidden_states``, the chosen tokens' log-probs come from
    ``model.compute_transition_scores(sequences, scores, normalize_logits=True)`` and the value from the prompt's
    last hidden state.
    """

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.windows: list[list[tuple[torch.Tensor, list[int]]]] = []

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
        newest = backbone.image_features(torch.from_numpy(np.stack([row["image"] for row in rows])))
        records, per_row = [], []
        for index, (row, env_spec) in enumerate(zip(rows, specs, strict=True)):
            window = self.windows[index]
            window.append((newest[index], []))
            del window[: -policy.config.context]
            records.append(
                PromptRecord(
                    env_spec.id,
                    policy.task_index(env_spec.id),
                    policy.prompts.header_ids(env_spec, row["instruction"]),
                    np.zeros((len(window), 1, 1, 3), np.uint8),  # images enter as features below
                    [ids for _, ids in window[:-1]],
                )
            )
            per_row.append(torch.cat([features for features, _ in window]))
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
        ended = (generated == end_id).cumsum(-1) > 0
        chosen = backbone.model.compute_transition_scores(generated, out.scores, normalize_logits=True)
        log_prob = chosen.masked_fill(ended, 0.0).sum(-1)
        token_ids = [ids[: ids.index(end_id)] if end_id in ids else ids for ids in generated.tolist()]
        for row, ids in enumerate(token_ids):
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
    from gea.agents.vision.feature_cache import FeatureCache

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    policy, env_ids = make_policy(batch, context)
    baseline = GenerateBaseline(policy)
    sides = {
        "act": lambda rows: policy.act(rows, env_ids, greedy=True).token_ids,
        "generate": lambda rows: baseline.act(rows, env_ids)[1],
    }
    # Each side keeps its own cache of vision-tower features (as in a process of its own): whichever side ran
    # first on a step's images must not hand the other its features.
    caches = {name: FeatureCache(policy.backbone.feature_cache.max_bytes) for name in sides}
    for name, step_fn in sides.items():
        policy.backbone.feature_cache = caches[name]
        step_fn(observations(-1, batch))  # warm-up, then a fresh episode
    policy.reset(None)
    baseline.windows.clear()
    elapsed = dict.fromkeys(sides, 0.0)
    tokens: dict[str, list[Any]] = {name: [] for name in sides}
    for step in range(steps):
        for name in side_order(list(sides), step):
            policy.backbone.feature_cache = caches[name]
            start = time.perf_counter()
            tokens[name].append(sides[name](observations(step, batch)))
            elapsed[name] += time.perf_counter() - start
    return {
        "act": batch * steps / elapsed["act"],
        "generate": batch * steps / elapsed["generate"],
        "actions": {name: sum(len(step) for step in tokens[name]) for name in sides},
        "tokens": {name: sum(len(ids) for step in tokens[name] for ids in step) for name in sides},
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
    args: argparse.Namespace, interleaved: list[dict[str, Any]], memory: dict[str, dict[str, Any]], loads: list[str]
) -> str:
    """Markdown summary (medians and spread) written to ``args.output``, with the JSON record next to it."""
    ratios = paired_ratios([run["act"] for run in interleaved], [run["generate"] for run in interleaved])
    same = all(run["same_tokens"] for run in interleaved) and memory["act"]["tokens"] == memory["generate"]["tokens"]
    rows = []
    for key, side in (("act", "`GEAPolicy.act`"), ("generate", "HF `generate` + `compute_transition_scores`")):
        gpu = memory[key]["gpu_peak_mib"]
        rows.append(
            f"| {side} | {median_spread([run[key] for run in interleaved], 1)} "
            f"| {memory[key]['actions_per_s']:.1f} | {memory[key]['peak_rss_mib']:.0f} "
            f"| {'-' if gpu is None else f'{gpu:.0f}'} |"
        )
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    work = interleaved[0]
    text = "\n".join(
        [
            "# GEA policy: `act()` vs Hugging Face `generate`",
            "",
            f"Command: `python benchmarks/policy.py --batch {args.batch} --context {args.context} "
            f"--steps {args.steps} --repeats {args.repeats} --threads {args.threads}` ({time.strftime('%Y-%m-%d')})",
            "",
            f"Tiny default model (`PolicyConfig()`, LLaVA-OneVision class), batch {args.batch} envs "
            f"({', '.join(ENV_IDS)} alternating), context c = {args.context}, greedy, {args.steps} env steps "
            f"per repeat after one warm-up step; torch threads = {args.threads}; both sides under "
            f"`torch.inference_mode()`. Device: {device}; torch {torch.__version__}. Machine shared with other jobs; "
            f"load average (1, 5, 15 min) at the start {loads[0]}, at the end {loads[1]}.",
            "",
            "Peer call (`GenerateBaseline` in the script): per step, encode only the newest image of each env "
            "(`backbone.image_features`) and keep the features of the last c per env, build the prompt embeddings, "
            "then `model.generate(inputs_embeds=..., attention_mask=..., logits_processor=[ConstraintLogitsProcessor], "
            "max_new_tokens=..., do_sample=False, output_scores=True, output_hidden_states=True, "
            "return_dict_in_generate=True)`; log-probs with `model.compute_transition_scores(sequences, scores, "
            "normalize_logits=True)`; value from the prompt's last hidden state. `act` adds KV reuse of the prompt "
            "header, runs the decoder layers itself with a prebuilt SDPA mask, takes only the last position through "
            "the last layer (`Backbone.decode_last`) and appends forced final tokens without a model call. Both "
            "sides share the vision tower (`backbone.image_features`).",
            "",
            f"Throughput: {args.repeats} repeats, each a fresh process running both sides on the same model, "
            "step by step in alternating order (both see the same machine load), each with its own cache of "
            "vision-tower features. Each side emitted "
            f"{work['actions']['act']} actions and {work['tokens']['act']} tokens per repeat (generate: "
            f"{work['actions']['generate']} and {work['tokens']['generate']}). Peak memory: one more process per "
            "side running only that side (its throughput alone in the 'alone' column).",
            "",
            "| side | actions/s, median (min-max) over repeats | alone | peak RSS MiB | GPU peak MiB |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Speed-up (median (min-max) of per-repeat ratios): **{median_spread(ratios, 2, 'x')}** (goal >= 2x).",
            f"Identical token ids from both sides: {'yes' if same else 'NO'}.",
            "",
            "Peak RSS is the whole process (Python, torch, transformers, the model); with a model this small it is",
            "dominated by the libraries.",
            "",
        ]
    )
    record = {"args": vars(args), "load_average": loads, "interleaved": interleaved, "ratios": ratios}
    record["alone"] = {side: {k: v for k, v in run.items() if k != "tokens"} for side, run in memory.items()}
    write_results(args.output, text, record)
    return text


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; as parent run both sides alternately and write the report, as child time one side."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--context", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=("act", "generate", "both"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "both":
            print(json.dumps(run_interleaved(args.batch, args.context, args.steps, args.threads)))
        else:
            print(json.dumps(run_side(args.child, args.batch, args.context, args.steps, args.threads)))
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    loads = [load_average()]
    interleaved = []
    for repeat in range(args.repeats):
        interleaved.append(child("both", args))
        run = interleaved[-1]
        print(f"repeat {repeat + 1}/{args.repeats}: act {run['act']:.1f}, generate {run['generate']:.1f}", flush=True)
    memory = {side: child(side, args) for side in ("act", "generate")}
    loads.append(load_average())
    print(write_report(args, interleaved, memory, loads))


if __name__ == "__main__":
    main()
