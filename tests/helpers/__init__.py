"""What the test modules share, one home per concept (a test module never imports another):

- ``serving``: the app launched in-process (``launch``, ``serve``, app.py's server).
- ``browser``: headless Chromium with Playwright: waits, the error toast, opening tabs.
- ``data``: generated files and corpora (cue words, tagging, QA, Adapt texts, batch tables).
- ``training``: fine-tuning and Adapt runs: endpoint arguments, settings, waiting, the stand-in child.
- ``compare``: ``assert_close``, JSON equal up to an explicit tolerance.
- ``fuzzing``: schemathesis fuzzing of one documented operation.
- ``explain``: lively checkpoints and independent references for the explanations.
- ``docs``: the code blocks of README.md and docs/*.md, and which test runs each.
- ``zeroshot``: checkpoints with spread-out zero-shot scores, and the references they meet.

Fixtures live in ``tests/conftest.py`` and are used by name.
"""

import pkgutil

import pytest

# their asserts explain a failure as a test's do (each module, before anything imports it)
pytest.register_assert_rewrite(*(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)))
