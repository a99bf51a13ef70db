"""Shareable links: a tab's inputs in the page URL, and back. Pure functions, no gradio.

``?tab=detect&text=...&threshold=0.6`` opens the "Replaced tokens" tab, fills its inputs and
runs it. Unknown or malformed parameters are dropped with a notice, never an error page. Each
tab declares its own :class:`TabLink` (``electra_demo/page/tabs/``); the page passes them all to
:func:`parse_link`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from electra_demo import config
from electra_demo.checks import InputError

MAX_LINK_CHARS = 4_000  # longer query strings are refused: proxies and chat apps cut them

Parser = Callable[[str], Any]


def number(low: float, high: float) -> Parser:
    """A number from ``low`` to ``high``."""

    def parse(value: str) -> float:
        parsed = float(value)
        if not math.isfinite(parsed) or not low <= parsed <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return parsed

    return parse


class Whole:
    """A whole number from ``low`` to ``high``; a link writes it without a decimal point."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def __call__(self, value: str) -> int:
        number = int(value)
        if not self.low <= number <= self.high:
            raise ValueError(f"must be a whole number from {self.low} to {self.high}")
        return number


def choice(choices: tuple[str, ...]) -> Parser:
    """One of ``choices``."""

    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value

    return parse


def flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def text(value: str) -> str:
    return value


@dataclass(frozen=True)
class TabLink:
    """A tab's URL name and its inputs, in the order of its endpoint's arguments."""

    tab: str
    params: tuple[tuple[str, Parser], ...]
    required: tuple[str, ...]  # the inputs without which the tab is not run
    # inputs that ride in a link only beside one of another input's values: (name, other, values);
    # e.g. the Classify tab's zero-shot labels, only with the head "zero-shot"
    only_with: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.params]


@dataclass
class ParsedLink:
    link: TabLink | None = None  # the tab the link opens; None: it opens none
    values: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def tab(self) -> str | None:
        return self.link.tab if self.link else None

    @property
    def runnable(self) -> bool:
        if self.link is None:
            return False
        return all(str(self.values.get(name, "")).strip() for name in self.link.required)


def parse_link(params: Mapping[str, str], tabs: Mapping[str, TabLink]) -> ParsedLink:
    """Read a page URL's query parameters for one of ``tabs``; keep what is valid, say what was
    dropped."""
    parsed = ParsedLink()
    params = {k: v for k, v in params.items() if not k.startswith("__")}  # Gradio's own
    if not params:
        return parsed
    tab = params.get("tab")
    if tab is None:
        parsed.notices.append("The link names no tab (?tab=...); its parameters were ignored.")
        return parsed
    if tab not in tabs:
        parsed.notices.append(f"The link's tab is unknown; expected one of: {', '.join(tabs)}.")
        return parsed
    parsed.link = tabs[tab]
    known = dict(parsed.link.params)
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


def make_link(link: TabLink, values: Mapping[str, Any]) -> str:
    """The query string (``?tab=...``) that reopens ``link``'s tab with ``values``; refuses links
    that are too long rather than cutting them."""
    pairs: list[tuple[str, str]] = [("tab", link.tab)]
    apart = {name for name, other, allowed in link.only_with if values.get(other) not in allowed}
    for name, parser in link.params:
        value = values.get(name)
        if value is None or value == "" or name in apart:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer() and isinstance(parser, Whole):
            value = int(value)
        try:
            parser(str(value))
        except ValueError:
            # what the link could not reopen stays out of it: a model trained or adapted in this
            # session (its id is its owner's key, never shared in a link), a value off the range
            continue
        pairs.append((name, str(value)))
    query = "?" + urlencode(pairs)
    if len(query) > MAX_LINK_CHARS:
        raise InputError(
            f"These inputs are too long for a link ({len(query):,} characters once encoded; a link "
            f"holds up to {MAX_LINK_CHARS:,}). Shorten the text, or call the API instead."
        )
    return query
