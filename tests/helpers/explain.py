"""For the explain tests: "lively" checkpoints and independent reference computations.

The tiny checkpoints' weights are drawn with std 0.02, so their logits barely move and every
attribution is ~1e-6: a comparison to 1e-5 would then hold for any answer. The lively copies
redraw every weight but LayerNorm's with std 0.3 (same configs, same tokenizer), so logits and
attributions are of order one and the comparisons below mean something.

The references never go through the app's code: they load the checkpoint with transformers,
tokenize with its tokenizer, and differentiate with plain autograd (a hook on the word-embedding
output) or with Captum's ``LayerIntegratedGradients`` on ``electra.embeddings.word_embeddings``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from electra_demo import config

SLOTS = {"sentiment": "sentiment", "emotion": "emotion", "nli": "nli", "detect": "discriminator", "qa": "qa"}
AUTO = {
    "pretraining": AutoModelForPreTraining,
    "sequence-classification": AutoModelForSequenceClassification,
    "question-answering": AutoModelForQuestionAnswering,
}
CURIE = "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 and worked there."
TEXTS = {  # task -> (text, text_pair)
    "sentiment": ("A wonderful, moving film.", ""),
    "emotion": ("I can't believe they threw me a surprise party!", ""),
    "nli": ("A man is cooking dinner in the kitchen.", "Someone makes food."),
    "detect": ("The chef cooked the meal in the kitchen.", ""),
    "qa": ("Where was Marie Curie born?", CURIE),
}


def write_lively(tiny_env: dict[str, str], directory: Path) -> dict[str, str]:
    """Lively copies of the explained slots; returns tiny_env with them in place."""
    env = dict(tiny_env)
    generator = torch.Generator().manual_seed(1)
    for slot_name in dict.fromkeys(SLOTS.values()):
        slot = config.REGISTRY[slot_name]
        source = Path(tiny_env[slot.env_var])
        model = AUTO[slot.architecture].from_pretrained(source)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "LayerNorm" not in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        target = directory / slot_name
        model.save_pretrained(target, safe_serialization=True)
        for file in source.iterdir():
            if file.name.startswith(("tokenizer", "vocab", "special")):
                shutil.copy(file, target / file.name)
        env[slot.env_var] = str(target)
    return env


def reference_model(env: dict[str, str], task: str) -> tuple[Any, Any]:
    slot = config.REGISTRY[SLOTS[task]]
    directory = env[slot.env_var]
    return AutoTokenizer.from_pretrained(directory), AUTO[slot.architecture].from_pretrained(directory).eval()


def encode(tokenizer: Any, text: str, pair: str) -> dict[str, Any]:
    """The window as the tokenizer makes it (short inputs: one window)."""
    encoded = tokenizer(
        text,
        pair or None,
        truncation=True,
        max_length=512,
        return_offsets_mapping=True,
        split_special_tokens=True,
        return_tensors="pt",
    )
    return {
        "input_ids": encoded["input_ids"],
        "token_type_ids": encoded["token_type_ids"],
        "attention_mask": encoded["attention_mask"],
        "offsets": encoded["offset_mapping"][0].tolist(),
        "sequence_ids": encoded.sequence_ids(0),
    }


def selector(model: Any, task: str, inputs: dict[str, Any], target: dict[str, Any]):
    """f per row from the explainer's JSON target, found by its own means (label id from the
    config, token positions from the offsets)."""
    offsets, sequence_ids = inputs["offsets"], inputs["sequence_ids"]
    if "label" in target:
        index = model.config.label2id[target["label"]]
        return lambda output: output.logits[:, index]
    segment = 1 if task == "qa" else 0
    positions = [i for i, s in enumerate(sequence_ids) if s == segment]
    start = next(i for i in positions if offsets[i][0] == target["start"])
    end = next(i for i in positions if offsets[i][1] == target["end"])
    if task == "detect":
        assert start == end, "a detect target is one token"
        return lambda output: output.logits[:, start]
    return lambda output: output.start_logits[:, start] + output.end_logits[:, end]


def autograd_gxi(model: Any, inputs: dict[str, Any], select) -> tuple[np.ndarray, float]:
    """Gradient x input with a hook on the word-embedding output and ``backward()``."""
    captured: dict[str, torch.Tensor] = {}

    def hook(module, args, output):
        output.retain_grad()
        captured["e"] = output

    handle = model.electra.embeddings.word_embeddings.register_forward_hook(hook)
    try:
        model.zero_grad()
        value = select(
            model(
                input_ids=inputs["input_ids"],
                token_type_ids=inputs["token_type_ids"],
                attention_mask=inputs["attention_mask"],
            )
        )
        value.sum().backward()
    finally:
        handle.remove()
    embeds = captured["e"]
    return (embeds * embeds.grad).sum(-1)[0].detach().numpy(), float(value.detach()[0])


def baseline(tokenizer: Any, input_ids: torch.Tensor) -> torch.Tensor:
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id}
    return torch.tensor([[t if t in specials else tokenizer.pad_token_id for t in input_ids[0].tolist()]])


def captum_ig(model: Any, tokenizer: Any, inputs: dict[str, Any], select, steps: int, batch: int):
    """Captum called directly: LayerIntegratedGradients on the word-embedding layer."""
    from captum.attr import LayerIntegratedGradients

    def forward(ids, types, mask):
        return select(model(input_ids=ids, token_type_ids=types, attention_mask=mask))

    explainer = LayerIntegratedGradients(forward, model.electra.embeddings.word_embeddings)
    attributions, delta = explainer.attribute(
        inputs["input_ids"],
        baselines=baseline(tokenizer, inputs["input_ids"]),
        additional_forward_args=(inputs["token_type_ids"], inputs["attention_mask"]),
        n_steps=steps,
        internal_batch_size=batch,
        return_convergence_delta=True,
    )
    return attributions.sum(-1)[0].detach().numpy(), float(delta[0])


def non_special(values: np.ndarray, inputs: dict[str, Any]) -> np.ndarray:
    return np.array([v for v, s in zip(values, inputs["sequence_ids"], strict=True) if s is not None])


def forward_value(model: Any, select, ids: torch.Tensor, inputs: dict[str, Any]) -> float:
    with torch.no_grad():
        output = model(
            input_ids=ids, token_type_ids=inputs["token_type_ids"], attention_mask=inputs["attention_mask"]
        )
    return float(select(output)[0])
