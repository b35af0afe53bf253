"""The README's OpenAI example runs as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_in_process_example_runs() -> None:
    section = README.read_text().split("## OpenAI's Files + Batch API", 1)[1].split("### Over HTTP", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert sorted(printed) == [f"Simulated reply to doc-{i}: Summarize {i}" for i in range(3)]
