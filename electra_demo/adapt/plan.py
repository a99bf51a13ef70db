"""A checked Adapt request as a training run of the Fine-tune machinery (its queue, child process,
cancel, time limit and store): :class:`Plan` is a :class:`~electra_demo.finetune.data.TrainingPlan`
of task ``adapt`` (:data:`electra_demo.trained.kinds.KINDS` starts :mod:`.worker` for it, and gives
its store id its prefix)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from electra_demo.adapt import data
from electra_demo.adapt.data import Limits, Settings, Texts
from electra_demo.config import ResolvedSlot
from electra_demo.runtime import hub


@dataclass
class Plan:
    """The kept texts, their split, the settings, and the generator and discriminator to continue."""

    texts: Texts
    train: list[int]
    held: list[int]
    settings: Settings
    base: ResolvedSlot  # the discriminator
    generator: ResolvedSlot
    file: str  # the uploaded file's name
    task: str = "adapt"

    def rows(self) -> dict[str, int]:
        return {"train": len(self.train), "eval": len(self.held), "dropped": self.texts.dropped}

    def labels(self) -> list[str]:
        return []

    def public_settings(self, time_limit: float) -> dict[str, Any]:
        return {"text_column": self.texts.column, **self.settings.public(), "time_limit": time_limit}

    def payload(self) -> dict[str, Any]:
        generator = self.generator
        shown = f"a local checkpoint ({Path(generator.source).name})" if generator.local else generator.source
        return {
            "train": {"texts": [self.texts.texts[i] for i in self.train]},
            "eval": {"texts": [self.texts.texts[i] for i in self.held]},
            "generator": {
                "slot": generator.slot.name,
                "source": generator.source,
                "revision": generator.revision,
                "local_files_only": not generator.local and not hub.reachable(),
                "id": shown,
            },
        }

    def model_name(self) -> str:
        stem = Path(self.file).stem[:40] or "upload"
        return f"{stem}: adapted, {self.settings.steps} steps"

    def meta_fields(self, result: dict[str, Any]) -> dict[str, Any]:
        before, after = result["before"], result["after"]
        if before["rtd_auc"] is None or after["rtd_auc"] is None:
            return {"summary": "held-out replaced-token AUC undefined (no replacement held out)"}
        summary = (
            f"held-out replaced-token AUC {before['rtd_auc']:.3f} before, {after['rtd_auc']:.3f} after "
            f"adapting, on {result['rows']['eval']:,} texts, in this demo"
        )
        return {"summary": summary}


def make_plan(
    upload: str | os.PathLike[str] | bytes,
    filename: str,
    text_column: object,
    settings: Settings,
    base: ResolvedSlot,
    generator: ResolvedSlot,
    limits: Limits,
) -> Plan:
    """Read and check the upload, pick its column and hold texts out: everything a run needs,
    checked before it queues (every problem is an InputError naming the limit)."""
    table = data.read_upload(upload, filename, limits)
    texts = data.build_texts(table, text_column, limits)
    train, held = data.split(len(texts.texts), settings.eval_fraction, settings.seed)
    return Plan(texts, train, held, settings, base, generator, Path(filename).name)
