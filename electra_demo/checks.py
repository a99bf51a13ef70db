"""Checks on user input, shared by every layer: each returns the value or raises
:class:`InputError` with a message that names what was expected and what came.

A message never echoes the user's text back (:func:`describe` says what kind of value came).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class InputError(ValueError):
    """Bad user input; the message is shown to the user as is."""


def check_text(text: object, *, max_chars: int, what: str = "text") -> str:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"The {what} must be a string; got {type(text).__name__}.")
    if not text.strip():
        raise InputError(f"Please enter some {what}: it is empty.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"The {what} contains a character that is not valid Unicode (a lone surrogate) at "
            f"position {error.start}; please remove it."
        ) from None
    if len(text) > max_chars:
        raise InputError(f"The {what} is {len(text):,} characters long; the limit is {max_chars:,}.")
    return text


def check_probability(value: object, *, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"The {what} must be a number between 0 and 1; got {describe(value)}.") from None
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise InputError(f"The {what} must be between 0 and 1; got {number:g}.")
    return number


def check_seed(value: object) -> int:
    if isinstance(value, bool):
        raise InputError(f"The seed must be a whole number; got {describe(value)}.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise InputError(f"The seed must be a whole number; got {describe(value)}.")
    if not 0 <= value < 2**32:
        raise InputError(f"The seed must be between 0 and {2**32 - 1}; got {value}.")
    return value


def check_int(value: object, low: int, high: int, *, what: str) -> int:
    """A whole number in ``[low, high]`` (floats that are whole numbers are accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"The {what} must be a whole number from {low} to {high}; got {describe(value)}.")
    if not low <= value <= high:
        raise InputError(f"The {what} must be from {low} to {high}; got {value}.")
    return value


def whole_number(value: object) -> object:
    """A whole number sent as text ("3") is the number (for :func:`check_int`); else ``value``."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def check_float(value: object, low: float, high: float, *, what: str) -> float:
    """A number in ``[low, high]`` (a number sent as text too); NaN and true/false are refused."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not low <= number <= high:  # also refuses NaN
        raise InputError(f"The {what} must be a number from {low:g} to {high:g}; got {value!r:.40}.")
    return number


def check_choice(value: object, choices: Sequence[str], *, what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        got = (
            repr(value)
            if isinstance(value, str) and value.isidentifier() and len(value) < 40
            else describe(value)
        )
        raise InputError(f"Unknown {what} {got}; expected one of: {', '.join(choices)}.")
    return value


def describe(value: object) -> str:
    """Describe a bad value without echoing user text into a message."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    return f"a value of type {type(value).__name__}"
