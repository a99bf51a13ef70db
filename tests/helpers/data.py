"""Generated training and batch files, over whole words of the tiny tokenizer's vocabulary (its
training sentences), so that the random tiny checkpoints can learn them in seconds:

- cue words (classification): filler words with one cue word that decides the label;
- tagging: filler words with entities whose word decides their type (``marie``/``pierre curie``:
  PER; ``paris``, ``berlin``, ``france``, ``germany``: LOC; ``google``, ``university``: ORG);
- QA: filler contexts holding the cue phrase "the capital of" and, after it, the answer word; the
  question is always "where is the capital?";
- Adapt: sentences from three templates over a few subjects, verbs, objects and places, so the
  original random generator's samples (any token) stand out once the discriminator has learnt them;
- batch tables built by hand.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from electra_demo.text.tables import Table

# ---- cue words (classification) -------------------------------------------------------------
CUES = {"pos": "wonderful", "neg": "boring"}
CUE_FILLER = (
    "the chef cooked meal in kitchen quick brown fox jumps over lazy dog paris capital france".split()
)


def cue_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (text, label) rows, labels alternating: 8 filler words and the label's cue word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = [rng.choice(CUE_FILLER) for _ in range(8)]
        words.insert(rng.randrange(len(words) + 1), CUES[label])
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=(" text ", "label")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---- tagging and QA ------------------------------------------------------------------------
FILLER = "the chef cooked meal in kitchen quick brown fox jumps over lazy dog with at happy sad".split()
ENTITIES = {
    "PER": [["marie"], ["pierre"], ["marie", "curie"], ["pierre", "curie"]],
    "LOC": [["paris"], ["berlin"], ["france"], ["germany"]],
    "ORG": [["google"], ["university"]],
}
ANSWERS = ["paris", "berlin", "france", "germany", "google", "electra", "marie", "pierre"]
CUE = ["the", "capital", "of"]
QUESTION = "where is the capital?"


def tag_sentences(n: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """``n`` sentences as (words, IOB2 tags): 5 to 9 filler words and one or two entities."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [[w] for w in rng.choices(FILLER, k=rng.randint(5, 9))]
        tags = [["O"] for _ in words]
        for _ in range(rng.randint(1, 2)):
            kind = rng.choice(sorted(ENTITIES))
            entity = rng.choice(ENTITIES[kind])
            at = rng.randrange(len(words) + 1)
            words.insert(at, entity)
            tags.insert(at, ["B-" + kind] + ["I-" + kind] * (len(entity) - 1))
        # two entities side by side of one type would be one in IO: keep a filler word between
        flat_w = [w for group in words for w in group]
        flat_t = [t for group in tags for t in group]
        out.append((flat_w, flat_t))
    return out


def write_conll(path: Path, sentences) -> Path:
    lines = ["-DOCSTART- -X- O O", ""]
    for words, tags in sentences:
        lines += [f"{w}\t{t}" for w, t in zip(words, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def qa_records(n: int, seed: int = 0, unanswerable: int = 0) -> list[dict]:
    """``n`` questions on their own contexts (datasets' JSONL shape); the last ``unanswerable``
    have no cue phrase and no answer."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        words = rng.choices(FILLER, k=rng.randint(6, 10))
        answers = {"text": [], "answer_start": []}
        if i < n - unanswerable:
            answer = rng.choice(ANSWERS)
            at = rng.randrange(len(words) + 1)
            words[at:at] = [*CUE, answer]
            context = " ".join(words)
            start = len(" ".join(words[: at + len(CUE)])) + 1
            answers = {"text": [answer], "answer_start": [start]}
        else:
            context = " ".join(words)
        records.append({"id": f"q{i}", "question": QUESTION, "context": context, "answers": answers})
    return records


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ---- Adapt ---------------------------------------------------------------------------------
SUBJECTS = ["the chef", "the fox", "the dog", "marie curie", "the generator"]
VERBS = ["cooked", "jumps over", "finds", "loved", "replaces"]
OBJECTS = ["the meal", "the lazy dog", "the kitchen", "this movie", "some words"]
PLACES = ["in paris", "in the kitchen", "in berlin", "at the university"]


def corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` sentences of the Adapt corpus (three templates over the words above)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s, v, o, p = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(PLACES)
        template = rng.randrange(3)
        out.append(
            [f"{s} {v} {o} {p}.", f"{p}, {s} {v} {o}.", f"{s} {v} {o} and {o}."][template].capitalize()
        )
    return out


def write_txt(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


# ---- batch tables --------------------------------------------------------------------------
def table(*rows: dict[str, str]) -> Table:
    """A batch table of ``rows`` (dicts of one shape; the first one's keys are the columns)."""
    return Table(columns=list(rows[0]), rows=list(rows))
