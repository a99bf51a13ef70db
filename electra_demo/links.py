"""Shareable links: a tab's inputs in the page URL, and back. Pure functions, no gradio.

``?tab=detect&text=...&threshold=0.6`` opens the "Replaced tokens" tab, fills its inputs and
runs it. Unknown or malformed parameters are dropped with a notice, never an error page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from . import config
from .processing import InputError

MAX_LINK_CHARS = 4_000  # longer query strings are refused: proxies and chat apps cut them


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value)
        if not math.isfinite(number) or not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return number

    return parse


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return number

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value

    return parse


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _text(value: str) -> str:
    return value


@dataclass(frozen=True)
class TabLink:
    """A tab's URL name and its inputs, in the order of its endpoint's arguments."""

    tab: str
    params: tuple[tuple[str, Callable[[str], Any]], ...]
    required: tuple[str, ...]  # the inputs without which the tab is not run


TABS: dict[str, TabLink] = {
    link.tab: link
    for link in (
        TabLink("detect", (("text", _text), ("threshold", _number(0, 1))), ("text",)),
        TabLink(
            "corrupt",
            (("text", _text), ("fraction", _number(0, 1)), ("seed", _whole(0, 2**32 - 1))),
            ("text",),
        ),
        TabLink(
            "classify",
            (("head", _choice(config.CLASSIFY_HEADS)), ("text", _text), ("text_pair", _text)),
            ("text",),
        ),
        TabLink("tag", (("text", _text), ("aggregation", _choice(config.AGGREGATIONS))), ("text",)),
        TabLink(
            "qa",
            (
                ("question", _text),
                ("context", _text),
                ("top_k", _whole(1, config.QA_MAX_TOP_K)),
                ("max_answer_len", _whole(1, 100)),
                ("handle_impossible_answer", _flag),
                ("max_seq_len", _whole(64, config.MODEL_MAX_TOKENS)),
                ("doc_stride", _whole(0, 256)),
            ),
            ("question", "context"),
        ),
    )
}


@dataclass
class ParsedLink:
    tab: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        if self.tab is None:
            return False
        return all(str(self.values.get(name, "")).strip() for name in TABS[self.tab].required)


def parse_link(params: Mapping[str, str]) -> ParsedLink:
    """Read a page URL's query parameters; keep what is valid, say what was dropped."""
    parsed = ParsedLink()
    params = {k: v for k, v in params.items() if not k.startswith("__")}  # Gradio's own
    if not params:
        return parsed
    tab = params.get("tab")
    if tab is None:
        parsed.notices.append("The link names no tab (?tab=...); its parameters were ignored.")
        return parsed
    if tab not in TABS:
        parsed.notices.append(f"The link's tab is unknown; expected one of: {', '.join(TABS)}.")
        return parsed
    parsed.tab = tab
    known = dict(TABS[tab].params)
    for name, raw in params.items():
        if name == "tab":
            continue
        if name not in known:
            parsed.notices.append(f"Ignored the unknown parameter '{name[:40]}'.")
            continue
        if len(raw) > config.MAX_CONTEXT_CHARS:
            parsed.notices.append(
                f"Ignored '{name}': it is longer than {config.MAX_CONTEXT_CHARS:,} characters."
            )
            continue
        try:
            parsed.values[name] = known[name](raw)
        except ValueError as error:
            reason = str(error) if "must" in str(error) else "it is not a valid value"
            parsed.notices.append(f"Ignored '{name}': {reason}.")
    return parsed


def make_link(tab: str, values: Mapping[str, Any]) -> str:
    """The query string (``?tab=...``) that reopens ``tab`` with ``values``; refuses links that
    are too long rather than cutting them."""
    if tab not in TABS:
        raise InputError(f"Unknown tab {tab!r}; expected one of: {', '.join(TABS)}.")
    pairs: list[tuple[str, str]] = [("tab", tab)]
    for name, _ in TABS[tab].params:
        value = values.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer() and name not in ("threshold", "fraction"):
            value = int(value)
        pairs.append((name, str(value)))
    query = "?" + urlencode(pairs)
    if len(query) > MAX_LINK_CHARS:
        raise InputError(
            f"These inputs are too long for a link ({len(query):,} characters once encoded; a link "
            f"holds up to {MAX_LINK_CHARS:,}). Shorten the text, or call the API instead."
        )
    return query
