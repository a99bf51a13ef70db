"""Zero-shot classification with labels the visitor types (the names follow transformers'
zero-shot pipeline: ``candidate_labels``, ``hypothesis_template``, ``multi_label``).

Two methods, each one model call over every label's input as one batch:

- ``rtd``, the discriminator alone (Xia et al., EMNLP 2022; Ni & Kao, 2022): per label, the text,
  a space and the template filled with the label, as one sequence; the label's raw score is the
  mean, over the label's own word pieces, of the discriminator's P(original) = 1 - sigmoid(logit).
  Not multi-label: the raw scores divided by their sum; multi-label: the raw scores.
- ``nli``, the registry's NLI head, exactly as transformers 4.x's ``ZeroShotClassificationPipeline``:
  premise = the text, hypothesis = the filled template (the premise truncated when too long); not
  multi-label: softmax over the labels of the entailment logit; multi-label: per label, softmax of
  [contradiction, entailment]. The entailment index is the first label whose name starts with
  "entail" (else the last), contradiction is 0 (or the last when entailment is 0), as there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from electra_demo import config
from electra_demo.checks import InputError, check_choice, check_text, describe
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks.common import Models
from electra_demo.tasks.explain_inputs import FieldError
from electra_demo.text.processing import sigmoid, softmax

METHODS = ("rtd", "nli")
SLOTS = {"rtd": "discriminator", "nli": "nli"}  # the registry slot each method runs on
DEFAULT_TEMPLATE = "It was {}."
MIN_LABELS, MAX_LABELS = 2, 20
MAX_LABEL_CHARS = 100
MAX_TEMPLATE_CHARS = 500
Row = tuple[list[int], list[int]]  # input ids, token types


@dataclass
class ZeroShotResult:
    labels: list[tuple[str, float]]  # highest first
    method: str
    template: str
    multi_label: bool
    truncated: bool  # the text was cut so that the filled template fits (shown on the page)
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "labels": [{"label": label, "score": score} for label, score in self.labels],
            "method": self.method,
            "template": self.template,
            "multi_label": self.multi_label,
        }


# ---- checks ---------------------------------------------------------------------------------
def check_labels(value: object) -> list[str]:
    """2 to 20 labels, from a comma-separated text or a list of texts; each stripped, non-empty,
    at most 100 characters, all different (ignoring case). Messages name labels by position."""
    if isinstance(value, str):
        items: list[object] = list(value.split(",")) if value.strip() else []
    elif isinstance(value, list | tuple):
        items = list(value)
    elif value is None:
        items = []
    else:
        raise FieldError(
            "candidate_labels",
            f"The candidate labels must be a text (labels separated by commas); got {describe(value)}.",
        )
    if not items:
        raise FieldError(
            "candidate_labels",
            f"Please give candidate labels: {MIN_LABELS} to {MAX_LABELS}, separated by commas "
            "(for example: sports, politics, science).",
        )
    if len(items) > MAX_LABELS:
        raise FieldError("candidate_labels", f"At most {MAX_LABELS} candidate labels; got {len(items)}.")
    labels = [check_label(number, item) for number, item in enumerate(items, start=1)]
    if len(labels) < MIN_LABELS:
        raise FieldError(
            "candidate_labels",
            f"Please give at least {MIN_LABELS} candidate labels (separated by commas); got 1: "
            "zero-shot classification picks among the labels you give.",
        )
    seen: dict[str, int] = {}
    for number, label in enumerate(labels, start=1):
        first = seen.setdefault(label.casefold(), number)
        if first != number:
            raise FieldError(
                "candidate_labels",
                f"Labels {first} and {number} are the same (ignoring case); each label must differ.",
            )
    return labels


def check_label(number: int, item: object) -> str:
    """Label ``number``: a text, stripped, not empty, at most 100 characters, valid Unicode."""
    if not isinstance(item, str):
        raise FieldError("candidate_labels", f"Label {number} must be a text; got {describe(item)}.")
    label = item.strip()
    if not label:
        raise FieldError(
            "candidate_labels",
            f"Label {number} is empty (two commas in a row, or one at the end?); give it a word.",
        )
    if len(label) > MAX_LABEL_CHARS:
        raise FieldError(
            "candidate_labels",
            f"Label {number} is {len(label)} characters long; the limit is {MAX_LABEL_CHARS}.",
        )
    check_unicode(label, f"Label {number}", "candidate_labels")
    return label


def check_unicode(value: str, what: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise FieldError(
            field,
            f"{what} contains a character that is not valid Unicode (a lone surrogate) at position "
            f"{error.start}; please remove it.",
        ) from None


def check_template(value: object) -> str:
    """A template holding ``{}`` exactly once (where the label goes) and no other brace."""
    if not isinstance(value, str):
        raise FieldError(
            "hypothesis_template", f"The hypothesis template must be a text; got {describe(value)}."
        )
    if len(value) > MAX_TEMPLATE_CHARS:
        raise FieldError(
            "hypothesis_template",
            f"The hypothesis template is {len(value):,} characters long; the limit is {MAX_TEMPLATE_CHARS}.",
        )
    check_unicode(value, "The hypothesis template", "hypothesis_template")
    holes = value.count("{}")
    if holes != 1:
        raise FieldError(
            "hypothesis_template",
            "The hypothesis template must hold {} exactly once, where the label goes (for example "
            f'"{DEFAULT_TEMPLATE}"); it has {"none" if holes == 0 else holes}.',
        )
    if "{" in value.replace("{}", "") or "}" in value.replace("{}", ""):
        raise FieldError(
            "hypothesis_template",
            "The hypothesis template may hold no brace besides its one {} (where the label goes).",
        )
    return value


def check_flag(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise FieldError(what, f"{what} must be true or false; got {describe(value)}.")


def check_method(value: object) -> str:
    try:
        return check_choice(value, METHODS, what="method")
    except InputError as error:
        raise FieldError("method", str(error)) from None


def preprocess(
    text: object, candidate_labels: object, hypothesis_template: object, method: object, multi_label: object
) -> tuple[str, list[str], str, str, bool]:
    """Every argument checked: the text, the labels, the template, the method and the flag."""
    return (
        check_text(text, max_chars=config.MAX_TEXT_CHARS),
        check_labels(candidate_labels),
        check_template(hypothesis_template),
        check_method(method),
        check_flag(multi_label, "multi_label"),
    )


def fill(template: str, label: str) -> str:
    """The hypothesis: the template with the label in its ``{}`` (``template.format(label)``)."""
    return template.replace("{}", label)


def too_long(number: int, max_tokens: int) -> FieldError:
    return FieldError(
        "hypothesis_template",
        f"The template filled with label {number} is too long: with a token of the text it must fit "
        f"in {max_tokens} tokens. Shorten the template or the label.",
    )


# ---- rtd: the discriminator alone -----------------------------------------------------------
def rtd_rows(
    tokenizer, max_tokens: int, text: str, labels: Sequence[str], template: str
) -> tuple[list[Row], list[list[int]], bool]:
    """Per label, ``[CLS] text + " " + hypothesis [SEP]`` (one sequence) and the positions of the
    label's own word pieces in it (the tokens whose characters overlap the label's); and whether
    the text was cut (its end) so the hypothesis fits in ``max_tokens``."""
    joined = [text + " " + fill(template, label) for label in labels]
    encoded = tokenizer(
        joined,
        add_special_tokens=False,
        return_offsets_mapping=True,
        verbose=False,
        split_special_tokens=True,
    )
    rows, positions, truncated = [], [], False
    start = len(text) + 1 + template.index("{}")
    for number, (label, ids, offsets) in enumerate(
        zip(labels, encoded["input_ids"], encoded["offset_mapping"], strict=True), start=1
    ):
        in_text = sum(1 for begin, _ in offsets if begin < len(text))
        room = max_tokens - 2 - (len(ids) - in_text)  # what is left of the text
        if room < 1:
            raise too_long(number, max_tokens)
        cut = max(0, in_text - room)
        truncated = truncated or cut > 0
        kept = list(range(in_text - cut)) + list(range(in_text, len(ids)))
        end = start + len(label)
        own = [1 + i for i, k in enumerate(kept) if offsets[k][0] < end and offsets[k][1] > start]
        if not own:
            raise FieldError(
                "candidate_labels",
                f"Label {number} has no characters the model can read (only control characters?).",
            )
        piece = [tokenizer.cls_token_id, *(ids[k] for k in kept), tokenizer.sep_token_id]
        rows.append((piece, [0] * len(piece)))
        positions.append(own)
    return rows, positions, truncated


def rtd_scores(
    logits: Sequence[np.ndarray], positions: Sequence[Sequence[int]], multi_label: bool
) -> list[float]:
    """Each label's mean P(original) = 1 - sigmoid(logit) over its pieces; divided by their sum
    unless ``multi_label``."""
    raw = np.asarray(
        [
            np.mean(sigmoid(-np.asarray(row, dtype=np.float64)[list(at)]))
            for row, at in zip(logits, positions, strict=True)
        ]
    )
    if multi_label:
        return raw.tolist()
    total = raw.sum()
    # every label's pieces certain to be replaced (P(original) underflowed to 0): no preference
    return (raw / total).tolist() if total > 0 else [1.0 / len(raw)] * len(raw)


# ---- nli: the NLI head's entailment ---------------------------------------------------------
def entailment_index(label2id: Mapping[str, int]) -> int:
    """The pipeline's ``entailment_id``: the first label starting with "entail", else -1."""
    for label, index in label2id.items():
        if label.lower().startswith("entail"):
            return index
    return -1


def nli_scores(logits: np.ndarray, entailment: int, multi_label: bool) -> list[float]:
    """The pipeline's postprocess over one text's ``[labels, classes]`` logits."""
    logits = np.asarray(logits, dtype=np.float32)
    if multi_label:
        contradiction = -1 if entailment == 0 else 0
        return softmax(logits[:, [contradiction, entailment]])[:, 1].tolist()
    return softmax(logits[:, entailment]).tolist()


def nli_rows(
    tokenizer, max_tokens: int, text: str, labels: Sequence[str], template: str
) -> tuple[list[Row], list[list[int]], bool]:
    """Per label, the pair (text, hypothesis), the text truncated (``only_first``) to fit; no
    positions (the head reads [CLS]); and whether the text was cut."""
    rows, truncated = [], False
    for number, label in enumerate(labels, start=1):
        hypothesis = fill(template, label)
        alone = tokenizer(hypothesis, add_special_tokens=False, verbose=False, split_special_tokens=True)
        if len(alone["input_ids"]) + tokenizer.num_special_tokens_to_add(pair=True) + 1 > max_tokens:
            raise too_long(number, max_tokens)
        full = tokenizer(text, hypothesis, verbose=False, split_special_tokens=True)["input_ids"]
        encoded = tokenizer(
            text, hypothesis, truncation="only_first", max_length=max_tokens, split_special_tokens=True
        )
        truncated = truncated or len(full) > max_tokens
        ids = encoded["input_ids"]
        rows.append((ids, encoded.get("token_type_ids") or [0] * len(ids)))
    return rows, [], truncated


# ---- the task -------------------------------------------------------------------------------
@dataclass
class Scored:
    """One text's answer: every label with its score, highest first (ties keep the labels'
    order), whether the text was cut, and the tokens read (every label's input)."""

    labels: list[tuple[str, float]]
    truncated: bool
    tokens: int


def postprocess(labels: Sequence[str], scores: Sequence[float]) -> list[tuple[str, float]]:
    """Every label with its score, highest first (ties keep the labels' order)."""
    return sorted(zip(labels, (float(s) for s in scores), strict=True), key=lambda pair: -pair[1])


def score(
    loaded: LoadedModel,
    texts: Sequence[str],
    labels: Sequence[str],
    template: str,
    method: str,
    multi_label: bool,
) -> list[Scored]:
    """Checked texts' labels scored by ``method`` on its loaded slot: every text's every label in
    one batch through the slot's micro-batcher."""
    tokenizer, limit, n = loaded.tokenizer, loaded.max_tokens, len(labels)
    build = rtd_rows if method == "rtd" else nli_rows
    built = [build(tokenizer, limit, text, labels, template) for text in texts]
    outputs = loaded.batcher.run([row for rows, _, _ in built for row in rows])
    answers = []
    for index, (rows, positions, truncated) in enumerate(built):
        logits = [output["logits"] for output in outputs[index * n : (index + 1) * n]]
        if method == "rtd":
            scores = rtd_scores(logits, positions, multi_label)
        else:
            stacked = np.stack([np.asarray(row, dtype=np.float32) for row in logits])
            scores = nli_scores(stacked, entailment_index(loaded.model.config.label2id), multi_label)
        answers.append(Scored(postprocess(labels, scores), truncated, sum(len(ids) for ids, _ in rows)))
    return answers


def run(
    models: Models,
    text: str,
    candidate_labels: str | list[str],
    hypothesis_template: str = DEFAULT_TEMPLATE,
    method: str = "rtd",
    multi_label: bool = False,
) -> ZeroShotResult:
    """Score each candidate label for ``text`` without training: ``rtd`` (the discriminator judges
    which label looks original in the template) or ``nli`` (the NLI head's entailment)."""
    text, labels, template, method, multi_label = preprocess(
        text, candidate_labels, hypothesis_template, method, multi_label
    )
    loaded = models.load(SLOTS[method])
    (scored,) = score(loaded, [text], labels, template, method, multi_label)
    return ZeroShotResult(scored.labels, method, template, multi_label, scored.truncated, loaded)
