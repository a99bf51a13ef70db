"""Random electra-base-shaped checkpoints and exact-length texts for the benchmarks.

``python benchmarks/checkpoints.py WORKDIR`` writes, unless already there:

- ``WORKDIR/base/{discriminator,sentiment,qa}``: electra-base-shaped models (hidden 768, 12 layers,
  12 heads, intermediate 3072, embedding 768, 512 positions, vocabulary 30522) with random
  weights, saved with ``save_pretrained`` (safetensors). Their config.json carries
  ``electra_demo_random_weights: true``, so the app says their output is meaningless.
- ``WORKDIR/tiny/<slot>``: ``electra_demo.tiny`` checkpoints for the slots that are not timed.
- ``WORKDIR/texts.json``: texts whose token counts are checked with the tokenizer.

The tokenizer is a ``BertTokenizer`` on a generated 30522-entry vocabulary: the five special
tokens, real English words (each one token), punctuation, then filler ``w00000``, ``w00001``, ...
Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # electra_demo, when run as a script

VOCAB_SIZE = 30522
SHAPE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "embedding_size": 768,
    "max_position_embeddings": 512,
    "vocab_size": VOCAB_SIZE,
}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCTUATION = [".", ",", "?", "!", ";", ":", "'", '"', "(", ")", "-"]
WORDS = """
the a an and or but of to in on at by for with from about into over after before under between
through during without within along across behind beyond near this that these those it its he she
they we you i me him her them us my your his their our is are was were be been being have has had
do does did will would can could should may might must shall not no yes all any some many much more
most few less each every other another such same own only just very also still even again never
always often here there where when why how what which who whom whose time year day week month
people man woman child world life hand part place case point company number group problem fact
work school system government home water room mother father area money story night city month
river mountain country state family friend student teacher book word music game team house car
road tree garden food meal kitchen chef bread table window door light paper letter question answer
good new first last long great little old big high small large next early young important public
bad able late hard real best better sure free full clear open short whole true happy sad warm cold
make go know take see come think look want give use find tell ask seem feel try leave call keep
let begin help show hear play run move live believe hold bring write sit stand lose pay meet learn
change lead understand watch follow stop create speak read spend grow open walk win offer remember
love consider appear buy wait serve die send expect build stay fall cut reach kill remain suggest
raise pass sell require report decide pull cook eat drink sleep dream sing dance paint travel
movie film actor story plot scene ending review critic audience theater screen season episode
paris london berlin france germany europe africa asia america ocean island forest desert valley
""".split()


def vocabulary() -> dict[str, int]:
    tokens = list(SPECIAL)
    seen = set(tokens)
    for token in [*PUNCTUATION, *WORDS]:
        if token not in seen:
            tokens.append(token)
            seen.add(token)
    filler = 0
    while len(tokens) < VOCAB_SIZE:
        tokens.append(f"w{filler:05d}")
        filler += 1
    return {token: i for i, token in enumerate(tokens)}


def english_words() -> list[str]:
    return list(dict.fromkeys(WORDS))


def make_tokenizer():
    from transformers import BertTokenizer

    return BertTokenizer(vocab=vocabulary(), model_max_length=512)


def text_of(n_tokens: int, rng: random.Random, words: list[str]) -> str:
    """``n_tokens`` word-piece tokens (no specials): words, with a full stop every ~12 words."""
    out: list[str] = []
    count = 0
    while count < n_tokens:
        if count and count % 12 == 11 and count < n_tokens - 1:
            out[-1] += "."
        else:
            out.append(rng.choice(words))
        count += 1
    text = " ".join(out)
    return text[0].upper() + text[1:]


def build_texts(tokenizer, seed: int = 0) -> dict:
    """Texts of exact model sequence lengths ([CLS]/[SEP] included), verified by the tokenizer."""
    rng = random.Random(seed)
    words = english_words()

    def count(text: str, pair: str | None = None) -> int:
        return len(tokenizer(text, pair)["input_ids"])

    single: dict[str, list[str]] = {}
    for length in (32, 128, 384):
        texts = [text_of(length - 2, rng, words) for _ in range(4)]
        assert all(count(t) == length for t in texts), (length, [count(t) for t in texts])
        single[str(length)] = texts
    qa: dict[str, list[list[str]]] = {}
    for length in (32, 128, 384):
        items = []
        for _ in range(4):
            question = "what did the chef cook in the kitchen?"
            context = text_of(length - count(question) - 1, rng, words)  # 3 specials in a pair
            assert count(question, context) == length, (length, count(question, context))
            items.append([question, context])
        qa[str(length)] = items
    short = []
    for _ in range(64):
        length = rng.randint(8, 32)
        text = text_of(length - 2, rng, words)
        assert count(text) == length
        short.append(text)
    return {"single": single, "qa": qa, "short": short}


def build_base(workdir: Path) -> dict[str, str]:
    import torch
    from transformers import (
        ElectraConfig,
        ElectraForPreTraining,
        ElectraForQuestionAnswering,
        ElectraForSequenceClassification,
    )

    tokenizer = make_tokenizer()
    labels = ["negative", "positive"]
    builders = {
        "discriminator": (ElectraForPreTraining, {}),
        "sentiment": (
            ElectraForSequenceClassification,
            {
                "num_labels": 2,
                "id2label": dict(enumerate(labels)),
                "label2id": {label: i for i, label in enumerate(labels)},
            },
        ),
        "qa": (ElectraForQuestionAnswering, {}),
    }
    paths = {}
    for index, (slot, (cls, extra)) in enumerate(builders.items()):
        path = workdir / "base" / slot
        paths[slot] = str(path)
        if (path / "model.safetensors").is_file() and (path / "tokenizer_config.json").is_file():
            continue
        torch.manual_seed(index)
        cfg = ElectraConfig(**SHAPE, **extra)
        cfg.electra_demo_random_weights = True  # the app says plainly: random weights
        model = cls(cfg).eval()
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
        print(f"wrote {path}", file=sys.stderr)
    return paths


def build_tiny(workdir: Path) -> dict[str, str]:
    from electra_demo import config
    from electra_demo.tools.tiny import ensure_tiny

    env = ensure_tiny(workdir / "tiny")
    return {name: env[slot.env_var] for name, slot in config.REGISTRY.items()}


def ensure_all(workdir: Path) -> dict:
    """Build whatever is missing; return {"base": {...}, "tiny": {...}, "texts": path}."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = build_base(workdir)
    tiny = build_tiny(workdir)
    texts_path = workdir / "texts.json"
    if not texts_path.is_file():
        texts_path.write_text(json.dumps(build_texts(make_tokenizer()), indent=1))
    for path in base.values():  # every benchmark checkpoint keeps the random-weights marker
        cfg = json.loads((Path(path) / "config.json").read_text())
        assert cfg.get("electra_demo_random_weights") is True, path
    return {"base": base, "tiny": tiny, "texts": str(texts_path)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(ensure_all(args.workdir)))


if __name__ == "__main__":
    main()
