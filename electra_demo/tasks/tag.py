"""Named entities, aggregated exactly as transformers' token-classification pipeline.

Our part is the windows (so texts over 512 tokens are tagged completely, for every strategy);
the aggregation is the pipeline's own ``postprocess``, run once over the whole text's token
scores. The model is the registry's ``ner`` slot, or an entity tagger a visitor fine-tuned in
the demo, named by its id (see :mod:`electra_demo.trained`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from electra_demo import config
from electra_demo.checks import check_choice, check_text
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks.common import Encoding, Resolving, encode, token_logits
from electra_demo.trained.require import require

SLOT = "ner"


@dataclass(frozen=True)
class Entity:
    text: str
    label: str
    score: float
    start: int
    end: int


@dataclass
class TagResult:
    text: str
    aggregation: str
    entities: list[Entity]
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {"entities": [asdict(e) for e in self.entities]}


def preprocess(text: object, aggregation: object) -> tuple[str, str]:
    return (
        check_text(text, max_chars=config.MAX_TEXT_CHARS),
        check_choice(aggregation, config.AGGREGATIONS, what="aggregation"),
    )


def postprocess(
    loaded: LoadedModel, text: str, encoding: Encoding, logits: np.ndarray, aggregation: str
) -> list[Entity]:
    """The pipeline's own aggregation over every token's logits (one row per token)."""
    import torch
    from transformers.pipelines.token_classification import AggregationStrategy

    ids, offsets, _ = encoding
    chunk = {
        "logits": torch.from_numpy(np.asarray(logits)).unsqueeze(0),
        "input_ids": torch.tensor([ids]),
        "offset_mapping": torch.tensor([offsets]),
        "special_tokens_mask": torch.zeros((1, len(ids)), dtype=torch.long),
        "sentence": text,
    }
    raw = loaded.token_pipeline().postprocess([chunk], aggregation_strategy=AggregationStrategy(aggregation))
    return [
        Entity(
            text=text[e["start"] : e["end"]],
            label=e.get("entity_group") or e["entity"],
            score=float(e["score"]),
            start=int(e["start"]),
            end=int(e["end"]),
        )
        for e in raw
    ]


def run(
    models: Resolving, text: str, aggregation: str = config.DEFAULT_AGGREGATION, model: str = ""
) -> TagResult:
    """Named entities, aggregated exactly as transformers' token-classification pipeline;
    ``model``: "" for the registry's tagger, or a fine-tuned tagger's id."""
    text, aggregation = preprocess(text, aggregation)
    loaded = models.load(require(models, model, ("tag",), "/tag", default=SLOT))
    encoding = encode(loaded, text)
    logits = token_logits(loaded, encoding[0])
    stacked = np.stack([logits[i] for i in range(len(encoding[0]))])
    entities = postprocess(loaded, text, encoding, stacked, aggregation)
    return TagResult(text=text, aggregation=aggregation, entities=entities, model=loaded)
