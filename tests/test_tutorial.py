"""docs/tutorial.md runs: every ```python block, in order, in one namespace, in a scratch folder."""
import re
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


def test_every_code_block_of_the_tutorial_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.S)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)  # the tutorial's files land here
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{TUTORIAL.name} block {number}", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "tutorial_prior.png").exists()
