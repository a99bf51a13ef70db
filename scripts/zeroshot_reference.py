"""Dev-only check: /zeroshot's ``nli`` scores equal transformers 4.x's real
``ZeroShotClassificationPipeline`` on the same checkpoint (transformers 5 dropped the pipeline, so
the suite checks the pipeline's published formula instead, in tests/test_zeroshot.py).

Set up transformers 4.x beside the project's venv once (torch pinned, or pip fetches a CUDA build):

    python3.11 -m venv /tmp/tf4 && /tmp/tf4/bin/pip install "transformers<5" torch==2.13.0

then, from the repository root:

    .venv/bin/python scripts/zeroshot_reference.py --python /tmp/tf4/bin/python

It writes small NLI checkpoints with spread-out scores (tests/helpers/zeroshot.py; one with the
labels in MNLI's order, one reversed, so the entailment index is found by name), scores cases
through the demo's service, runs the 4.x pipeline on each in the other venv, and prints the
largest difference per case; it exits 1 when one exceeds 1e-5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from electra_demo.service import ModelService
from tests.helpers.zeroshot import REVERSED, write_sharp

TOLERANCE = 1e-5
CASES = [  # (text, labels, template, multi_label)
    ("The team won the match last night.", ["sports", "politics", "science"], "It was {}.", False),
    ("The team won the match last night.", ["sports", "politics", "science"], "It was {}.", True),
    (
        "I can't believe they threw me a surprise party!",
        ["joy", "anger", "fear", "surprise", "sadness"],
        "This text is about {}.",
        False,
    ),
    ("Stocks fell sharply today. " * 120, ["finance", "cooking"], "The topic is {}.", True),
]
PIPELINE = """
import json, sys
import transformers
cases = json.load(sys.stdin)
out = {}
for name, directory in cases["checkpoints"].items():
    pipe = transformers.pipeline("zero-shot-classification", model=directory, device="cpu")
    out[name] = []
    for text, labels, template, multi in cases["cases"]:
        got = pipe(text, candidate_labels=labels, hypothesis_template=template, multi_label=multi)
        out[name].append(dict(zip(got["labels"], got["scores"])))
print(json.dumps({"version": transformers.__version__, "scores": out}))
"""


def ours(environ: dict[str, str]) -> list[dict[str, float]]:
    service = ModelService(
        environ={**environ, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "fp32"}
    )
    return [
        dict(service.zeroshot(text, labels, template, "nli", multi).labels)
        for text, labels, template, multi in CASES
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="/tmp/tf4/bin/python", help="a python with transformers<5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        environs = {
            "mnli-order": write_sharp(Path(root) / "mnli-order"),
            "reversed": write_sharp(Path(root) / "reversed", REVERSED),
        }
        checkpoints = {name: env["ELECTRA_DEMO_NLI"] for name, env in environs.items()}
        request = json.dumps({"checkpoints": checkpoints, "cases": CASES})
        done = subprocess.run(
            [args.python, "-c", PIPELINE], input=request, capture_output=True, text=True, check=True
        )
        reference = json.loads(done.stdout.strip().splitlines()[-1])
        worst = 0.0
        print(f"transformers {reference['version']} ZeroShotClassificationPipeline vs /zeroshot (nli)")
        print("| checkpoint | case | labels | multi_label | max abs difference |\n|---|---|---|---|---|")
        for name, environ in environs.items():
            answers = zip(ours(environ), reference["scores"][name], strict=True)
            for index, (mine, theirs) in enumerate(answers):
                assert set(mine) == set(theirs)
                difference = max(abs(mine[label] - theirs[label]) for label in mine)
                worst = max(worst, difference)
                print(f"| {name} | {index} | {len(mine)} | {CASES[index][3]} | {difference:.2e} |")
    print(f"largest difference {worst:.2e} (tolerance {TOLERANCE:g})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
