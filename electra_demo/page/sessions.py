"""Gradio's per-session store, without building the whole page's config for every API call.

Gradio keeps a ``SessionState`` per session hash, and every call over plain HTTP
(``/gradio_api/call/<name>``) or MCP comes with a new one. ``SessionState.__init__`` computes the
config of every block on the page (``BlocksConfig.config_for_block``: props, API info, an
``inspect.signature`` per component), which it keeps only to answer Gradio's deep-link route. On
this page (318 blocks, gradio 6.31) that cost 15 ms per call, more than half of a one-request
``/detect``'s time outside the model (bf16: 51 ms over plain HTTP before, 33 ms after), and
kept 533 KB per session (traced by ``tracemalloc``; 14 KB now), for up to Gradio's 10,000
sessions: about 5 GB on a server answering plain HTTP.

:class:`LeanSessionState` builds those configs only when something reads them (``components``,
the deep-link route), from the session's blocks at that moment, in the page's order: what the
eager dict would hold by then, since Gradio updates it on every component update. Everything else
is Gradio's own class. Gradio makes its ``SessionState`` inside ``StateHolder.__getitem__`` and
offers no setting for it, so :func:`lean_holder` gives the holder Gradio created (when it is
attached to the page, see :class:`electra_demo.page.demo.Page`) this module's subclass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gradio.state_holder import SessionState, StateHolder


class _NoRenderedBlocks:
    """What ``SessionState.__init__`` reads of a Blocks, with no blocks to configure up front."""

    def __init__(self, blocks: Any) -> None:
        self.default_config = blocks.default_config
        self.blocks: dict[int, Any] = {}


class LeanSessionState(SessionState):
    """Gradio's session state whose block configs are computed on first read, not at creation."""

    def __init__(self, blocks: Any) -> None:
        super().__init__(_NoRenderedBlocks(blocks))
        self.page_blocks = blocks.blocks
        self.configs_complete = False

    def fill_configs(self) -> None:
        """Every page block's config, in the page's order; those set by updates are kept."""
        if self.configs_complete:
            return
        ordered: dict[int, Any] = {}
        for key, block in self.blocks_config.blocks.items():
            if key in self.page_blocks:
                known = self.config_values.get(key)
                ordered[key] = (
                    known if known is not None else self.blocks_config.config_for_block(key, [], block)
                )
        for key, config in self.config_values.items():
            ordered.setdefault(key, config)
        self.config_values = ordered
        self.configs_complete = True

    @property
    def components(self) -> Iterator[dict]:
        self.fill_configs()
        yield from SessionState.components.fget(self)  # type: ignore[attr-defined]


class LeanStateHolder(StateHolder):
    """Gradio's state holder, making :class:`LeanSessionState` for new sessions."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LeanSessionState(self.blocks)
        return super().__getitem__(session_id)


def lean_holder(holder: StateHolder) -> StateHolder:
    """``holder`` (Gradio's, already shared by its app and page) as a :class:`LeanStateHolder`."""
    if type(holder) is StateHolder:
        holder.__class__ = LeanStateHolder
    return holder
