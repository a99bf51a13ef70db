"""Write small random checkpoints for every registry slot: ``python -m electra_demo.tiny DIR``.

They let tests and offline development run the whole app without the Hub: the same
``from_pretrained`` path as real checkpoints, safetensors weights, and one WordPiece tokenizer
trained on a few sentences and shared by every slot (so the generator's samples feed the
discriminator as in the real pair). Their config.json carries ``electra_demo_random_weights``
so the app says plainly that their output is meaningless.

The tokenizer's vocabulary is ``tiny_vocab.txt``, written once by ``write_vocab()``. It is kept
as a file because the WordPiece trainer breaks ties in hash order: every training gave another
vocabulary, so the "same" seeded checkpoints tokenized differently from one test session to the
next, and a test on the edge of a threshold passed or failed by chance.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from electra_demo import config

SENTENCES = [
    "The chef cooked the meal in the kitchen.",
    "The quick brown fox jumps over the lazy dog.",
    "ELECTRA trains a discriminator to detect replaced tokens.",
    "A generator replaces some words, and the discriminator finds them.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "Marie Curie worked at the University of Paris with Pierre Curie.",
    "Google released ELECTRA in 2020 at ICLR.",
    "I loved this movie, it was wonderful and moving!",
    "This film was boring, slow and far too long.",
    "She was surprised and happy, then sad and a little afraid.",
    "Café, naïve, résumé and crème brûlée have accents.",
    "東京は日本の首都です。北京是中国的首都。",
    "Emoji 😀 and symbols like © or € appear in text too.",
    "Where did the chef cook the meal? In the kitchen, of course.",
    "Numbers such as 42, 3.14 and 1,000 are tokens as well.",
    "مرحبا بالعالم and שלום עולם are written right to left.",
]

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


VOCAB = Path(__file__).with_name("tiny_vocab.txt")


def tiny_tokenizer():
    """The BERT-style (lower-casing, accent-stripping) WordPiece tokenizer on ``tiny_vocab.txt``."""
    from transformers import BertTokenizer

    tokens = VOCAB.read_text(encoding="utf-8").splitlines()
    return BertTokenizer(
        vocab={token: i for i, token in enumerate(tokens)}, model_max_length=config.MODEL_MAX_TOKENS
    )


def train_vocab(vocab_size: int = 600) -> list[str]:
    """A WordPiece vocabulary trained on SENTENCES (ids in order); differs from run to run."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    raw = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL)
    raw.train_from_iterator(SENTENCES, trainer)
    return sorted(raw.get_vocab(), key=raw.get_vocab().get)


def write_vocab(path: Path = VOCAB) -> None:
    """Train a new vocabulary into ``path`` (every tiny checkpoint and test result changes with it)."""
    path.write_text("".join(f"{token}\n" for token in train_vocab()), encoding="utf-8")


def _electra_config(vocab_size: int, **extra):
    from transformers import ElectraConfig

    cfg = ElectraConfig(
        vocab_size=vocab_size,
        embedding_size=32,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=config.MODEL_MAX_TOKENS,
        **extra,
    )
    cfg.electra_demo_random_weights = True
    return cfg


def _labelled(labels) -> dict:
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def _builders() -> dict[str, Callable]:
    from transformers import (
        ElectraForMaskedLM,
        ElectraForPreTraining,
        ElectraForQuestionAnswering,
        ElectraForSequenceClassification,
        ElectraForTokenClassification,
    )

    def sequence(slot, vocab):
        # the reranker (one label): weights ten times the usual scale, so its relevance scores spread
        # over (0, 1) as a trained one's do, and no ranking is decided by float rounding
        spread = {"initializer_range": 0.2} if slot.name == config.RERANK else {}
        return ElectraForSequenceClassification(_electra_config(vocab, **spread, **_labelled(slot.labels)))

    def token(slot, vocab):
        return ElectraForTokenClassification(_electra_config(vocab, **_labelled(slot.labels)))

    return {
        "pretraining": lambda slot, vocab: ElectraForPreTraining(_electra_config(vocab)),
        "masked-lm": lambda slot, vocab: ElectraForMaskedLM(_electra_config(vocab)),
        "sequence-classification": sequence,
        "token-classification": token,
        "question-answering": lambda slot, vocab: ElectraForQuestionAnswering(_electra_config(vocab)),
    }


def write_tiny(directory: str | Path, seed: int = 0, slots: list[str] | None = None) -> dict[str, Path]:
    """Write one small checkpoint per slot (or per slot named) under ``directory``."""
    import torch

    root = Path(directory)
    tokenizer = tiny_tokenizer()
    builders = _builders()
    paths = {}
    for name, slot in config.REGISTRY.items():
        if slots is not None and name not in slots:
            continue
        torch.manual_seed(seed)
        model = builders[slot.architecture](slot, len(tokenizer))
        path = root / name
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
        paths[name] = path
    (root / "README.txt").write_text(
        "Random weights written by `python -m electra_demo.tiny`: for tests and offline "
        "development only. Their outputs are meaningless.\n"
    )
    return paths


def tiny_environ(directory: str | Path) -> dict[str, str]:
    """The ``ELECTRA_DEMO_<SLOT>`` variables that point every slot at ``directory``."""
    root = Path(directory).resolve()
    return {slot.env_var: str(root / name) for name, slot in config.REGISTRY.items()}


def ensure_tiny(directory: str | Path) -> dict[str, str]:
    """Write the tiny checkpoints unless a complete set is already there; return the env."""
    env = tiny_environ(directory)
    if not all((Path(p) / "model.safetensors").is_file() for p in env.values()):
        write_tiny(directory)
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where to write one sub-directory per slot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slots", nargs="*", choices=sorted(config.REGISTRY), help="default: all")
    args = parser.parse_args(argv)
    paths = write_tiny(args.directory, args.seed, args.slots)
    print(json.dumps({name: str(path) for name, path in paths.items()}, indent=2))
    print("\nTo run the app on them:")
    for key, value in tiny_environ(args.directory).items():
        print(f"  export {key}={value}")


if __name__ == "__main__":
    main()
