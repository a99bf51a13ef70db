"""Small checkpoints whose zero-shot scores differ enough to compare (the random tiny ones score
every label within 1e-4 of the others), and the references those scores are checked against:
the rtd score computed directly with transformers, and transformers 4.x's zero-shot pipeline's
published formula (``ZeroShotClassificationPipeline.postprocess``, 4.57)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

DISCRIMINATOR_SCALE = 100.0  # the replaced logit's weights: P(original) spread over (0, 1)
NLI_SCALE = 3000.0  # the classifier's last layer, centred on one input: labels' logits apart
REVERSED = ("contradiction", "neutral", "entailment")  # the entailment index found by name


def write_sharp(directory: str | Path, nli_labels: Sequence[str] | None = None) -> dict[str, str]:
    """A discriminator and an NLI head (its labels renamed to ``nli_labels`` when given) under
    ``directory``; the ``ELECTRA_DEMO_<SLOT>`` variables pointing at them."""
    import torch
    import transformers

    from electra_demo.tools.tiny import write_tiny

    paths = write_tiny(directory, slots=["discriminator", "nli"])
    model = transformers.ElectraForPreTraining.from_pretrained(paths["discriminator"])
    with torch.no_grad():
        model.discriminator_predictions.dense_prediction.weight.mul_(DISCRIMINATOR_SCALE)
    model.save_pretrained(paths["discriminator"])
    model = transformers.ElectraForSequenceClassification.from_pretrained(paths["nli"]).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(paths["nli"])
    with torch.no_grad():
        model.classifier.out_proj.weight.mul_(NLI_SCALE)
        centre = model(**tokenizer("The chef cooked the meal.", "It was good.", return_tensors="pt")).logits
        model.classifier.out_proj.bias.sub_(centre[0])
    if nli_labels is not None:
        model.config.id2label = dict(enumerate(nli_labels))
        model.config.label2id = {label: i for i, label in enumerate(nli_labels)}
    model.save_pretrained(paths["nli"])
    return {"ELECTRA_DEMO_DISCRIMINATOR": str(paths["discriminator"]), "ELECTRA_DEMO_NLI": str(paths["nli"])}


def rtd_reference(directory: str | Path, text: str, labels: Sequence[str], template: str) -> list[float]:
    """Each label's raw rtd score straight from transformers: ``text + " " + template`` with the
    label, one sequence; the mean of 1 - sigmoid(logit) over the tokens that overlap the label."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.ElectraForPreTraining.from_pretrained(directory).eval()
    raw = []
    for label in labels:
        joined = text + " " + template.replace("{}", label)
        start = len(text) + 1 + template.index("{}")
        encoded = tokenizer(joined, return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping")[0].tolist()
        with torch.no_grad():
            logits = model(**encoded).logits[0]
        own = [i for i, (s, e) in enumerate(offsets) if e > s and s < start + len(label) and e > start]
        raw.append(float((1 - torch.sigmoid(logits[own])).mean()))
    return raw


def nli_logits(directory: str | Path, text: str, labels: Sequence[str], template: str) -> np.ndarray:
    """The NLI head's logits per label for (text, hypothesis), as the pipeline tokenizes the pair."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.ElectraForSequenceClassification.from_pretrained(directory).eval()
    pairs = [[text, template.format(label)] for label in labels]
    encoded = tokenizer(pairs, padding=True, truncation="only_first", return_tensors="pt")
    with torch.no_grad():
        return model(**encoded).logits.float().numpy()


def pipeline_formula(logits: np.ndarray, label2id: dict[str, int], multi_label: bool) -> np.ndarray:
    """transformers 4.57's ZeroShotClassificationPipeline.postprocess for one sequence, verbatim:
    entailment is the first label starting with "entail" (else -1); contradiction is 0, or -1
    when entailment is 0; numpy's exp without a shift, as there."""
    entailment_id = next((i for label, i in label2id.items() if label.lower().startswith("entail")), -1)
    reshaped = logits.reshape((1, len(logits), -1))
    if multi_label:
        contradiction_id = -1 if entailment_id == 0 else 0
        pair = reshaped[..., [contradiction_id, entailment_id]]
        scores = np.exp(pair) / np.exp(pair).sum(-1, keepdims=True)
        return scores[..., 1][0]
    entail = reshaped[..., entailment_id]
    return (np.exp(entail) / np.exp(entail).sum(-1, keepdims=True))[0]
