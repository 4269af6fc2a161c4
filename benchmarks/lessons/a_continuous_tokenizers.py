"""Lesson a: continuous-action tokenizers on Meta-World (RVQ vs uniform bins vs FAST).

Same expert data for all: (1) reconstruction error of each tokenizer on held-out expert actions and the
tokens one action costs; (2) task success of the tiny GEA policy after the same SFT budget with RVQ tokens
vs uniform-bin tokens. FAST encodes chunks of actions with a variable number of BPE tokens; the GEA policy
decodes a fixed number of tokens per step, so FAST enters part (1) only.

    python benchmarks/lessons/a_continuous_tokenizers.py --out outputs/lessons/a
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import cell, quickstart, share_stage, success

from gea.table import format_table
from gea.tokenizers.base import load_tokenizer
from gea.tokenizers.data import load_actions
from gea.tokenizers.fast import FASTTokenizer, chunk_actions
from gea.tokenizers.uniform import UniformBinTokenizer

TASKS = ["metaworld:reach-v3", "metaworld:drawer-open-v3"]


def reconstruction_rows(data: Path, rvq_dir: Path, chunk: int) -> list[list[object]]:
    """Held-out MSE (raw action units) and tokens per action of RVQ, uniform bins and FAST, per task."""
    actions = load_actions(data)
    train, heldout = actions.split(0.2, seed=0)
    rvq = load_tokenizer(rvq_dir)
    rows: list[list[object]] = []
    for name in sorted(name for name in heldout if name in TASKS):
        test = heldout[name]
        uniform = UniformBinTokenizer(256).fit(train[name])
        fast = FASTTokenizer(chunk=chunk, bpe_vocab_size=512).fit(chunk_actions(train[name], chunk))
        test_chunks = chunk_actions(test, chunk)
        fast_ids = fast.encode(test_chunks)
        fast_mse = float(((fast.decode(fast_ids) - test_chunks) ** 2).mean())
        rvq_decoded = rvq.decode_array(rvq.encode_array(test, name), name)  # type: ignore[attr-defined]
        rows.append(
            [name, "RVQ (2 x 512 codes)", f"{float(((rvq_decoded - test) ** 2).mean()):.2e}", rvq.tokens_per_action]
        )
        uniform_decoded = uniform.decode(uniform.encode(test))
        rows.append(
            [
                name,
                "uniform (256 bins/dim)",
                f"{float(((uniform_decoded - test) ** 2).mean()):.2e}",
                uniform.tokens_per_action,
            ]
        )
        per_action = np.mean([len(ids) for ids in fast_ids]) / chunk
        rows.append([name, f"FAST (chunk {chunk}, BPE 512)", f"{fast_mse:.2e}", f"{per_action:.2f}"])
    return rows


def main() -> None:
    """Run both parts and write the result table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/lessons/a"))
    parser.add_argument("--episodes", type=int, default=20, help="expert episodes per task")
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--table", type=Path, default=Path(__file__).parent / "results" / "a_continuous_tokenizers.md")
    args = parser.parse_args()
    common = [
        f"tasks=[{','.join(TASKS)}]",
        f"collect.episodes_per_task={args.episodes}",
        f"sft.steps={args.sft_steps}",
        f"eval.episodes={args.eval_episodes}",
        "eval.max_steps=100",
    ]
    rvq = quickstart(args.out / "rvq", [*common, "eval.agents=[random,expert,sft]", "sft.continuous_tokenizer=rvq"])
    share_stage(args.out / "rvq", args.out / "uniform", "data")
    uniform = quickstart(args.out / "uniform", [*common, "eval.agents=[sft]", "sft.continuous_tokenizer=uniform"])
    success_rows = [
        [
            task,
            cell(success(rvq, "random", task)),
            cell(success(rvq, "expert", task)),
            cell(success(rvq, "sft/policy", task)),
            cell(success(uniform, "sft/policy", task)),
        ]
        for task in TASKS
    ]
    reconstruction = reconstruction_rows(
        args.out / "rvq" / "data", args.out / "rvq" / "tokenizer" / "tokenizer", args.chunk
    )
    command = (
        f"python benchmarks/lessons/a_continuous_tokenizers.py --out {args.out} --episodes {args.episodes} "
        f"--sft-steps {args.sft_steps} --eval-episodes {args.eval_episodes} --chunk {args.chunk}"
    )
    text = "\n".join(
        [
            "# Lesson a: continuous-action tokenizers on Meta-World",
            "",
            f"Command: `{command}`",
            "",
            "## Task success after the same SFT budget (tiny GEA policy, same seeds)",
            "",
            format_table(
                ["task", "random", "expert", "SFT, RVQ tokens", "SFT, uniform-bin tokens"], success_rows, markdown=True
            ),
            "",
            "## Held-out reconstruction (MSE in action units) and tokens per action",
            "",
            format_table(["task", "tokenizer", "held-out MSE", "tokens / action"], reconstruction, markdown=True),
            "",
        ]
    )
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
