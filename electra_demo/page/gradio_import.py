"""``import gradio`` without its type-stub regeneration (``app.py`` calls
:func:`skip_stub_regeneration` before it imports gradio).

Every class that Gradio builds with its component metaclass (the ~60 components and layouts that
``import gradio`` defines, and every ``Blocks`` subclass) calls
``gradio.component_meta.create_or_modify_pyi``: it reads the class's source file, parses it, renders
a Jinja template of its events and compares the result with the ``.pyi`` file beside it, rewriting
it when they differ. Those are type stubs for editors; the installed wheel ships them already up to
date, and nothing at run time reads them. On the benchmark machine it is 0.75 s of ``import
gradio``'s 1.95 s, paid by every start of the server (``benchmarks/bench_start.py``: process start
to the first answer). Gradio has no setting for it, so this finder stands in a function that keeps
the stubs as they are, as the module is first executed; everything else in Gradio is untouched.

Written by hand because no library offers it. ``tests/test_gradio_import.py`` checks that the
pinned Gradio still calls the function (so an upgrade that changes it fails loudly there), that
the page builds and serves with it skipped, and that it is a no-op once gradio is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

MODULE = "gradio.component_meta"
FUNCTION = "create_or_modify_pyi"


def keep_stubs(*args: Any, **kwargs: Any) -> None:
    """Stands in for ``create_or_modify_pyi``: the installed ``.pyi`` stubs are left as they are."""


class StubSkippingLoader(importlib.abc.Loader):
    """The module's own loader, which then replaces :data:`FUNCTION` in it with :func:`keep_stubs`."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        if callable(getattr(module, FUNCTION, None)):
            setattr(module, FUNCTION, keep_stubs)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... as the inner loader's
        return getattr(self.inner, name)


class StubSkippingFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`MODULE` once, the usual way, and hands it to :class:`StubSkippingLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # one module, once
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = StubSkippingLoader(spec.loader)
        return spec


def skip_stub_regeneration() -> bool:
    """Install the finder, before gradio is imported; ``False`` (and nothing done) when
    ``gradio.component_meta`` is already imported, or the finder is already installed."""
    if MODULE in sys.modules or any(isinstance(f, StubSkippingFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, StubSkippingFinder())
    return True
