"""Shortest-path oracle for MiniWorld goal-reaching tasks, from the privileged agent and goal positions.

At reset it rasterises the floor into cells the agent's body fits in (walls and non-goal objects, with a
margin, block a cell), finds the shortest cell path to the goal by breadth-first search, and then follows
it: turn towards the next waypoint, move forward; it replans when a move is blocked.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert

CELL = 0.25  # metres per planning cell
TURN_LEFT, TURN_RIGHT, FORWARD = 0, 1, 2
GOAL_TASKS = (
    "Hallway",
    "OneRoom",
    "OneRoomS6",
    "OneRoomS6Fast",
    "FourRooms",
    "WallGap",
    "Maze",
    "MazeS2",
    "MazeS3",
    "MazeS3Fast",
    "TMaze",
    "TMazeLeft",
    "TMazeRight",
    "YMaze",
    "YMazeLeft",
    "YMazeRight",
    "Sidewalk",
    "Sign",
)


def goal_entity(sim: Any) -> Any:
    """The entity the agent must reach: ``sim.box``, or in Sign the object the sign and goal name."""
    if hasattr(sim, "box"):
        return sim.box
    return sim._objects[sim._goal][sim._color_index]


def _distance(entity: Any, pos: np.ndarray) -> float:
    """Distance on the floor (x, z) between an entity and a world position."""
    return float(np.linalg.norm((np.asarray(entity.pos) - pos)[[0, 2]]))


class FloorPlan:
    """Free cells of a MiniWorld scene for the agent's body, and shortest paths between them."""

    def __init__(self, sim: Any, goal: Any) -> None:
        self.sim = sim
        self.goal = goal
        self.x0, self.z0 = sim.min_x, sim.min_z
        self.nx = math.ceil((sim.max_x - sim.min_x) / CELL)
        self.nz = math.ceil((sim.max_z - sim.min_z) / CELL)
        self.free = np.zeros((self.nx, self.nz), bool)
        self.at_goal = np.zeros((self.nx, self.nz), bool)
        others = [ent for ent in sim.entities if ent is not sim.agent and ent is not goal]
        for i in range(self.nx):
            for k in range(self.nz):
                pos = np.array([self.x0 + (i + 0.5) * CELL, 0.0, self.z0 + (k + 0.5) * CELL])
                self.free[i, k] = self._fits(pos, others)
                reach = goal.radius + sim.agent.radius + sim.max_forward_step
                self.at_goal[i, k] = self.free[i, k] and _distance(goal, pos) < reach

    def _fits(self, pos: np.ndarray, others: list[Any]) -> bool:
        """Whether the agent's body fits at ``pos``, away from walls and not touching any object."""
        from miniworld.math import intersect_circle_segs

        radius = self.sim.agent.radius
        if intersect_circle_segs(pos, radius * 1.1, self.sim.wall_segs):
            return False
        margin = radius + 1.2 * self.sim.max_forward_step  # never come near another object (Sign ends the episode)
        if any(_distance(ent, pos) < ent.radius + margin for ent in others):
            return False
        return _distance(self.goal, pos) >= self.goal.radius + radius

    def cell(self, pos: np.ndarray) -> tuple[int, int]:
        """The cell holding world position ``pos``."""
        i = int(np.clip((pos[0] - self.x0) // CELL, 0, self.nx - 1))
        k = int(np.clip((pos[2] - self.z0) // CELL, 0, self.nz - 1))
        return i, k

    def centre(self, cell: tuple[int, int]) -> np.ndarray:
        """World position (x, z) of a cell's centre."""
        return np.array([self.x0 + (cell[0] + 0.5) * CELL, self.z0 + (cell[1] + 0.5) * CELL])

    def path(self, start: np.ndarray) -> list[np.ndarray]:
        """Waypoints (x, z) from ``start`` to the goal's cell; just the goal when no path exists."""
        first = self.cell(start)
        previous: dict[tuple[int, int], tuple[int, int] | None] = {first: None}
        queue = deque([first])
        while queue:
            cur = queue.popleft()
            if self.at_goal[cur]:
                cells = []
                node: tuple[int, int] | None = cur
                while node is not None:
                    cells.append(node)
                    node = previous[node]
                return [self.centre(c) for c in reversed(cells)] + [np.asarray(self.goal.pos)[[0, 2]]]
            for di, dk in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
                nxt = (cur[0] + di, cur[1] + dk)
                if (
                    nxt not in previous
                    and 0 <= nxt[0] < self.nx
                    and 0 <= nxt[1] < self.nz
                    and self.free[nxt]
                    and self.free[cur[0] + di, cur[1]]
                    and self.free[cur[0], cur[1] + dk]
                ):
                    previous[nxt] = cur
                    queue.append(nxt)
        return [np.asarray(self.goal.pos)[[0, 2]]]


class MiniWorldOracle:
    """Follows the floor plan's shortest path to the goal with turn / move-forward actions."""

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self._plan: FloorPlan | None = None
        self._waypoints: list[np.ndarray] = []
        self._last_pos: np.ndarray | None = None

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Rasterise the new scene and plan the path from the agent to the goal."""
        sim = env.unwrapped.sim
        self._plan = FloorPlan(sim, goal_entity(sim))
        self._waypoints = self._plan.path(sim.agent.pos)
        self._last_pos = None

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """Turn towards the next waypoint when off by more than half a turn step, else move forward."""
        if self._plan is None:
            raise RuntimeError(f"{self.env_id}: call expert.reset(env) after env.reset() before act()")
        sim = env.unwrapped.sim
        pos = sim.agent.pos
        if self._last_pos is not None and np.allclose(self._last_pos, pos):
            self._waypoints = self._plan.path(pos)  # the last move was blocked: replan from here
        reach = max(CELL * 1.5, sim.max_forward_step)
        while len(self._waypoints) > 1 and np.linalg.norm(self._waypoints[0] - pos[[0, 2]]) < reach:
            self._waypoints.pop(0)
        target = self._waypoints[0]
        heading = math.atan2(-(target[1] - pos[2]), target[0] - pos[0])
        error = (heading - sim.agent.dir + math.pi) % (2 * math.pi) - math.pi
        turn_step = math.radians(sim.params.sample(None, "turn_step"))
        if abs(error) > turn_step / 2:
            self._last_pos = None
            return TURN_LEFT if error > 0 else TURN_RIGHT
        self._last_pos = pos.copy()
        return FORWARD


def make_miniworld_oracle(env_id: str) -> MiniWorldOracle:
    """The shortest-path oracle for one ``miniworld:<Task>`` goal-reaching id."""
    return MiniWorldOracle(env_id)


for _task in GOAL_TASKS:
    register_expert(f"miniworld:{_task}")(make_miniworld_oracle)
