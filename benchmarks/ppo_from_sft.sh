#!/usr/bin/env bash
# Issue #8's learning result: PPO started from an SFT checkpoint vs that SFT checkpoint alone, on BabyAI
# GoToRedBallNoDists from the agent's 7x7 view (view=agent), with the tiny default policy (random init).
# Reproduce: bash benchmarks/ppo_from_sft.sh [OUT_DIR]   (about 10 min on 2 CPU cores; results: OUT_DIR/eval_*/report.md)
set -euo pipefail
OUT=${1:-runs/ppo_from_sft}
TASK=babyai:GoToRedBallNoDists
export OMP_NUM_THREADS=1
evaluate() {  # evaluate NAME AGENTS: the same 100 episodes (seed 2) for every policy, sampled actions
  gea eval suite.name="$1" "suite.tasks=[{env: \"$TASK\", episodes: 100, max_steps: 64, env_kwargs: {view: agent}}]" \
    "agents=$2" seed=2 videos_per_task=0 out_dir="$OUT/eval_$1"
}

# Expert data and a short SFT (60 updates of 16 windows, c = 1): the starting checkpoint.
gea collect envs=[$TASK] episodes_per_task=100 num_envs=0 +env_kwargs.view=agent out="$OUT/data"
gea sft data.paths=["$OUT/data"] batch_size=16 optim.lr=1e-3 optim.warmup_fraction=0.05 policy.context=1 \
  cpu_threads=1 save_every=0 log_every=20 steps=60 out_dir="$OUT/sft"

# PPO from that checkpoint: full fine-tuning, no joint SFT term (so any gain comes from the environment's reward).
gea ppo ppo_recipe@_global_=gea policy.path="$OUT/sft/policy" policy.lora.enabled=false envs=[$TASK] +env_kwargs.view=agent \
  asynchronous=false num_envs=8 rollout_steps=64 epochs=4 minibatches=4 lr=3e-4 entropy_coef=1e-3 gamma=0.99 \
  sft.weight=0 total_steps=10240 seed=0 threads=1 out_dir="$OUT/ppo"

evaluate sft_vs_ppo "[random,\"gea-sample:$OUT/sft/policy\",\"gea-sample:$OUT/ppo/policy\"]"
