"""config.env_number: the one reader of numeric settings, and its one message shape."""

from __future__ import annotations

import math

import pytest

from electra_demo.api.security import SettingsError
from electra_demo.config import SettingError, env_number

NAME = "ELECTRA_DEMO_X"


@pytest.mark.parametrize(
    ("raw", "options", "expected"),
    [
        ("", {"whole": True}, 7),  # unset or blank: the default
        ("  ", {"low": 1}, 7),
        (" 12 ", {"whole": True, "low": 1}, 12),
        ("3.0", {"whole": True, "above": 0}, 3),  # a whole number may be written as a float
        ("1e3", {"whole": True}, 1000),
        ("-4", {"whole": True}, -4),  # no bound unless one is given
        ("2.5", {"low": 1}, 2.5),
        ("inf", {"low": 1}, math.inf),  # a limit that never ends
        ("0.001", {"above": 0}, 0.001),
        ("0", {"whole": True, "low": 0}, 0),
    ],
)
def test_accepted(raw: str, options: dict, expected: float):
    value = env_number({NAME: raw}, NAME, 7, **options)
    assert value == expected
    assert isinstance(value, int) == (options.get("whole", False) or not raw.strip())


@pytest.mark.parametrize(
    ("raw", "options", "message"),
    [
        ("0", {"whole": True, "low": 1}, "ELECTRA_DEMO_X must be a whole number, at least 1; got '0'."),
        ("2.5", {"whole": True, "low": 1}, "ELECTRA_DEMO_X must be a whole number, at least 1; got '2.5'."),
        ("many", {"whole": True}, "ELECTRA_DEMO_X must be a whole number; got 'many'."),
        ("inf", {"whole": True, "above": 0}, "ELECTRA_DEMO_X must be a whole number above 0; got 'inf'."),
        ("0", {"above": 0}, "ELECTRA_DEMO_X must be a number above 0; got '0'."),
        ("nan", {"low": 1}, "ELECTRA_DEMO_X must be a number, at least 1; got 'nan'."),
        ("0.5", {"low": 1}, "ELECTRA_DEMO_X must be a number, at least 1; got '0.5'."),
        ("x" * 100, {"whole": True}, f"ELECTRA_DEMO_X must be a whole number; got '{'x' * 40}'."),
    ],
)
def test_refused_with_one_message_shape(raw: str, options: dict, message: str):
    with pytest.raises(SettingError) as caught:
        env_number({NAME: raw}, NAME, 7, **options)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, SettingsError)
