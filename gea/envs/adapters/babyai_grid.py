"""Planning on a BabyAI (minigrid) grid: object lookup, shortest paths and a controller that walks to objects.

Works on the privileged, fully known grid of a minigrid env (duck-typed: ``grid``, ``agent_pos``,
``agent_dir``, ``carrying``, ``step``); used by the ``babyai-skills:*`` adapter and its expert.
Closed, unlocked doors count as passable: the controller opens them on the way.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Pos = tuple[int, int]

# minigrid's directions: 0 = +x (east), 1 = +y (south), 2 = -x (west), 3 = -y (north)
DIRECTIONS: tuple[Pos, ...] = ((1, 0), (0, 1), (-1, 0), (0, -1))
OBSTACLE_COST = 1000  # a detour this long is preferred to moving an object or unlocking a door
TURN_LEFT, TURN_RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5


def as_pos(pos: Any) -> Pos:
    """A grid position (tuple, list or numpy array) as a hashable ``(x, y)`` of ints."""
    return (int(pos[0]), int(pos[1]))


def describe(obj: Any) -> str:
    """``"the red ball"`` for a minigrid world object."""
    return f"the {obj.color} {obj.type}"


def objects_on_grid(minigrid: Any) -> list[tuple[Any, Pos]]:
    """Every object on the grid except walls, with its cell (an object's own ``cur_pos`` can be stale)."""
    width = minigrid.grid.width
    return [
        (obj, (index % width, index // width))
        for index, obj in enumerate(minigrid.grid.grid)
        if obj is not None and obj.type != "wall"
    ]


def find_objects(minigrid: Any, color: str, obj_type: str) -> list[tuple[Any, Pos]]:
    """Objects of ``color`` and ``obj_type`` lying on the grid (not the carried one), with their cells."""
    return [(obj, pos) for obj, pos in objects_on_grid(minigrid) if obj.type == obj_type and obj.color == color]


def neighbours(pos: Pos) -> list[Pos]:
    """The four cells next to ``pos``."""
    return [(pos[0] + dx, pos[1] + dy) for dx, dy in DIRECTIONS]


def walkable(cell: Any) -> bool:
    """Whether the agent can walk through ``cell`` (empty, or a door that is not locked)."""
    return cell is None or (cell.type == "door" and not cell.is_locked)


def inside(minigrid: Any, pos: Pos) -> bool:
    """Whether ``pos`` lies on the grid."""
    return 0 <= pos[0] < minigrid.grid.width and 0 <= pos[1] < minigrid.grid.height


def shortest_path(minigrid: Any, goals: Iterable[Pos], passable: Callable[[Any], bool] = walkable) -> list[Pos] | None:
    """Cells from the agent (excluded) to the nearest of ``goals`` (included), or None when none is reachable."""
    goal_set = {as_pos(goal) for goal in goals}
    start = as_pos(minigrid.agent_pos)
    previous: dict[Pos, Pos | None] = {start: None}
    queue = deque([start])
    while queue:
        pos = queue.popleft()
        if pos in goal_set:
            path = []
            while pos != start:
                path.append(pos)
                pos = previous[pos]  # type: ignore[assignment]
            return path[::-1]
        for nxt in neighbours(pos):
            if nxt not in previous and inside(minigrid, nxt) and passable(minigrid.grid.get(*nxt)):
                previous[nxt] = pos
                queue.append(nxt)
    return None


def reachable_cells(minigrid: Any, blocked: Pos | None = None) -> list[Pos]:
    """Walkable cells the agent can reach, nearest first; ``blocked`` is treated as occupied."""
    start = as_pos(minigrid.agent_pos)
    seen = {start}
    order = [start]
    queue = deque([start])
    while queue:
        pos = queue.popleft()
        for nxt in neighbours(pos):
            if nxt not in seen and nxt != blocked and inside(minigrid, nxt) and walkable(minigrid.grid.get(*nxt)):
                seen.add(nxt)
                order.append(nxt)
                queue.append(nxt)
    return order


def stand_cells(minigrid: Any, targets: Iterable[Pos]) -> set[Pos]:
    """Walkable cells from which the agent can face one of ``targets``."""
    target_set = {as_pos(target) for target in targets}
    return {
        cell
        for target in target_set
        for cell in neighbours(target)
        if cell not in target_set and inside(minigrid, cell) and walkable(minigrid.grid.get(*cell))
    }


def first_obstacle(minigrid: Any, targets: Iterable[Any]) -> tuple[Any, Pos] | None:
    """The first locked door or object (and its cell) on the way to ``targets`` that crosses fewest of them.

    Walls are impassable; every other obstacle costs ``OBSTACLE_COST`` steps. None when no obstacle is in the way.
    """
    target_set = {as_pos(target) for target in targets}
    goals = {cell for target in target_set for cell in neighbours(target) if cell not in target_set}
    start = as_pos(minigrid.agent_pos)
    cost: dict[Pos, int] = {start: 0}
    previous: dict[Pos, Pos] = {}
    heap = [(0, start)]
    while heap:
        distance, pos = heapq.heappop(heap)
        if distance > cost[pos]:
            continue
        if pos in goals:
            path = [pos]
            while path[-1] in previous:
                path.append(previous[path[-1]])
            for cell in reversed(path):
                if not walkable(minigrid.grid.get(*cell)):
                    return minigrid.grid.get(*cell), cell
            return None
        for nxt in neighbours(pos):
            cell = minigrid.grid.get(*nxt) if inside(minigrid, nxt) else None
            if not inside(minigrid, nxt) or (cell is not None and cell.type == "wall"):
                continue
            step = distance + 1 + (0 if walkable(cell) else OBSTACLE_COST)
            if step < cost.get(nxt, step + 1):
                cost[nxt], previous[nxt] = step, pos
                heapq.heappush(heap, (step, nxt))
    return None


@dataclass
class WalkResult:
    """How a walk ended: ``error`` is empty when the agent faces a target; ``done`` when the episode ended."""

    steps: int = 0
    error: str = ""
    done: bool = False
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False


class Walker:
    """Steps a minigrid env with primitive actions; stops as soon as the episode ends."""

    def __init__(self, minigrid: Any, budget: int) -> None:
        self.minigrid = minigrid
        self.budget = budget
        self.result = WalkResult()

    def act(self, action: int) -> bool:
        """Take one primitive action; False when the episode ended or the budget is spent."""
        if self.result.done:
            return False
        if self.result.steps >= self.budget:
            self.result.error = self.result.error or f"did not finish within {self.budget} moves"
            return False
        _, reward, terminated, truncated, _ = self.minigrid.step(action)
        self.result.steps += 1
        self.result.reward += float(reward)
        self.result.terminated, self.result.truncated = bool(terminated), bool(truncated)
        self.result.done = bool(terminated or truncated)
        return not self.result.done

    def face(self, target: Pos) -> bool:
        """Turn (at most twice) to face the adjacent cell ``target``."""
        x, y = as_pos(self.minigrid.agent_pos)
        wanted = DIRECTIONS.index((target[0] - x, target[1] - y))
        while self.minigrid.agent_dir != wanted:
            turn = TURN_RIGHT if (wanted - self.minigrid.agent_dir) % 4 == 1 else TURN_LEFT
            if not self.act(turn):
                return False
        return True

    def approach(self, targets: Iterable[Any], what: str) -> bool:
        """Walk next to the nearest of ``targets`` and face it, opening unlocked doors on the way."""
        target_set = {as_pos(target) for target in targets}
        while not self.result.done:
            x, y = as_pos(self.minigrid.agent_pos)
            adjacent = [pos for pos in neighbours((x, y)) if pos in target_set]
            if adjacent:
                front = (x + DIRECTIONS[self.minigrid.agent_dir][0], y + DIRECTIONS[self.minigrid.agent_dir][1])
                return self.face(front if front in adjacent else adjacent[0])
            path = shortest_path(self.minigrid, stand_cells(self.minigrid, target_set))
            if path is None:
                blocker = first_obstacle(self.minigrid, target_set)
                reason = f": the way is blocked by {_blocker_text(blocker[0])}" if blocker is not None else ""
                self.result.error = f"cannot reach {what}{reason}"
                return False
            if not self.face(path[0]):
                return False
            cell = self.minigrid.grid.get(*path[0])
            action = TOGGLE if cell is not None and cell.type == "door" and not cell.is_open else FORWARD
            if not self.act(action):
                return False
        return False


def _blocker_text(obj: Any) -> str:
    if obj.type == "door" and obj.is_locked:
        return f"the locked {obj.color} door"
    return describe(obj)
