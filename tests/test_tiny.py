"""The small checkpoints are the same in every session: same vocabulary, same weights.

A trained WordPiece vocabulary differed from run to run (the trainer breaks ties in hash order),
so thresholds on the tiny models passed or failed by chance; the vocabulary is now a file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from electra_demo.tools import tiny


def digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_two_writes_give_identical_checkpoints(tmp_path):
    slots = ["discriminator", "sentiment"]
    tiny.write_tiny(tmp_path / "a", slots=slots)
    tiny.write_tiny(tmp_path / "b", slots=slots)
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert "discriminator/model.safetensors" in a and "sentiment/tokenizer.json" in a
    assert a == b


def test_the_vocabulary_covers_the_sentences_it_was_trained_on():
    tokenizer = tiny.tiny_tokenizer()
    assert len(tokenizer) == len(tiny.VOCAB.read_text(encoding="utf-8").splitlines())
    assert tokenizer.convert_tokens_to_ids(tiny.SPECIAL) == list(range(len(tiny.SPECIAL)))
    for sentence in tiny.SENTENCES:
        ids = tokenizer(sentence)["input_ids"]
        assert tokenizer.unk_token_id not in ids, sentence
