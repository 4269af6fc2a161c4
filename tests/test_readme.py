"""Every Python snippet of README.md runs as written, exits cleanly (no traceback, no noise at exit, nothing
leaked), and prints exactly what its ``print(...)  # expected`` comments say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
PRINT_COMMENT = re.compile(r"^\s*print\(.*\)\s+# (.*)$")
NOISE = ("Traceback", "Exception ignored", "leaked", "Error")


def _title(snippet: str) -> str:
    return next(line for line in snippet.splitlines() if line and not line.startswith(("import", "from")))[:40]


def test_the_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 4


@pytest.mark.timeout(600)
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[_title(snippet) for snippet in SNIPPETS])
def test_snippet_runs_cleanly_and_prints_what_its_comments_say(snippet: str, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540
    )
    assert done.returncode == 0, done.stderr
    assert not any(word in done.stderr for word in NOISE), done.stderr
    expected = [match.group(1) for line in snippet.splitlines() if (match := PRINT_COMMENT.match(line))]
    assert done.stdout.splitlines() == expected
