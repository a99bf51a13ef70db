"""``GET /health``'s answer (declared here, beside :mod:`electra_demo.api.schemas`, which holds the
``/v1`` routes'): each slot's state, and the start-up warm-up's, so a load balancer can wait for
``warmup.ready``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class WarmupSlot(BaseModel):
    loaded: bool = Field(description="Whether the slot's model is loaded.")
    exported: bool = Field(
        description="Whether it is served from its export (ONNX Runtime); false while PyTorch serves "
        "it during the background export, or where PyTorch is the backend."
    )
    precision: str | None = Field(description="The precision it serves in; null until it is loaded.")


class Warmup(BaseModel):
    ready: bool = Field(
        description="True once the start-up warm-up has loaded its slots (ELECTRA_DEMO_PRELOAD; "
        "true at once when there is none); a load balancer can wait for it. Exports may still run."
    )
    slots: dict[str, WarmupSlot] = Field(description="Each registry slot's warm-up state.")


class Health(BaseModel):
    status: Literal["ok"] = Field(description='Always "ok" while the process serves requests.')
    models: dict[str, str] = Field(
        description="Each slot's state: not loaded, loading, loaded, or failed: <reason>. Models "
        "load on first use, so a fresh server reports every slot not loaded."
    )
    loaded: list[str] = Field(description="The slots loaded now.")
    encoders: list[str] = Field(description="The slots whose encoder alone is loaded (for /v1/embeddings).")
    warmup: Warmup = Field(description="The start-up warm-up: whether it is done, and each slot's state.")
    precision: str = Field(description="The precision models serve at: fp32, bf16, int8 (fp16 on CUDA).")
