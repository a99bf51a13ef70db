"""The Gradio page: the Blocks layout (:mod:`.demo`), HTML rendering, shareable links, Cancel,
and one module per tab (:mod:`.tabs`)."""
