"""Hostile and odd inputs through every endpoint, over HTTP.

Each input gets either an answer that keeps the endpoint's contract (``text == input[start:end]``
and the rest of the README's promises) or a clean error: a message that says what is wrong,
with no traceback, no path of the server's code, and no wall of echoed input. Every request
runs under a timeout, so a hang fails instead of blocking the suite, and after the whole table
the server still answers normal requests.

Most requests go through ``gradio_client``. Values it cannot send (lone surrogates: it encodes
its JSON as UTF-8; NaN and infinities: it writes strict JSON) go as raw HTTP to
``/gradio_api/call/<endpoint>`` with the JSON body written by hand.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from gradio_client.exceptions import AppError

from electra_demo import config

TIMEOUT = 60.0  # seconds for any one request: generous, a hang fails instead of blocking
QUICK = 5.0  # seconds: what a refusal by the character limit may take, megabytes included
DURATIONS: list[tuple[str, float]] = []  # (request id, seconds), checked at the end of the file

# the two opaque messages a user must never get for their own input
GENERIC = re.compile(r"Something went wrong|upstream Gradio app has raised an exception|^None$")
CODE_PATH = re.compile(r"Traceback|File \"|\.py\b|site-packages|electra_demo/|/work/")
MAX_MESSAGE = 600  # characters; a message that echoes a megabyte of input is not clear

EMPTY = r"it is empty"
TOO_LONG = r"characters long; the limit is"
UNREADABLE = r"no characters the model can read"
NO_PAIR = r"compares two texts: please give the second one"
SURROGATE = r"(?i)surrogate|invalid (unicode|character|text)|not valid (unicode|utf-8|text)"
CONTEXT = "Marie Curie worked at the University of Paris. She was born in Warsaw in 1867."
QUESTION = "Where was Marie Curie born?"
PREMISE = "A man is cooking dinner in the kitchen."


# ---- contracts ------------------------------------------------------------------------------
def joined(highlighted: list[dict]) -> str:
    return "".join(segment["token"] for segment in highlighted)


def check_spans(text: str, spans: list[dict], threshold: float) -> None:
    previous_end = 0
    for span in spans:
        start, end = span["start"], span["end"]
        assert 0 <= start < end <= len(text), span
        assert start >= previous_end, f"spans overlap or are out of order at {span}"
        previous_end = end
        assert span["text"] == text[start:end], span
        assert 0.0 <= span["probability"] <= 1.0, span
        assert span["replaced"] == (span["probability"] > threshold), span


def check_detect(args: tuple, outputs: tuple) -> None:
    text, threshold = args
    tokens, words, summary, table, data = outputs
    assert set(data) == {"tokens", "words", "threshold"}
    assert data["threshold"] == threshold
    assert data["tokens"], "an answer scores at least one token"
    check_spans(text, data["tokens"], threshold)
    check_spans(text, data["words"], threshold)
    assert joined(tokens) == text
    assert joined(words) == text
    assert len(table["data"]) == len(data["tokens"])
    assert "words look replaced" in summary


def check_corrupt(args: tuple, outputs: tuple) -> None:
    text, _fraction, _seed = args
    original, corrupted, view, summary, data = outputs
    assert "words masked" in summary
    assert data["original"] == text
    new = data["corrupted"]
    previous_end = 0
    for r in data["replacements"]:
        assert previous_end <= r["start"] < r["end"] <= len(new), r
        previous_end = r["end"]
        assert new[r["start"] : r["end"]] == r["replacement"], r
        assert r["replacement"] != r["original"], r
    check_spans(new, data["tokens"], config.DEFAULT_THRESHOLD)
    for value in data["metrics"].values():
        assert value is None or 0.0 <= value <= 1.0, data["metrics"]
    assert joined(original) == text
    assert joined(corrupted) == new
    assert joined(view) == new


def check_classify(args: tuple, outputs: tuple) -> None:
    head = args[0]
    label, summary, data = outputs
    assert data["head"] == head and data["model"] in summary
    scores = [x["score"] for x in data["labels"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert math.isclose(sum(scores), 1.0, abs_tol=1e-4)  # the tiny heads are all softmax heads
    assert label["label"] == data["labels"][0]["label"]
    assert isinstance(data["truncated"], bool)


def check_tag(args: tuple, outputs: tuple) -> None:
    text, _aggregation = args
    highlighted, summary, table, data = outputs
    for entity in data["entities"]:
        assert 0 <= entity["start"] < entity["end"] <= len(text), entity
        assert entity["text"] == text[entity["start"] : entity["end"]], entity
        assert 0.0 <= entity["score"] <= 1.0, entity
        assert entity["label"], entity
    assert joined(highlighted) == text
    assert len(table["data"]) == len(data["entities"])
    assert f"{len(data['entities'])} entities" in summary


def check_answer(args: tuple, outputs: tuple) -> None:
    context = args[1]
    top_k = args[2] if len(args) > 2 else config.QA_TOP_K
    highlighted, summary, table, data = outputs
    answers = data["answers"]
    assert 1 <= len(answers) <= top_k
    for a in answers:
        assert 0 <= a["start"] <= a["end"] <= len(context), a
        assert a["text"] == context[a["start"] : a["end"]], a
        if not a["text"]:
            assert a["start"] == a["end"] == 0, a
    assert data["no_answer"] == (answers[0]["text"] == "")
    assert ("No answer in this context" in summary) == data["no_answer"]
    assert data["settings"]["top_k"] == top_k
    assert joined(highlighted) == context
    assert len(table["data"]) == len(answers)


def check_explain(args: tuple, outputs: tuple) -> None:
    task, text, pair = args[:3]
    words_html, tokens_html, summary, notes, bars, data = outputs
    keys = "task model method steps target score baseline_score delta truncated tokens words"
    assert set(data) == set(keys.split())
    assert data["task"] == task and data["tokens"], data
    sources = (text, pair or "")
    for piece in data["tokens"] + data["words"]:
        assert piece["segment"] in (0, 1), piece
        source = sources[piece["segment"]]
        assert 0 <= piece["start"] < piece["end"] <= len(source), piece
        assert piece["text"] == source[piece["start"] : piece["end"]], piece
        assert math.isfinite(piece["attribution"]), piece
    total = sum(p["attribution"] for p in data["tokens"])
    assert math.isclose(total, sum(p["attribution"] for p in data["words"]), rel_tol=1e-6, abs_tol=1e-9)
    for view in (words_html, tokens_html):  # user text is escaped: no markup of theirs survives
        assert "<script" not in view and "<img" not in view and "{{" not in view, view[:300]
    assert isinstance(summary, str) and summary
    assert "f(input) =" in notes  # numbers and fixed words only
    assert len(bars["data"]) == min(10, len(data["words"]))


CONTRACTS: dict[str, Callable[[tuple, tuple], None]] = {
    "/detect": check_detect,
    "/corrupt": check_corrupt,
    "/classify": check_classify,
    "/tag": check_tag,
    "/answer": check_answer,
    "/explain": check_explain,
}


def check_clean_error(message: str | None, expected: str) -> None:
    assert message is not None, "the error has no message at all"
    assert not GENERIC.search(message), f"an opaque message instead of a clear one: {message[:300]!r}"
    assert re.search(expected, message), f"{message[:300]!r} does not match {expected!r}"
    assert not CODE_PATH.search(message), f"the message leaks code: {message[:300]!r}"
    assert len(message) <= MAX_MESSAGE, f"a {len(message):,}-character message: {message[:120]!r}..."


# ---- calling the app ---------------------------------------------------------------------------
def call(client, endpoint: str, args: tuple, name: str) -> tuple[tuple | None, str | None]:
    """(outputs, None) for an answer or (None, message) for an AppError, within TIMEOUT."""
    started = time.monotonic()
    job = client.submit(*args, api_name=endpoint)
    try:
        outputs = job.result(timeout=TIMEOUT)
        return tuple(outputs), None
    except AppError as error:
        return None, str(error)
    except TimeoutError:
        job.cancel()
        pytest.fail(f"{endpoint} did not answer within {TIMEOUT:.0f} s")
    finally:
        DURATIONS.append((name, time.monotonic() - started))


def call_raw(app_url: str, endpoint: str, body: str, name: str) -> tuple[tuple | None, str | None]:
    """The same over plain HTTP, for values gradio_client cannot send: body is the JSON text."""
    started = time.monotonic()
    base = app_url.rstrip("/") + "/gradio_api/call" + endpoint
    try:
        with httpx.Client(timeout=TIMEOUT) as http:
            posted = http.post(base, content=body.encode(), headers={"content-type": "application/json"})
            assert posted.status_code == 200, posted.text[:300]
            stream = http.get(f"{base}/{posted.json()['event_id']}")
    except httpx.TimeoutException:
        pytest.fail(f"{endpoint} did not answer within {TIMEOUT:.0f} s")
    finally:
        DURATIONS.append((name, time.monotonic() - started))
    event = data = None
    for line in stream.text.splitlines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event in ("complete", "error"):
            data = json.loads(line[len("data: ") :])
            break
    if event == "complete":
        return tuple(data), None
    assert event == "error", f"no result in the event stream: {stream.text[:300]!r}"
    return None, (data or {}).get("error")


def check_outcome(endpoint, args, outputs, message, expected) -> None:
    if expected is None:
        assert message is None, f"expected an answer, got an error: {message and message[:300]!r}"
        CONTRACTS[endpoint](args, outputs)
    else:
        assert outputs is None, f"expected an error matching {expected!r}, got an answer"
        check_clean_error(message, expected)


# ---- the table of hostile texts ----------------------------------------------------------------
# Where a text goes: each slot is one endpoint with the text in one of its text inputs.
SLOTS: dict[str, Callable[[str], tuple[str, tuple]]] = {
    "detect": lambda t: ("/detect", (t, 0.5)),
    "corrupt": lambda t: ("/corrupt", (t, 0.5, 7)),
    "classify": lambda t: ("/classify", ("sentiment", t, "")),
    "nli-pair": lambda t: ("/classify", ("nli", PREMISE, t)),
    "tag": lambda t: ("/tag", (t, "simple")),
    "explain": lambda t: ("/explain", ("sentiment", t, "", "", "gradient_x_input", 32)),
    "question": lambda t: ("/answer", (t, CONTEXT, 3)),
    "context": lambda t: ("/answer", (QUESTION, t, 3)),
}
ALL = tuple(SLOTS)


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str
    errors: Mapping[str, str] = field(default_factory=dict)  # slot -> regex; other slots answer
    quick: bool = False  # must be refused within QUICK seconds


def errors(regex: str, slots=ALL, **more: str) -> dict[str, str]:
    return {**dict.fromkeys(slots, regex), **more}


MEGABYTE = 1_000_000
AT_LIMIT = ("ab " * (config.MAX_TEXT_CHARS // 3 + 1))[: config.MAX_TEXT_CHARS - 1] + "z"
LONG_QUESTION = ("a " * config.MAX_QUESTION_CHARS)[: config.MAX_QUESTION_CHARS]  # 500 tokens
TEXT_SLOTS = ("detect", "corrupt", "tag", "explain")  # where a text with no readable character is refused

HOSTILE = [
    Hostile("empty", "", errors(EMPTY, **{"nli-pair": NO_PAIR})),
    Hostile("whitespace", " \t\n\r \u3000\u00a0 ", errors(EMPTY, **{"nli-pair": NO_PAIR})),
    Hostile("newlines", "\n\n\n", errors(EMPTY, **{"nli-pair": NO_PAIR})),
    Hostile("one-letter", "a"),
    Hostile("one-dot", "."),
    Hostile("megabyte", "x" * MEGABYTE, errors(TOO_LONG), quick=True),
    Hostile("megabyte-of-words", "word " * (MEGABYTE // 5), errors(TOO_LONG), quick=True),
    Hostile("megabyte-of-emoji", "😀" * (MEGABYTE // 4), errors(TOO_LONG), quick=True),
    Hostile("at-the-limit", AT_LIMIT, {"question": TOO_LONG}),
    Hostile("one-over-the-limit", AT_LIMIT + "z", errors(TOO_LONG, ALL[:-1])),  # context: 50,000
    Hostile("question-500-tokens", LONG_QUESTION, {"question": r"500 tokens long; the limit is 64"}),
    Hostile("nul", "The chef\x00 cooked\x00the meal."),
    Hostile("control-only", "\x00\x01\x02\x1b\x7f", errors(UNREADABLE, TEXT_SLOTS)),
    Hostile("control-mixed", "The\x07 chef\x1b[31m cooked\r\nthe\x0bmeal\x0c.\x1b[0m"),
    Hostile("one-5000-char-word", "a" * 5000, {"question": TOO_LONG}),
    Hostile("one-5000-char-mixed-word", "Supercalifragilistic9é" * 227, {"question": TOO_LONG}),
    Hostile("punctuation-only", "!?.,;:'\"()[]{}<>@#$%^&*-_=+\\|/~`"),
    Hostile("emoji-only", "😀🎉🔥👍🏽💯"),
    Hostile("zwj-emoji", "👨‍👩‍👧‍👦 and 👩🏽‍💻 met 🏳️‍🌈."),
    Hostile("zero-width-in-words", "zero\u200dwidth\u200cjoin\u200b space\ufeff here"),
    Hostile("zero-width-only", "\u200b\u200c\u200d\ufeff\u2060", errors(UNREADABLE, TEXT_SLOTS)),
    Hostile("rtl-ltr-mixed", "The word שלום means peace; مرحبا means hello, 123 and 4.5."),
    Hostile("bidi-controls", "\u202eevil\u202c text \u2066isolate\u2069 \u200fRLM\u200e LRM"),
    Hostile("combining-marks", "e\u0301 n\u0303 Z̴̡̛̤͎a̸̗͊l̷̰̓g̶̱̈́o̵̧͛ text"),
    Hostile("nfd-and-nfc", "Cafe\u0301 cafe\u0301 café CAFÉ"),
    Hostile("astral-letters", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 and 𠜎𠜱 text"),
    Hostile("cjk", "東京は日本の首都です。北京是中国的首都。"),
    Hostile("private-use-only", "\ue000\uf8ff\U000f0000", errors(UNREADABLE, TEXT_SLOTS)),
    Hostile("line-separators", "one\u2028two\u2029three\x85four\x1cfive"),
    Hostile("bom-first", "\ufeffHello there, world."),
    Hostile("html", "<b>bold</b> <i>it</i> &amp; &lt;tag&gt; <div style='x'>d</div>"),
    Hostile("script", "<script>alert(1)</script> and <svg onload=alert(2)>"),
    Hostile("img-onerror", '<img src=x onerror="alert(1)"> text'),
    Hostile("markdown", "[click](javascript:alert(1)) and ![img](http://example.com/a.png) **b**"),
    Hostile("markdown-block", "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```py\nprint(1)\n```"),
    Hostile("injection", "'; DROP TABLE users; -- $(rm -rf /) `id` {{7*7}} ${7*7} %s %n {0}"),
    Hostile("json-like", '{"data": [1, 2], "__proto__": {"x": 1}, "fn_index": 0}'),
    Hostile("paths", "../../etc/passwd /etc/passwd C:\\Windows\\system32 file:///etc/passwd"),
    Hostile("special-tokens", "[CLS] [SEP] [MASK] [PAD] [UNK] hello [SEP]"),
]


def hostile_params():
    for case in HOSTILE:
        for slot in SLOTS:
            yield pytest.param(case, slot, id=f"{case.name}-{slot}")


@pytest.mark.parametrize("case, slot", hostile_params())
def test_hostile_text(client, case: Hostile, slot: str):
    endpoint, args = SLOTS[slot](case.text)
    started = time.monotonic()
    outputs, message = call(client, endpoint, args, f"{case.name}-{slot}")
    elapsed = time.monotonic() - started
    check_outcome(endpoint, args, outputs, message, case.errors.get(slot))
    if case.quick:
        assert elapsed < QUICK, f"refusing {len(case.text):,} characters took {elapsed:.1f} s"


# ---- parameters: thresholds, fractions, seeds, heads, strategies, QA settings -----------------
BOUNDS = r"between 0 and 1|less than minimum value 0|greater than maximum value 1"
SEED_RANGE = r"seed must be between 0 and 4294967295"
WHOLE_SEED = r"seed must be a whole number"
UNKNOWN_HEAD = r"not in the list of choices|Unknown head"
UNKNOWN_AGGREGATION = r"not in the list of choices|Unknown aggregation"
TOP_K = r"top_k|less than minimum value 1|greater than maximum value 20"
T = "The chef cooked the meal in the kitchen."
GXI, IG = "gradient_x_input", "integrated_gradients"
UNKNOWN_TASK = r"Unknown task .*expected one of: sentiment, emotion, nli, detect, qa"
UNKNOWN_FT = r"no fine-tuned head with that id|Unknown or expired model id"


PARAMETERS = [
    # /detect: threshold
    ("threshold-0", "/detect", (T, 0.0), None),
    ("threshold-1", "/detect", (T, 1.0), None),
    ("threshold-negative", "/detect", (T, -0.1), BOUNDS),
    ("threshold-above-1", "/detect", (T, 1.5), BOUNDS),
    ("threshold-huge", "/detect", (T, 1e308), BOUNDS),
    ("threshold-text", "/detect", (T, "abc"), r"(?i)threshold"),
    ("threshold-none", "/detect", (T, None), r"(?i)threshold"),
    # /corrupt: fraction and seed
    ("fraction-0", "/corrupt", (T, 0.0, 1), None),
    ("fraction-1", "/corrupt", (T, 1.0, 1), None),
    ("fraction-negative", "/corrupt", (T, -0.5, 1), BOUNDS),
    ("fraction-above-1", "/corrupt", (T, 1.5, 1), BOUNDS),
    ("seed-1.5", "/corrupt", (T, 0.3, 1.5), WHOLE_SEED),
    ("seed-abc", "/corrupt", (T, 0.3, "abc"), WHOLE_SEED),
    ("seed-none", "/corrupt", (T, 0.3, None), WHOLE_SEED),
    ("seed-bool", "/corrupt", (T, 0.3, True), WHOLE_SEED),
    ("seed-negative", "/corrupt", (T, 0.3, -1), SEED_RANGE),
    ("seed-negative-text", "/corrupt", (T, 0.3, "-3"), SEED_RANGE),
    ("seed-2**32", "/corrupt", (T, 0.3, 2**32), SEED_RANGE),
    ("seed-1e30", "/corrupt", (T, 0.3, 1e30), SEED_RANGE),
    ("seed-max", "/corrupt", (T, 0.3, 2**32 - 1), None),
    ("seed-whole-float", "/corrupt", (T, 0.3, 7.0), None),
    ("seed-digits-text", "/corrupt", (T, 0.3, "7"), None),
    # /classify: heads and pairs
    ("head-unknown", "/classify", ("sarcasm", T, ""), UNKNOWN_HEAD),
    ("head-case", "/classify", ("SENTIMENT", T, ""), UNKNOWN_HEAD),
    ("head-space", "/classify", ("sentiment ", T, ""), UNKNOWN_HEAD),
    ("head-empty", "/classify", ("", T, ""), UNKNOWN_HEAD),
    ("head-none", "/classify", (None, T, ""), UNKNOWN_HEAD),
    ("head-slot-not-a-head", "/classify", ("discriminator", T, ""), UNKNOWN_HEAD),
    ("head-path", "/classify", ("/etc/passwd", T, ""), UNKNOWN_HEAD),
    ("head-hub-id", "/classify", ("google/electra-base-discriminator", T, ""), UNKNOWN_HEAD),
    ("head-100k", "/classify", ("x" * 100_000, T, ""), UNKNOWN_HEAD),
    ("pair-with-sentiment", "/classify", ("sentiment", T, "It was good."), r"reads one text"),
    ("pair-with-emotion", "/classify", ("emotion", T, "It was good."), r"reads one text"),
    ("nli-without-pair", "/classify", ("nli", T, ""), NO_PAIR),
    ("nli-pair-none", "/classify", ("nli", T, None), NO_PAIR),
    ("sentiment-pair-none", "/classify", ("sentiment", T, None), None),
    ("nli-pair-megabyte", "/classify", ("nli", T, "x" * MEGABYTE), r"second text is 1,000,000 characters"),
    # /tag: aggregation
    *[(f"aggregation-{a}", "/tag", (T, a), None) for a in config.AGGREGATIONS],
    ("aggregation-unknown", "/tag", (T, "bogus"), UNKNOWN_AGGREGATION),
    ("aggregation-case", "/tag", (T, "SIMPLE"), UNKNOWN_AGGREGATION),
    ("aggregation-empty", "/tag", (T, ""), UNKNOWN_AGGREGATION),
    ("aggregation-none", "/tag", (T, None), UNKNOWN_AGGREGATION),
    ("aggregation-100k", "/tag", (T, "y" * 100_000), UNKNOWN_AGGREGATION),
    # /answer: the question's length, top_k and the other settings
    ("question-10000-tokens", "/answer", ("what " * 10_000, CONTEXT, 3), r"question is 50,000 characters"),
    ("question-65-tokens", "/answer", ("a " * 65, CONTEXT, 3), r"65 tokens long; the limit is 64"),
    ("question-64-tokens", "/answer", ("a " * 64, CONTEXT, 3), None),
    ("context-50000", "/answer", (QUESTION, ("word " * 10_000)[:50_000], 3), None),
    ("context-50001", "/answer", (QUESTION, "w" * 50_001, 3), r"context is 50,001 characters"),
    ("top_k-1", "/answer", (QUESTION, CONTEXT, 1), None),
    ("top_k-20", "/answer", (QUESTION, CONTEXT, 20), None),
    ("top_k-0", "/answer", (QUESTION, CONTEXT, 0), TOP_K),
    ("top_k-negative", "/answer", (QUESTION, CONTEXT, -1), TOP_K),
    ("top_k-21", "/answer", (QUESTION, CONTEXT, 21), TOP_K),
    ("top_k-huge", "/answer", (QUESTION, CONTEXT, 10**9), TOP_K),
    ("top_k-2.5", "/answer", (QUESTION, CONTEXT, 2.5), r"whole number"),
    ("top_k-text", "/answer", (QUESTION, CONTEXT, "abc"), r"top_k"),
    ("max_answer_len-0", "/answer", (QUESTION, CONTEXT, 3, 0), r"minimum value 1|maximum answer length"),
    ("max_answer_len-huge", "/answer", (QUESTION, CONTEXT, 3, 10**6), r"maximum value|maximum answer"),
    ("max_seq_len-tiny", "/answer", (QUESTION, CONTEXT, 3, 15, True, 10, 0), r"minimum value 64|window size"),
    ("max_seq_len-huge", "/answer", (QUESTION, CONTEXT, 3, 15, True, 10**6, 128), r"maximum value|window"),
    ("doc_stride-negative", "/answer", (QUESTION, CONTEXT, 3, 15, True, 384, -1), r"minimum value 0|stride"),
    ("doc_stride-over-window", "/answer", (QUESTION, CONTEXT, 3, 15, True, 64, 256), r"stride"),
    ("doc_stride-no-room", "/answer", (QUESTION, CONTEXT, 3, 15, True, 64, 60), r"stride \(60 tokens\)"),
    ("doc_stride-0", "/answer", (QUESTION, "word " * 2000, 3, 15, True, 64, 0), None),
    ("impossible-text", "/answer", (QUESTION, CONTEXT, 3, 15, "yes"), r"true or false"),
    ("impossible-false", "/answer", (QUESTION, CONTEXT, 3, 15, False), None),
    # /explain: task, method, steps, target and the second text
    *[
        (f"explain-{name}", "/explain", (task, text, pair, target, method, steps), expected)
        for name, task, text, pair, target, method, steps, expected in [
            ("task-unknown", "sarcasm", T, "", "", GXI, 32, UNKNOWN_TASK),
            ("task-none", None, T, "", "", GXI, 32, UNKNOWN_TASK),
            ("task-100k", "x" * 100_000, T, "", "", GXI, 32, UNKNOWN_TASK),
            ("task-slot-not-a-task", "ner", T, "", "", GXI, 32, UNKNOWN_TASK),
            ("task-hub-id", "google/electra-base-discriminator", T, "", "", GXI, 32, UNKNOWN_TASK),
            ("task-ft-unknown", "ft-0123456789abcdef", T, "", "", GXI, 32, UNKNOWN_FT),
            ("method-unknown", "sentiment", T, "", "", "shap", 32, r"Unknown method 'shap'"),
            ("method-none", "sentiment", T, "", "", None, 32, r"Unknown method"),
            ("steps-0", "sentiment", T, "", "", IG, 0, r"from 1 to 256; got 0"),
            ("steps-257", "sentiment", T, "", "", IG, 257, r"from 1 to 256; got 257"),
            ("steps-1.5", "sentiment", T, "", "", IG, 1.5, r"whole number"),
            ("steps-text", "sentiment", T, "", "", IG, "abc", r"whole number"),
            ("steps-none", "sentiment", T, "", "", IG, None, r"whole number"),
            ("steps-1", "sentiment", T, "", "", IG, 1, None),
            ("steps-256", "sentiment", T, "", "", IG, 256, None),
            (
                "target-unknown-label",
                "emotion",
                T,
                "",
                "bliss",
                GXI,
                32,
                r"Unknown label for the emotion head",
            ),
            ("target-label", "emotion", T, "", "fear", IG, 8, None),
            ("target-100k", "emotion", T, "", "x" * 100_000, GXI, 32, r"target is 100,000 characters"),
            ("target-number", "emotion", T, "", 7, GXI, 32, r"target must be a string"),
            ("detect-target", "detect", T, "", "kitchen", IG, 8, None),
            ("detect-target-missing", "detect", T, "", "garden", GXI, 32, r"does not occur in the text"),
            ("detect-pair", "detect", T, "It was good.", "", GXI, 32, r"reads one text"),
            ("sentiment-pair", "sentiment", T, "It was good.", "", GXI, 32, r"reads one text"),
            ("nli", "nli", PREMISE, "Someone cooks.", "", IG, 8, None),
            ("nli-without-pair", "nli", T, "", "", GXI, 32, r"please give the hypothesis"),
            ("nli-pair-megabyte", "nli", T, "x" * MEGABYTE, "", GXI, 32, r"second text is 1,000,000"),
            ("qa", "qa", QUESTION, CONTEXT, "", IG, 8, None),
            ("qa-target", "qa", QUESTION, CONTEXT, "Paris", GXI, 32, None),
            ("qa-target-missing", "qa", QUESTION, CONTEXT, "Rome", GXI, 32, r"does not occur in the context"),
            ("qa-no-context", "qa", QUESTION, "", "", GXI, 32, r"Please enter some context"),
            ("qa-long-question", "qa", "a " * 600, CONTEXT, "", GXI, 32, r"question is 1,200 characters"),
        ]
    ],
]


def parameter_params():
    for name, endpoint, args, expected, *marks in PARAMETERS:
        yield pytest.param(endpoint, args, expected, id=name, marks=marks)


@pytest.mark.parametrize("endpoint, args, expected", parameter_params())
def test_hostile_parameter(client, request, endpoint: str, args: tuple, expected: str | None):
    outputs, message = call(client, endpoint, args, request.node.callspec.id)
    check_outcome(endpoint, args, outputs, message, expected)


# ---- values only raw JSON can carry: lone surrogates, NaN, infinities ------------------------------
RAW = [
    # (id, endpoint, the JSON list of arguments as written, expected, marks)
    ("surrogate-detect", "/detect", r'["\ud800", 0.5]', SURROGATE),
    ("surrogate-in-word-detect", "/detect", r'["ab\udfffcd ef", 0.5]', SURROGATE),
    (
        "surrogate-corrupt",
        "/corrupt",
        r'["the \ud800 chef cooked", 1.0, 1]',
        SURROGATE,
    ),
    ("surrogate-classify", "/classify", r'["sentiment", "\ud800", ""]', SURROGATE),
    (
        "surrogate-nli-pair",
        "/classify",
        r'["nli", "A man cooks.", "\udc00 x"]',
        SURROGATE,
    ),
    ("surrogate-tag", "/tag", r'["\udfff Paris", "simple"]', SURROGATE),
    (
        "surrogate-question",
        "/answer",
        r'["where\ud800?", "Paris is big.", 3, 15, true, 384, 128]',  # plain HTTP sends every argument
        SURROGATE,
    ),
    (
        "surrogate-context",
        "/answer",
        r'["where?", "Paris \ud800 is big.", 3, 15, true, 384, 128]',
        SURROGATE,
    ),
    ("surrogate-head", "/classify", r'["\ud800", "hi", ""]', UNKNOWN_HEAD),
    ("surrogate-aggregation", "/tag", r'["hi", "\ud800"]', UNKNOWN_AGGREGATION),
    ("surrogate-pair-ok", "/detect", r'["smile \ud83d\ude00 now", 0.5]', None),  # a valid pair: fine
    ("threshold-nan", "/detect", '["The chef cooked.", NaN]', r"threshold must be between 0 and 1; got nan"),
    ("threshold-infinity", "/detect", '["The chef cooked.", Infinity]', BOUNDS),
    ("threshold-minus-infinity", "/detect", '["The chef cooked.", -Infinity]', BOUNDS),
    ("fraction-nan", "/corrupt", '["The chef cooked.", NaN, 1]', r"fraction of words .* got nan"),
    ("seed-nan", "/corrupt", '["The chef cooked.", 0.5, NaN]', WHOLE_SEED),
    ("seed-infinity", "/corrupt", '["The chef cooked.", 0.5, Infinity]', WHOLE_SEED + "|" + SEED_RANGE),
    ("top_k-nan", "/answer", '["Where?", "In Paris.", NaN, 15, true, 384, 128]', r"top_k"),
    ("text-number", "/detect", "[12345, 0.5]", r"text must be a string; got int"),
    (
        "surrogate-explain",
        "/explain",
        r'["sentiment", "\ud800 hi", "", "", "gradient_x_input", 32]',
        SURROGATE,
    ),
    (
        "surrogate-explain-target",
        "/explain",
        r'["detect", "hi there", "", "\udc00", "gradient_x_input", 32]',
        r"does not occur",
    ),
    (
        "explain-steps-nan",
        "/explain",
        '["sentiment", "Hi.", "", "", "integrated_gradients", NaN]',
        r"steps.*got nan",
    ),
    (
        "explain-steps-infinity",
        "/explain",
        '["sentiment", "Hi.", "", "", "integrated_gradients", Infinity]',
        r"steps.*got inf",
    ),
]


def raw_params():
    for name, endpoint, arguments, expected, *marks in RAW:
        yield pytest.param(endpoint, arguments, expected, id=name, marks=marks)


@pytest.mark.parametrize("endpoint, arguments, expected", raw_params())
def test_hostile_raw_json(app_url, request, endpoint: str, arguments: str, expected: str | None):
    outputs, message = call_raw(app_url, endpoint, '{"data": ' + arguments + "}", request.node.callspec.id)
    args = tuple(json.loads(arguments))
    check_outcome(endpoint, args, outputs, message, expected)


def test_gradio_client_cannot_send_a_lone_surrogate(client):
    """Why the surrogates above go as raw HTTP: the client fails before sending anything."""
    with pytest.raises(UnicodeEncodeError):
        client.predict("\ud800", 0.5, api_name="/detect")


# ---- afterwards ---------------------------------------------------------------------------------
def test_server_still_answers_after_the_table(client, service):
    """Last in the file: no worker crashed, no request hung, every slot still healthy."""
    normal: list[tuple[str, tuple[Any, ...]]] = [
        ("/detect", ("The chef cooked the meal.", 0.5)),
        ("/corrupt", ("The chef cooked the meal in the kitchen.", 0.3, 5)),
        ("/classify", ("sentiment", "I loved it!", "")),
        ("/classify", ("nli", "A man cooks.", "Someone cooks.")),
        ("/tag", ("Marie Curie worked in Paris.", "simple")),
        ("/answer", (QUESTION, CONTEXT, 3)),
        ("/explain", ("emotion", "I loved it!", "", "", "integrated_gradients", 16)),
    ]
    for endpoint, args in normal:
        outputs, message = call(client, endpoint, args, f"after-{endpoint}")
        assert message is None, message
        CONTRACTS[endpoint](args, outputs)
    assert not [s for s in service.status().values() if s.startswith("failed")], service.status()
    slow = [(name, round(seconds, 1)) for name, seconds in DURATIONS if seconds >= TIMEOUT]
    assert not slow, slow
