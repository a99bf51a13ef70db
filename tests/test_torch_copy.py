"""Gradients need PyTorch's weights: ``service.load_torch`` gives them whatever backend serves."""

from __future__ import annotations

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from electra_demo.page import rendering
from electra_demo.service import ModelService

FP32 = {"ELECTRA_DEMO_PRECISION": "fp32"}  # in bf16 the copy is always separate: test_precision.py


def test_onnx_service_loads_a_separate_torch_copy_once(tiny_env):
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "onnx", **FP32})
    served = service.load("sentiment")
    assert served.backend.startswith("ONNX") and not served.has_torch_weights
    assert served.weight_bytes == 0

    copy = service.load_torch("sentiment")
    assert copy is not served and copy.has_torch_weights
    assert service.load_torch("sentiment") is copy  # loaded once
    assert set(service.loaded_models()) == {"sentiment", "sentiment:torch"}

    reference = AutoModelForSequenceClassification.from_pretrained(tiny_env["ELECTRA_DEMO_SENTIMENT"])
    expected = sum(p.numel() * p.element_size() for p in reference.parameters())
    assert copy.weight_bytes == expected

    ids = copy.tokenizer("a fine film", return_tensors="pt")
    with torch.inference_mode():
        theirs = reference(**ids).logits[0].numpy()
        ours = copy.model(**ids).logits[0].numpy()
    onnx = served.batcher.run([(ids["input_ids"][0].tolist(), [0] * ids["input_ids"].shape[1])])[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(onnx["logits"], theirs, atol=1e-3)


def test_torch_service_reuses_the_served_model(tiny_env):
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch", **FP32})
    first = service.load_torch("emotion")  # not loaded yet: the served model itself, on PyTorch
    assert first is service.load("emotion") and first.has_torch_weights
    assert set(service.loaded_models()) == {"emotion"}


def test_status_panel_counts_the_copies():
    table = rendering.loaded_table(
        {"sentiment": ("ONNX Runtime CPU fp32", 0), "sentiment:torch": ("PyTorch cpu fp32", 3 * 2**20)}
    )
    assert "PyTorch copy for explanations" in table
    assert "3.0 MiB" in table and "freed" in table
    assert table.strip().endswith("PyTorch weights in memory: 3.0 MiB.")
    assert rendering.loaded_table({}) == ""
