"""How much of reach-v3 an image policy can solve: going to the average goal vs knowing the goal's pixel.

Draws goals uniformly from reach-v3's goal box and counts how often a reach ends within Meta-World's 5 cm success
radius when the policy (a) knows nothing about the goal and heads for the mean goal, or (b) knows which pixel of a
camera's image the goal falls on and heads for the mean goal of that pixel. Prints one row per camera and size:

    MUJOCO_GL=egl .venv/bin/python benchmarks/reach_goal_visibility.py [--goals 50000] [--size 64]
"""

from __future__ import annotations

import argparse

import numpy as np

import gea.envs

GOAL_LOW = np.array([-0.1, 0.8, 0.05])  # SawyerReachEnvV3's goal box
GOAL_HIGH = np.array([0.1, 0.9, 0.3])
SUCCESS_RADIUS = 0.05


def pixel_keys(env_id: str, camera: str, size: int, goals: np.ndarray) -> np.ndarray:
    """The pixel (as one integer) each goal projects to in ``camera``'s ``size`` px image."""
    env = gea.envs.make(env_id, image_size=size, camera=camera)
    env.reset(seed=0)
    sim = env.unwrapped.sim
    camera_id = sim.model.camera(camera).id
    position, rotation = sim.data.cam_xpos[camera_id], sim.data.cam_xmat[camera_id].reshape(3, 3)
    focal = size / 2 / np.tan(np.deg2rad(sim.model.cam_fovy[camera_id]) / 2)
    env.close()
    local = (goals - position) @ rotation  # camera frame: x right, y up, looking down -z
    u = np.floor(size / 2 + focal * local[:, 0] / -local[:, 2]).astype(int)
    v = np.floor(size / 2 - focal * local[:, 1] / -local[:, 2]).astype(int)
    return u * (size + 1) + v


def success_knowing_pixel(goals: np.ndarray, keys: np.ndarray) -> float:
    """Success rate of heading for the mean goal of the goal's pixel."""
    hits = 0
    for key in np.unique(keys):
        group = goals[keys == key]
        hits += int((np.linalg.norm(group - group.mean(0), axis=1) < SUCCESS_RADIUS).sum())
    return hits / len(goals)


def main() -> None:
    """Print the no-information and the pixel-oracle success rates per camera."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    goals = np.random.default_rng(0).uniform(GOAL_LOW, GOAL_HIGH, (args.goals, 3))
    blind = float((np.linalg.norm(goals - goals.mean(0), axis=1) < SUCCESS_RADIUS).mean())
    print(f"heading for the mean goal (goal unseen): {blind:.1%}")
    for camera in ("corner3", "corner", "corner2", "topview"):
        keys = pixel_keys("metaworld:reach-v3", camera, args.size, goals)
        print(f"{camera} at {args.size} px, knowing the goal's pixel: {success_knowing_pixel(goals, keys):.1%}")


if __name__ == "__main__":
    main()
