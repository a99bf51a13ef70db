"""The naive rerank server: transformers called per request the obvious way, behind FastAPI.

``python benchmarks/baseline_rerank.py --port P`` with ``ELECTRA_DEMO_RERANK`` pointing at a local
cross-encoder checkpoint. ``POST /rerank`` takes Infinity's body (``{"query", "documents",
"top_n"}``): the tokenizer on every (query, document) pair of the request at once (padding,
``truncation="only_second"``, 512 tokens), one ``AutoModelForSequenceClassification`` forward,
sigmoid of the one logit, sorted. A plain ``def`` handler: FastAPI runs each request in its thread
pool, so concurrent requests run concurrent forwards; nothing is batched across requests, exported
or cached. PyTorch fp32 on the CPU, its default attention. ``GET /`` and ``/health`` answer 200.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

RERANK = os.environ["ELECTRA_DEMO_RERANK"]
tokenizer = AutoTokenizer.from_pretrained(RERANK)
model = AutoModelForSequenceClassification.from_pretrained(RERANK).eval()
app = FastAPI()


class Body(BaseModel):
    query: str
    documents: list[str]
    top_n: int | None = None
    model: str | None = None


@app.get("/")
@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/rerank")
def rerank(body: Body) -> dict:
    inputs = tokenizer(
        [body.query] * len(body.documents),
        body.documents,
        padding=True,
        truncation="only_second",
        max_length=512,
        return_tensors="pt",
    )
    with torch.no_grad():
        scores = torch.sigmoid(model(**inputs).logits[:, 0]).tolist()
    ranked = sorted(enumerate(scores), key=lambda x: -x[1])[: body.top_n or None]
    return {"results": [{"index": i, "relevance_score": s} for i, s in ranked]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
