"""BabyAI as high-level-skill planning (GEA's LangR analogue): ``babyai-skills:<Level>``.

Each action is a skill named in words ("go to the red ball", "pick up the yellow key", "open the blue door",
"put the held object next to the grey box", "drop the held object"), executed on the grid by a low-level
controller (``babyai_grid``). The action set is the same for every level: 5 templates x 6 colours x object
types, 79 skills. A skill that cannot run (no such object, hands full or empty, the way blocked, a locked
door without its key) costs a step, changes nothing it had not already done, and explains itself in
``info["skill_error"]`` (empty when the skill ran).

Reward: 1 when the mission is completed, plus ``SUBGOAL_REWARD`` each time a part of a composite mission
("... and ...", "... then ...", "... after you ...") is completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gea.envs.adapters.babyai_grid import (
    DROP,
    PICKUP,
    TOGGLE,
    Walker,
    WalkResult,
    as_pos,
    describe,
    find_objects,
    inside,
    neighbours,
    reachable_cells,
)
from gea.envs.adapters.babyai_levels import LEVELS, BabyAIEnv, View
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.envs.registry import register
from gea.spec import DiscreteActions, EmbodimentSpec

COLORS: tuple[str, ...] = ("red", "green", "blue", "purple", "yellow", "grey")
SUBGOAL_REWARD = 0.1
MAX_SKILL_STEPS = 50
PRIMITIVE_BUDGET = 200  # primitive moves one skill may take
DROP_CANDIDATES = 40  # nearest free cells tested as places to drop an object

# Long-horizon BabyAI levels offered as skill-planning tasks.
SKILL_LEVELS: tuple[str, ...] = (
    "BossLevel",
    "BossLevelNoUnlock",
    "MiniBossLevel",
    "Synth",
    "SynthLoc",
    "SynthSeq",
    "GoToSeq",
    "PutNextLocal",
    "PutNextS7N4",
    "MoveTwoAcrossS8N9",
    "OpenDoorsOrderN4",
    "UnlockPickup",
    "BlockedUnlockPickup",
    "UnlockToUnlock",
    "KeyInBox",
    "KeyCorridor",
)


@dataclass(frozen=True)
class Skill:
    """One high-level skill: ``kind`` (go_to, pick_up, open, put_next_to, drop) and its object, if any."""

    kind: str
    color: str = ""
    obj_type: str = ""

    @property
    def name(self) -> str:
        """The skill in words, e.g. ``"pick up the red ball"``."""
        target = f"the {self.color} {self.obj_type}"
        return {
            "go_to": f"go to {target}",
            "pick_up": f"pick up {target}",
            "open": f"open {target}",
            "put_next_to": f"put the held object next to {target}",
            "drop": "drop the held object",
        }[self.kind]


def _skill_catalogue() -> tuple[Skill, ...]:
    templates = (
        ("go_to", ("ball", "box", "key", "door")),
        ("pick_up", ("ball", "box", "key")),
        ("open", ("door", "box")),
        ("put_next_to", ("ball", "box", "key", "door")),
    )
    skills = [Skill(kind, color, obj_type) for kind, types in templates for color in COLORS for obj_type in types]
    return (*skills, Skill("drop"))


SKILLS: tuple[Skill, ...] = _skill_catalogue()
SKILL_NAMES: tuple[str, ...] = tuple(skill.name for skill in SKILLS)
SKILL_INDEX: dict[str, int] = {name: index for index, name in enumerate(SKILL_NAMES)}
# The 79 skills in a few words for the prompt: listing every name would add about 600 tokens, each colour and
# object many times over, which a small model has to look past to find the instruction's objects.
SKILL_SUMMARY = (
    "go to, pick up, open or put the held object next to the <colour> <object>, or drop the held object "
    f"(colours: {', '.join(COLORS)}; objects: ball, box, key, door)"
)

DESCRIPTION = (
    "a planner commanding an agent in a 2-D grid world of rooms, doors, keys, balls and boxes through "
    "high-level skills (go to, pick up, open, put next to, drop) that a low-level controller executes"
)


def completed_parts(instr: Any) -> int:
    """How many parts of a composite BabyAI instruction are completed so far."""
    if not hasattr(instr, "instr_a"):
        return 0
    done = int(getattr(instr, "a_done", False) == "success") + int(getattr(instr, "b_done", False) == "success")
    return done + completed_parts(instr.instr_a) + completed_parts(instr.instr_b)


class SkillRunner:
    """Executes one skill on a minigrid env with primitive actions; returns how it went."""

    def __init__(self, minigrid: Any, budget: int = PRIMITIVE_BUDGET) -> None:
        self.minigrid = minigrid
        self.walker = Walker(minigrid, budget)

    def run(self, skill: Skill) -> WalkResult:
        """Run ``skill``; ``result.error`` says why it could not run (nothing raised)."""
        handler = getattr(self, f"_{skill.kind}")
        error = handler(skill)
        if error and not self.walker.result.error:
            self.walker.result.error = error
        return self.walker.result

    def _targets(self, skill: Skill) -> tuple[list[tuple[Any, Any]], str]:
        objects = find_objects(self.minigrid, skill.color, skill.obj_type)
        missing = "" if objects else f"there is no {skill.color} {skill.obj_type} here"
        if not objects and self._holding(skill):
            missing = f"you are holding the {skill.color} {skill.obj_type}"
        return objects, missing

    def _holding(self, skill: Skill) -> bool:
        held = self.minigrid.carrying
        return held is not None and held.color == skill.color and held.type == skill.obj_type

    def _go_to(self, skill: Skill) -> str:
        objects, missing = self._targets(skill)
        if missing:
            return missing
        self.walker.approach([pos for _, pos in objects], f"the {skill.color} {skill.obj_type}")
        return ""

    def _pick_up(self, skill: Skill) -> str:
        if self.minigrid.carrying is not None:
            return f"already holding {describe(self.minigrid.carrying)}; drop it first"
        objects, missing = self._targets(skill)
        if missing:
            return missing
        if self.walker.approach([pos for _, pos in objects], f"the {skill.color} {skill.obj_type}"):
            self.walker.act(PICKUP)
        return ""

    def _open(self, skill: Skill) -> str:
        objects, missing = self._targets(skill)
        if missing:
            return missing
        held = self.minigrid.carrying
        if skill.obj_type == "door":
            closed = [(door, pos) for door, pos in objects if not door.is_open]
            has_key = held is not None and held.type == "key" and held.color == skill.color
            if closed and all(door.is_locked for door, _ in closed) and not has_key:
                return f"the {skill.color} door is locked; pick up the {skill.color} key first"
            # An open door is closed and opened again, so that "open" always ends with the door just opened.
            objects = [(door, pos) for door, pos in closed if not door.is_locked or has_key] or objects
        if not self.walker.approach([pos for _, pos in objects], f"the {skill.color} {skill.obj_type}"):
            return ""
        front = self.minigrid.grid.get(*self.minigrid.front_pos)
        if front is not None and front.type == "door" and front.is_open:
            self.walker.act(TOGGLE)
        self.walker.act(TOGGLE)
        return ""

    def _put_next_to(self, skill: Skill) -> str:
        if self.minigrid.carrying is None:
            return "not holding anything; pick up an object first"
        objects, missing = self._targets(skill)
        if missing:
            return missing
        agent = as_pos(self.minigrid.agent_pos)
        free = [
            cell
            for _, pos in objects
            for cell in neighbours(pos)
            if cell != agent and inside(self.minigrid, cell) and self.minigrid.grid.get(*cell) is None
        ]
        if not free:
            return f"there is no free cell next to the {skill.color} {skill.obj_type}"
        if self.walker.approach(free, f"a free cell next to the {skill.color} {skill.obj_type}"):
            self.walker.act(DROP)
        return ""

    def _drop(self, skill: Skill) -> str:
        if self.minigrid.carrying is None:
            return "not holding anything"
        if self.walker.approach(self._drop_cells(), "a free cell to drop on"):
            self.walker.act(DROP)
        return ""

    def _drop_cells(self) -> list[Any]:
        """Free cells where a dropped object blocks no passage: away from doors, the reachable area stays connected.

        The agent's own cell is excluded; when no cell passes both tests, any reachable free cell will do.
        """
        grid = self.minigrid.grid
        agent = as_pos(self.minigrid.agent_pos)
        reachable = reachable_cells(self.minigrid)
        free = [cell for cell in reachable if cell != agent and grid.get(*cell) is None]

        def near_door(cell: Any) -> bool:
            return any(
                inside(self.minigrid, nb) and (obj := grid.get(*nb)) is not None and obj.type == "door"
                for nb in neighbours(cell)
            )

        harmless = [
            cell
            for cell in free[:DROP_CANDIDATES]
            if not near_door(cell) and len(reachable_cells(self.minigrid, blocked=cell)) == len(reachable) - 1
        ]
        return harmless or free


class BabyAISkillsEnv(BabyAIEnv):
    """One BabyAI level driven by high-level skills; ``minigrid`` is the underlying env (for experts)."""

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        gym_id: str,
        view: View = "full",
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        primitive_budget: int = PRIMITIVE_BUDGET,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(embodiment, gym_id, view, image_size, render_mode)
        self.primitive_budget = primitive_budget
        self._parts_done = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Generate a new level and mission (deterministic given ``seed``)."""
        observation, info = super().reset(seed=seed, options=options)
        self.minigrid.max_steps = 10**9  # the skill-step limit (ContractWrapper) ends episodes, not minigrid
        self._parts_done = 0
        return observation, {**info, "skill_error": "", "primitive_steps": 0}

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:  # type: ignore[override]
        """Execute the skill ``SKILLS[action]`` to its end (or until it fails or the mission ends)."""
        result = SkillRunner(self.minigrid, self.primitive_budget).run(SKILLS[int(action)])
        success = bool(result.terminated and result.reward > 0)
        parts = completed_parts(self.minigrid.instrs)
        reward = (1.0 if success else 0.0) + SUBGOAL_REWARD * max(0, parts - self._parts_done)
        self._parts_done = parts
        info = {"success": success, "skill_error": result.error, "primitive_steps": result.steps}
        return self._observe(), reward, result.terminated, result.truncated, info


def _register(level: str, gym_id: str) -> None:
    embodiment = EmbodimentSpec(
        id=f"babyai-skills:{level}",
        domain="planning",
        action=DiscreteActions(SKILL_NAMES, summary=SKILL_SUMMARY),
        description=DESCRIPTION,
        simulator="MiniGrid (BabyAI) with a scripted low-level controller",
        camera="top-down view of the whole grid (view='agent': the agent's 7x7 egocentric view)",
        max_episode_steps=MAX_SKILL_STEPS,
        extra="babyai",
        tags=("babyai-skills",),
    )

    @register(embodiment, requires=("minigrid",))
    def make_level(**kwargs: Any) -> BabyAISkillsEnv:
        return BabyAISkillsEnv(embodiment, gym_id, **kwargs)


_GYM_IDS = {name: gym_id for name, gym_id, _ in LEVELS}
for _level in SKILL_LEVELS:
    _register(_level, _GYM_IDS[_level])
