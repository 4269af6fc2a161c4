#!/usr/bin/env bash
# Issue #7's learning result: the tiny default policy (random init) after SFT on expert data vs a random policy,
# on one task of each of manipulation (Meta-World), navigation (BabyAI) and games (Procgen).
# Reproduce: bash benchmarks/sft_learning.sh [OUT_DIR]   (about 45 min on 2 CPU cores; results: OUT_DIR/*/report.md)
set -euo pipefail
OUT=${1:-runs/sft_learning}
export OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
sft=(batch_size=16 optim.lr=1e-3 optim.warmup_fraction=0.05 policy.context=1 cpu_threads=1 save_every=0
  log_every=50)
evaluate() {  # evaluate NAME TASKS AGENTS
  gea eval suite.name="$1" "suite.tasks=$2" "agents=$3" seed=1 videos_per_task=0 out_dir="$OUT/eval_$1"
}

# Navigation: BabyAI GoToLocal from the agent's egocentric 7x7 view (view=agent; see the results file for why).
gea collect envs=[babyai:GoToLocal] episodes_per_task=200 num_envs=0 +env_kwargs.view=agent out="$OUT/data_babyai"
gea sft data.paths=["$OUT/data_babyai"] "${sft[@]}" steps=600 out_dir="$OUT/sft_babyai"
evaluate babyai '[{env: "babyai:GoToLocal", episodes: 50, max_steps: 64, env_kwargs: {view: agent}}]' \
  "[random,\"gea:$OUT/sft_babyai/policy\",\"gea-sample:$OUT/sft_babyai/policy\"]"

# Manipulation: two Meta-World tasks that a random policy never solves, one policy for both.
gea collect envs=[metaworld:button-press-topdown-v3,metaworld:plate-slide-v3] episodes_per_task=100 num_envs=0 \
  out="$OUT/data_metaworld"
gea sft data.paths=["$OUT/data_metaworld"] "${sft[@]}" steps=1000 out_dir="$OUT/sft_metaworld"
evaluate metaworld '[{env: "metaworld:button-press-topdown-v3", episodes: 20, max_steps: 150},
  {env: "metaworld:plate-slide-v3", episodes: 20, max_steps: 150}]' \
  "[random,\"gea:$OUT/sft_metaworld/policy\",\"gea-sample:$OUT/sft_metaworld/policy\"]"

# Games: Procgen CoinRun from the shipped SB3 expert's successful episodes.
gea collect envs=[procgen:coinrun] episodes_per_task=60 success_only=true max_episode_steps=300 num_envs=0 \
  out="$OUT/data_coinrun"
gea sft data.paths=["$OUT/data_coinrun"] "${sft[@]}" steps=400 out_dir="$OUT/sft_coinrun"
evaluate coinrun '[{env: "procgen:coinrun", episodes: 30, max_steps: 300}]' \
  "[random,\"gea:$OUT/sft_coinrun/policy\",\"gea-sample:$OUT/sft_coinrun/policy\"]"

# Does each policy use its images? (loss with real vs shuffled vs blank images)
for name in babyai metaworld coinrun; do
  python benchmarks/sft_image_reliance.py "$OUT/sft_$name/policy" "$OUT/data_$name"
done
