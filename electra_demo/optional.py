"""Optional dependencies, imported on the path that needs them and named in words when missing.

The app starts without Ray (``requirements-scale.txt``); Captum (integrated gradients) and
accelerate (the Fine-tune tab's Trainer) are in ``requirements.txt`` but only those features need
them. Where one is missing, the feature says which package it needs and which requirements file
installs it (a page message, a clean API error, or one line on stderr for the command-line tools)
instead of a ``ModuleNotFoundError`` traceback.

Heavy modules that are always installed (torch, transformers) are imported late instead
(:func:`lazy_module`): they take seconds to import, and the page should be up before any model is
needed.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Package:
    name: str  # what pip installs
    requirements: str  # the project's requirements file that pins it


# top-level module -> the package that provides it
PACKAGES: dict[str, Package] = {
    "ray": Package("ray[serve,data]", "requirements-scale.txt"),
    "pyarrow": Package("pyarrow", "requirements-scale.txt"),
    "captum": Package("captum", "requirements.txt"),
    "accelerate": Package("accelerate", "requirements.txt"),
}


class MissingDependency(ImportError):
    """A package a feature needs is not installed; the message says which and how to install it."""


def message(module: str, feature: str, detail: str = "") -> str:
    """What to tell someone whose ``feature`` needs ``module``'s package."""
    package = PACKAGES.get(module.partition(".")[0], Package(module.partition(".")[0], "requirements.txt"))
    text = (
        f"{feature} needs {package.name}, which is not installed here. Install it with "
        f"`pip install -r {package.requirements}` (in the project's folder)"
    )
    return text + (f" ({detail})." if detail else ".")


def require(module: str, feature: str) -> ModuleType:
    """``import module``, or :class:`MissingDependency` naming the missing package (the module's
    own, or one it needs that the project pins) and its requirements file. An import that fails
    for another reason (a broken install) says that too."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = (getattr(error, "name", None) or "").partition(".")[0]
        if missing == module.partition(".")[0] or missing in PACKAGES:
            raise MissingDependency(message(missing, feature)) from None
        raise MissingDependency(message(module, feature, f"importing {module} failed: {error}")) from None


def check(module: str, feature: str) -> None:
    """:class:`MissingDependency` when ``module`` cannot be found, without importing it: for a
    package that a child process imports (the Trainer's accelerate), checked before the child
    starts so that the visitor hears at once, in words, what is missing."""
    try:
        found = importlib.util.find_spec(module) is not None  # None too where sys.modules has None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependency(message(module, feature))


class LazyModule:
    """A module imported on first attribute access."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


def lazy_module(name: str) -> Any:
    return LazyModule(name)
