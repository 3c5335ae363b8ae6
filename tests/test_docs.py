"""The README and the guide point at files that exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_relative_link_and_image_of_the_docs_exists():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", page.read_text()):
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_docs_site_builds_strictly(tmp_path):
    """mkdocs build --strict (mkdocs.yml): a broken link, a missing page, a page left out of the nav or a tutorial
    block that fails (markdown-exec runs them) fails."""
    import os
    import subprocess
    import sys

    import pytest

    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("markdown_exec")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not included in the \"nav\"" not in result.stderr, result.stderr[-3000:]
    assert (tmp_path / "site" / "guide" / "faults" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "library" / "index.html").read_text()
    assert "fit_and_evaluate" in api and "Train the run" in api  # the reference is generated from the docstrings
    tutorial = (tmp_path / "site" / "tutorial" / "index.html").read_text()
    assert "mass on the grid:" in tutorial and "<svg" in tutorial  # the tutorial's blocks ran, their outputs shown
    assert "R² of the horizontal position from the code:" in tutorial
