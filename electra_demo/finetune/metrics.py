"""Held-out metrics of a trained classifier, from its predictions (pure, NumPy).

Computed here rather than with scikit-learn, which the app does not depend on at run time (it is
a development dependency); the tests hold these to scikit-learn's ``accuracy_score``,
``f1_score(average="macro")``, ``precision_recall_fscore_support`` and ``confusion_matrix`` on the
same predictions (an undefined precision, recall or F1 counts as 0, scikit-learn's
``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts ``[true class, predicted class]``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    out = np.zeros(top.shape, dtype=np.float64)
    np.divide(top, bottom, out=out, where=bottom > 0)
    return out


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """``{"accuracy", "macro_f1", "per_class": {label: {"precision", "recall", "f1", "support"}},
    "confusion": {"labels", "matrix"}}`` (matrix rows: true class, columns: predicted)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not len(y_true):
        raise ValueError("no predictions to score")
    matrix = confusion(y_true, y_pred, len(labels))
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)  # = 2PR / (P + R), and 0 where both are 0
    return {
        "accuracy": float(hits.sum() / matrix.sum()),
        "macro_f1": float(f1.mean()),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {"labels": list(labels), "matrix": matrix.tolist()},
    }
