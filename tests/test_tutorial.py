"""docs/tutorial.md runs: every ```python block, in order, in one namespace, in a scratch folder.

The blocks carry markdown-exec's attributes (```python exec="on" …) so that the docs site runs them too and shows
their output; here they run without it, so a failure names its block."""
import contextlib
import io
import re
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
BLOCK = re.compile(r"```python( [^\n]*)?\n(.*?)```", re.S)


def test_every_code_block_of_the_tutorial_runs_and_is_shown_with_its_output(tmp_path, monkeypatch):
    blocks = BLOCK.findall(TUTORIAL.read_text())
    assert len(blocks) >= 8
    assert all('exec="on"' in attributes and 'session="tutorial"' in attributes for attributes, _ in blocks), \
        "every block of the tutorial runs in the docs site's one session"
    monkeypatch.chdir(tmp_path)  # anything the tutorial writes lands here
    namespace: dict = {}
    printed = []
    for number, (attributes, block) in enumerate(blocks, 1):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(block, f"{TUTORIAL.name} block {number}", "exec"), namespace)  # noqa: S102
        printed.append(output.getvalue())
    assert printed[3].lstrip().startswith("<svg") and 'html="on"' in blocks[3][0]  # the prior's figure, inline
    assert "mass on the grid" in printed[2]
