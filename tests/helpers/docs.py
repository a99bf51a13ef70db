"""The documentation's code blocks (``README.md`` and ``docs/*.md``), for the tests that run them.

A block's language says who runs it: ``python`` blocks call the page's endpoints through
gradio_client and ``bash`` blocks that call ``/gradio_api/`` use plain HTTP (``test_readme.py``);
``py`` blocks and ``bash`` blocks that call ``/v1/`` or ``/health`` use the JSON API with a key
(``test_readme_v1.py``). Other blocks (``make run``, commands) are shown, not run.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
FILES: tuple[Path, ...] = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
ADDRESS = "http://127.0.0.1:7860"  # where every snippet calls the app; the tests swap it
LANGUAGES = frozenset({"python", "py", "bash", "json", "text", "yaml"})
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", flags=re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a documentation file."""

    path: Path
    index: int  # its place among the file's blocks, from 0
    language: str
    code: str

    @property
    def id(self) -> str:
        """``docs/v1.md:2``: the file and the block, for test ids and messages."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.index}"


def text(name: str) -> str:
    """A documentation file's text, by its path from the repository root (``docs/v1.md``)."""
    return (ROOT / name).read_text()


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of one file, in order."""
    found = FENCE.finditer(path.read_text())
    return [Block(path, i, match.group(1), match.group(2)) for i, match in enumerate(found)]


def all_blocks() -> list[Block]:
    return [block for path in FILES for block in blocks(path)]


def calls(block: Block, *paths: str) -> bool:
    """Whether a block calls the app at one of ``paths`` (``/v1/``, ``/health``)."""
    return any(f"{ADDRESS}{path}" in block.code for path in paths)


def gradio_blocks() -> list[Block]:
    """The blocks ``test_readme.py`` runs against the page: gradio_client and plain HTTP."""
    return [
        b
        for b in all_blocks()
        if b.language == "python" or (b.language == "bash" and calls(b, "/gradio_api/"))
    ]


def v1_blocks() -> list[Block]:
    """The blocks ``test_readme_v1.py`` runs against the JSON API, with a key."""
    return [
        b
        for b in all_blocks()
        if b.language == "py"
        or (b.language == "bash" and calls(b, "/v1/", "/health") and not calls(b, "/gradio_api/"))
    ]


def run_python(block: Block, code: str) -> str:
    """Run a Python block's (localised) ``code``; what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, block.id, "exec"), {})  # our own documentation, on purpose
    return printed.getvalue()
