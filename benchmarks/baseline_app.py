"""The naive baseline: transformers called per request the obvious way, behind Gradio defaults.

``python benchmarks/baseline_app.py --port P`` with ``ELECTRA_DEMO_DISCRIMINATOR``,
``ELECTRA_DEMO_SENTIMENT`` and ``ELECTRA_DEMO_QA`` pointing at local checkpoints. Same endpoint
names (and argument lists) as the demo, so one client drives both:

- ``/classify(head, text, text_pair)``: a ``pipeline("text-classification", top_k=None)`` built
  once at start, called per request (head and pair ignored: sentiment only).
- ``/detect(text, threshold)``: tokenizer, ``ElectraForPreTraining`` forward, sigmoid.
- ``/answer(question, context, top_k, ...)``: tokenizer(question, context,
  truncation="only_second", max_length=384), ``ElectraForQuestionAnswering`` forward, argmax of
  start and end logits (transformers 5 has no question-answering pipeline).

The queue is Gradio's default (one request at a time per event). Models load at start, in
float32 on the CPU, PyTorch's default attention; nothing is batched, exported or cached.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import torch
from transformers import (
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    pipeline,
)

DISCRIMINATOR = os.environ["ELECTRA_DEMO_DISCRIMINATOR"]
SENTIMENT = os.environ["ELECTRA_DEMO_SENTIMENT"]
QA = os.environ["ELECTRA_DEMO_QA"]

classifier = pipeline("text-classification", model=SENTIMENT, top_k=None)
d_tokenizer = AutoTokenizer.from_pretrained(DISCRIMINATOR)
d_model = AutoModelForPreTraining.from_pretrained(DISCRIMINATOR).eval()
q_tokenizer = AutoTokenizer.from_pretrained(QA)
q_model = AutoModelForQuestionAnswering.from_pretrained(QA).eval()


def detect(text: str, threshold: float = 0.5):
    inputs = d_tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = d_model(**inputs).logits[0]
    probs = torch.sigmoid(logits).tolist()
    tokens = d_tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    return {
        "tokens": [
            {"text": t, "probability": p, "replaced": p > threshold}
            for t, p in zip(tokens, probs, strict=True)
        ]
    }


def classify(head: str, text: str, text_pair: str = ""):
    return {"labels": classifier(text)}


def answer(
    question,
    context,
    top_k=3,
    max_answer_len=15,
    handle_impossible_answer=True,
    max_seq_len=384,
    doc_stride=128,
):
    inputs = q_tokenizer(question, context, truncation="only_second", max_length=384, return_tensors="pt")
    with torch.no_grad():
        output = q_model(**inputs)
    start = int(output.start_logits[0].argmax())
    end = int(output.end_logits[0].argmax())
    text = q_tokenizer.decode(inputs["input_ids"][0][start : end + 1]) if end >= start else ""
    return {"answers": [{"text": text, "start_token": start, "end_token": end}]}


with gr.Blocks(title="naive baseline") as demo:
    with gr.Tab("detect"):
        d_text = gr.Textbox(label="Text")
        d_threshold = gr.Slider(0, 1, value=0.5, label="Threshold")
        d_out = gr.JSON()
        gr.Button("Detect").click(detect, [d_text, d_threshold], d_out, api_name="detect")
    with gr.Tab("classify"):
        k_head = gr.Dropdown(choices=["sentiment"], value="sentiment", label="Head")
        k_text = gr.Textbox(label="Text")
        k_pair = gr.Textbox(label="Pair", value="")
        k_out = gr.JSON()
        gr.Button("Classify").click(classify, [k_head, k_text, k_pair], k_out, api_name="classify")
    with gr.Tab("answer"):
        q_inputs = [
            gr.Textbox(label="Question"),
            gr.Textbox(label="Context"),
            gr.Slider(1, 20, value=3, step=1, label="top_k"),
            gr.Slider(1, 100, value=15, step=1, label="max_answer_len"),
            gr.Checkbox(value=True, label="handle_impossible_answer"),
            gr.Slider(64, 512, value=384, step=1, label="max_seq_len"),
            gr.Slider(0, 256, value=128, step=1, label="doc_stride"),
        ]
        q_out = gr.JSON()
        gr.Button("Answer").click(answer, q_inputs, q_out, api_name="answer")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="naive baseline app")
    parser.add_argument("--port", type=int, default=7861)
    args = parser.parse_args()
    demo.queue().launch(server_name="127.0.0.1", server_port=args.port)
