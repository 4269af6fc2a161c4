"""Scripted planner for ``babyai-skills:*``: the next skill, read from the mission's instruction tree and the grid.

It walks the BabyAI instruction (``minigrid.instrs``) in execution order, takes the first part not yet done,
and issues the skill that moves it forward: fetch a key (or open the box holding it) for a locked door in
the way, carry a blocking object aside, free the hands, then go to / pick up / open / put next to.
"""

from __future__ import annotations

from typing import Any

from gea.envs.adapters.babyai_grid import first_obstacle, objects_on_grid, shortest_path, stand_cells

MAX_DEPTH = 4  # nested obstacles (a key behind a locked door behind ...) the planner resolves


def pending_parts(instr: Any) -> list[Any]:
    """The simple instructions (go to, pick up, open, put next) still to do, in the order to do them."""
    kind = type(instr).__name__
    if kind == "BeforeInstr":
        first = [] if instr.a_done == "success" else pending_parts(instr.instr_a)
        return first + pending_parts(instr.instr_b)
    if kind == "AfterInstr":
        first = [] if instr.b_done == "success" else pending_parts(instr.instr_b)
        return first + pending_parts(instr.instr_a)
    if kind == "AndInstr":
        parts = [] if instr.a_done == "success" else pending_parts(instr.instr_a)
        return parts + ([] if instr.b_done == "success" else pending_parts(instr.instr_b))
    return [instr]


def _name(obj: Any) -> str:
    return f"the {obj.color} {obj.type}"


class SkillPlanner:
    """Chooses the next skill name for a minigrid BabyAI env, using its full (privileged) state."""

    def __init__(self, minigrid: Any) -> None:
        self.minigrid = minigrid
        self.cells = {id(obj): pos for obj, pos in objects_on_grid(minigrid)}

    def next_skill(self) -> str:
        """The skill to execute now (a name from the ``babyai-skills`` action set)."""
        parts = pending_parts(self.minigrid.instrs)
        instr = parts[0] if parts else None
        kind = type(instr).__name__
        if kind == "PutNextInstr":
            return self._put_next(instr)
        target = self._choose(instr.desc.obj_set) if instr is not None else None
        if target is None:
            return "drop the held object"
        if kind == "GoToInstr":
            return self._clear_way(target, 0) or f"go to {_name(target)}"
        if kind == "OpenInstr":
            return self._open_door(target, 0)
        return self._pick_up(target, 0)

    def _carrying(self) -> Any:
        return self.minigrid.carrying

    def _choose(self, objects: list[Any]) -> Any | None:
        """The matching object still present (held first, then the nearest reachable one on the grid)."""
        on_grid = [obj for obj in objects if id(obj) in self.cells]
        held = [obj for obj in objects if obj is self._carrying()]
        reachable = [(len(path), index) for index, obj in enumerate(on_grid) if (path := self._path(obj)) is not None]
        if reachable:
            on_grid.insert(0, on_grid[min(reachable)[1]])
        present = held + on_grid
        return present[0] if present else None

    def _path(self, obj: Any) -> list[Any] | None:
        return shortest_path(self.minigrid, stand_cells(self.minigrid, [self.cells[id(obj)]]))

    def _clear_way(self, target: Any, depth: int) -> str:
        """ "" when ``target`` is reachable (or held), else the skill that clears the first obstacle."""
        if id(target) not in self.cells or depth > MAX_DEPTH or self._path(target) is not None:
            return ""
        found = first_obstacle(self.minigrid, [self.cells[id(target)]])
        if found is None:
            return ""
        obstacle = found[0]
        if obstacle.type == "door":
            return self._open_door(obstacle, depth + 1)
        return self._pick_up(obstacle, depth + 1)

    def _open_door(self, door: Any, depth: int) -> str:
        held = self._carrying()
        if not door.is_locked or (held is not None and held.type == "key" and held.color == door.color):
            return self._clear_way(door, depth) or f"open the {door.color} door"
        key = self._choose(
            [obj for obj, _ in objects_on_grid(self.minigrid) if obj.type == "key" and obj.color == door.color]
        )
        if key is not None:
            return self._pick_up(key, depth + 1)
        boxes = [
            obj
            for obj, _ in objects_on_grid(self.minigrid)
            if obj.type == "box" and obj.contains is not None and obj.contains.color == door.color
        ]
        if boxes:
            return self._clear_way(boxes[0], depth + 1) or f"open {_name(boxes[0])}"
        return f"open the {door.color} door"

    def _pick_up(self, target: Any, depth: int) -> str:
        blocked = self._clear_way(target, depth)
        if blocked:
            return blocked
        if self._carrying() is not None:
            return "drop the held object"
        return f"pick up {_name(target)}"

    def _put_next(self, instr: Any) -> str:
        move = self._choose(instr.desc_move.obj_set)
        fixed = self._choose(instr.desc_fixed.obj_set)
        if move is None or fixed is None:
            return "drop the held object"
        blocked = self._clear_way(fixed, 0)
        if blocked:
            return blocked
        if self._carrying() is move:
            return f"put the held object next to {_name(fixed)}"
        return self._pick_up(move, 0)
