"""Cancel requests per browser session, on both sides of the race with the run they stop.

A visitor's Cancel can arrive before the run it means has started (its request still waits in the
server's queue, or it is loading), while it runs, or after it has finished. :class:`Cancels` keeps,
per session, the flags of the runs that have started and the moment of the last cancel request:
a run that starts later but was *requested* before that moment (its queue entry time, ``since``)
begins cancelled, so nothing the visitor cancelled runs to the end, and a run requested after the
cancel is not touched. A run that has finished is not affected either: its result stands.

Nothing here imports the UI; the tabs pass the session (Gradio's ``session_hash``) and ``since``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

FORGET_AFTER_S = 3600.0  # a session's cancel request is forgotten an hour later (bounded memory)


class Cancels:
    """The cancel flags of the runs of each browser session, and each session's last cancel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, set[threading.Event]] = {}
        self._requested: dict[str, float] = {}  # session -> time.monotonic() of its last cancel

    @contextmanager
    def flag(self, session: str | None, since: float | None = None) -> Iterator[threading.Event]:
        """A run's cancel flag while it runs; already set when the session cancelled after
        ``since`` (the time.monotonic() when the run was requested; None: now)."""
        event = threading.Event()
        key = session or ""
        with self._lock:
            if key and self._requested.get(key, float("-inf")) >= (
                time.monotonic() if since is None else since
            ):
                event.set()
            self._flags.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                flags = self._flags.get(key, set())
                flags.discard(event)
                if not flags:
                    self._flags.pop(key, None)

    def requested_since(self, session: str | None, since: float) -> bool:
        """Whether ``session`` asked to cancel at or after ``since`` (time.monotonic())."""
        with self._lock:
            return bool(session) and self._requested.get(session or "", float("-inf")) >= since

    def cancel(self, session: str | None) -> int:
        """Set every flag of ``session`` (never another session's) and remember the request for
        runs of it still waiting; how many were running."""
        if not session:
            return 0
        now = time.monotonic()
        with self._lock:
            self._requested[session] = now
            for key in [k for k, t in self._requested.items() if now - t > FORGET_AFTER_S]:
                del self._requested[key]
            flags = list(self._flags.get(session, ()))
        for event in flags:
            event.set()
        return len(flags)
