"""Proofread (``/proofread``, ``/v1/proofread``, its MCP tool): the pure steps on hand-built inputs;
on the tiny checkpoints, the candidates' generator probabilities equal transformers' masked-LM
softmax on the same masked input, their replaced probabilities equal /detect on the substituted
text, ``corrected`` applies only verified candidates; then every way in: gradio_client, plain
HTTP, /v1 through the openai client (behind a key), MCP; and bad input on each.

The tiny checkpoints' weights are random (P(replaced) sits near 0.5), so words are flagged by the
threshold (0.0 flags every word), and nothing here judges the suggestions' language.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import shutil
import time
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import openai
import pytest

from electra_demo.checks import InputError
from electra_demo.page.tabs import proofread as tab
from electra_demo.service import ModelService
from electra_demo.tasks import proofread
from electra_demo.text.processing import Span, softmax
from electra_demo.trained.kinds import new_id
from electra_demo.trained.store import Meta
from tests.helpers.compare import Tolerance, assert_close

KEY = "sk-proofread"
# the page, /v1 (behind a key) and MCP, on PyTorch fp32 (``fp32``): numbers that do not depend on the CPU
SERVE = {
    "service": "fp32",
    "environ": {"ELECTRA_DEMO_API_KEYS": KEY, "ELECTRA_DEMO_RATE_LIMIT": "0"},
    "mcp_server": True,
}
TEXT = "I drank a cup of hot keyboard this morning."  # "keyboard" is 7 pieces in the tiny vocabulary
ROUNDING = Tolerance(rel=1e-5, abs=1e-5)  # rows batched with others differ by float rounding


def word(text: str, start: int, end: int, probability: float, threshold: float = 0.5) -> Span:
    return Span(text[start:end], start, end, probability, probability > threshold)


# ---- pure steps -------------------------------------------------------------------------------
def test_pick_keeps_the_most_suspicious_in_text_order():
    words = [word("abcdef", i, i + 1, p) for i, p in enumerate([0.9, 0.2, 0.7, 0.95, 0.7, 0.6])]
    assert proofread.pick(words, limit=3) == ([0, 2, 3], 5)  # 0.7 twice: the earlier one
    assert proofread.pick(words) == ([0, 2, 3, 4, 5], 5)
    assert proofread.pick(words[1:2]) == ([], 0)


def test_a_word_of_several_pieces_becomes_one_mask():
    ids, offsets = [10, 11, 12, 13, 14], [(0, 3), (4, 5), (5, 7), (7, 9), (10, 12)]
    assert proofread.mask_word(ids, offsets, (4, 9), 99) == ([10, 99, 14], 1)
    assert proofread.mask_word(ids, offsets, (0, 3), 99) == ([99, 11, 12, 13, 14], 0)
    assert proofread.mask_word(ids, offsets, (3, 4), 99) is None


def test_top_words_rank_allowed_ids_with_the_full_softmax():
    logits = np.array([5.0, 4.0, 3.0, 2.0, 1.0], dtype=np.float32)
    allowed = np.array([False, True, True, False, True])
    full = softmax(logits)
    assert proofread.top_words(logits, allowed, 2) == [
        (1, pytest.approx(full[1])),
        (2, pytest.approx(full[2])),
    ]
    assert [i for i, _ in proofread.top_words(logits, allowed, 10)] == [1, 2, 4]


def test_proposals_take_the_case_and_leave_out_the_original():
    lower = str.lower
    assert proofread.proposals(["coffee", "keyboard", "tea"], [0.5, 0.3, 0.2], "Keyboard", lower) == [
        ("Coffee", 0.5),
        ("Tea", 0.2),
    ]
    strip = {"café": "cafe", "cafe": "cafe"}.get
    assert proofread.proposals(
        ["cafe", "bar"], [0.6, 0.4], "café", lambda w: strip(w.lower(), w.lower())
    ) == [("bar", 0.4)]
    assert proofread.proposals(["usa"], [1.0], "NATO", lower) == [("USA", 1.0)]


def test_ranked_and_corrected_apply_only_passing_candidates():
    text = "She go  to school, by bus!"
    candidates = proofread.ranked([("goes", 0.4), ("went", 0.3)], [0.2, 0.1])
    assert [c.text for c in candidates] == ["went", "goes"]  # lowest replaced_probability first
    suggestions = [
        proofread.Suggestion(4, 6, "go", candidates),
        proofread.Suggestion(11, 17, "school", (proofread.Candidate("home", 0.2, 0.6),)),
        proofread.Suggestion(22, 25, "bus", (proofread.Candidate("car", 0.1, 0.49),)),
        proofread.Suggestion(0, 3, "She", ()),
    ]
    corrected, fixed = proofread.correct(text, sorted(suggestions, key=lambda s: s.start), 0.5)
    assert corrected == "She went  to school, by car!"  # spacing and punctuation kept
    assert [corrected[s:e] for s, e in fixed] == ["went", "car"]
    assert proofread.correct(text, suggestions[1:2], 0.5) == (text, [])


def test_chunks_bound_the_tokens_sent_at_once():
    rows = [([0] * n, [0] * n) for n in (3, 3, 5, 9, 1)]
    assert proofread.chunks(rows, 6) == [range(0, 2), range(2, 3), range(3, 4), range(4, 5)]
    assert proofread.chunks(rows, 100) == [range(0, 5)]
    assert proofread.chunks([], 6) == []


def test_the_tab_applies_a_row_or_all_only_to_the_text_it_proofread():
    text = "I go home ."
    result = {
        "words": [
            {"text": t, "start": s, "end": e}
            for t, s, e in (("I", 0, 1), ("go", 2, 4), ("home", 5, 9), (".", 10, 11))
        ],
        "suggestions": [{"start": 2, "end": 4, "original": "go", "candidates": [{"text": "went"}]}],
        "corrected": "I went home .",
    }
    assert tab.apply_candidate(text, result, ["go", 2, 4, "went", 0.1, 0.2, "yes"]) == "I went home ."
    assert tab.apply_candidate(text, result, ["go", "2", 4.0, "went"]) == "I went home ."
    assert tab.apply_all(text, result) == "I went home ."
    for stale_text, row in (
        ("I go home now.", ["go", 2, 4, "went"]),  # a word added
        ("I go hom .", ["go", 2, 4, "went"]),
        (text, ["go", 2, 4, "gone"]),  # not a candidate of the result
        (text, None),
    ):
        with pytest.raises(gr.Error, match="changed since it was proofread"):
            tab.apply_candidate(stale_text, result, row)
    with pytest.raises(gr.Error, match="changed since it was proofread"):
        tab.apply_all(text + " more", result)
    with pytest.raises(gr.Error, match="changed since it was proofread"):
        tab.apply_all(text, None)


# ---- the task on the tiny checkpoints -------------------------------------------------------------
@pytest.fixture(scope="module")
def fp32(tiny_env: dict[str, str]) -> ModelService:
    """PyTorch in fp32, for the comparisons with transformers called directly (the default backend
    may serve bf16, which is held to its own, looser, checks elsewhere)."""
    return ModelService(
        environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "fp32"}
    )


@pytest.fixture(scope="module")
def everything(fp32: ModelService) -> dict:
    """Every word flagged (threshold 0), five candidates each."""
    return fp32.proofread(TEXT, 0.0, 5).to_json()


def masked_lm_reference(directory: Path, masked_text: str) -> np.ndarray:
    """transformers called directly: the masked LM's softmax at the one [MASK] of ``masked_text``."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForMaskedLM.from_pretrained(directory).eval()
    batch = tokenizer(masked_text, return_tensors="pt")
    (position,) = (batch["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0].tolist()
    with torch.no_grad():
        logits = model(**batch).logits[0, position]
    return torch.softmax(logits, -1).numpy()


def test_candidates_are_the_generators_top_words_with_its_softmax(everything, tiny_dir: Path, fp32):
    tokenizer = fp32.load("generator").tokenizer
    words = everything["words"]
    assert [s["original"] for s in everything["suggestions"]] == [w["text"] for w in words]
    assert len(tokenizer.tokenize("keyboard")) > 1  # a word of several pieces: one [MASK] for it all
    allowed = proofread.word_ids(fp32.load("generator"))
    for suggestion in everything["suggestions"]:
        start, end = suggestion["start"], suggestion["end"]
        reference = masked_lm_reference(tiny_dir / "generator", TEXT[:start] + "[MASK]" + TEXT[end:])
        top = [i for i in np.argsort(-reference, kind="stable") if allowed[i]][:5]
        expected = {tokenizer.convert_ids_to_tokens(int(i)) for i in top} - {suggestion["original"].lower()}
        assert {c["text"].lower() for c in suggestion["candidates"]} == expected
        for candidate in suggestion["candidates"]:
            token = tokenizer.convert_tokens_to_ids(candidate["text"].lower())
            assert candidate["generator_probability"] == pytest.approx(float(reference[token]), abs=1e-4)


def test_replaced_probability_is_detect_on_the_substituted_text(everything, fp32):
    checked = 0
    for suggestion in everything["suggestions"]:
        probabilities = [c["replaced_probability"] for c in suggestion["candidates"]]
        assert probabilities == sorted(probabilities)
        for candidate in suggestion["candidates"]:
            new = TEXT[: suggestion["start"]] + candidate["text"] + TEXT[suggestion["end"] :]
            end = suggestion["start"] + len(candidate["text"])
            tokens = [
                t for t in fp32.detect(new, 0.5).tokens if t.start < end and t.end > suggestion["start"]
            ]
            assert candidate["replaced_probability"] == pytest.approx(
                float(np.mean([t.probability for t in tokens])), abs=1e-5
            )
            checked += 1
    assert checked >= 30


def test_corrected_applies_only_verified_candidates(fp32):
    threshold = 0.5
    result = fp32.proofread(TEXT, threshold, 3).to_json()
    assert result["threshold"] == threshold and result["flagged"] == sum(
        w["replaced"] for w in result["words"]
    )
    assert not result["limited"]
    fixes = []
    for suggestion in result["suggestions"]:
        passing = [c for c in suggestion["candidates"] if c["replaced_probability"] < threshold]
        if passing:
            assert passing[0] is suggestion["candidates"][0]
            fixes.append((suggestion["start"], suggestion["end"], passing[0]["text"]))
    assert 0 < len(fixes) < len(result["suggestions"])  # some words fixed, some left as written
    expected, position = "", 0
    for start, end, new in fixes:
        expected += TEXT[position:start] + new
        position = end
    assert result["corrected"] == expected + TEXT[position:]
    assert fp32.proofread(TEXT, 0.0, 3).corrected == TEXT  # nothing is below 0
    assert fp32.proofread(TEXT, 1.0, 3).to_json()["suggestions"] == []  # nothing is above 1


def test_at_most_32_words_get_suggestions_in_batched_passes(service):
    text = " ".join(["The chef cooked the meal in the kitchen."] * 6)  # 54 words
    generator = service.load("generator")
    before = generator.batcher.batches_run
    result = service.proofread(text, 0.0, 2)
    passes = generator.batcher.batches_run - before
    assert result.flagged == 54 and len(result.suggestions) == 32 and result.to_json()["limited"] is True
    checked = {(s.start, s.end) for s in result.suggestions}
    top = sorted(result.detection.words, key=lambda w: -w.probability)[:32]
    assert {(w.start, w.end) for w in top} == checked
    assert [s.start for s in result.suggestions] == sorted(s.start for s in result.suggestions)
    assert passes <= 32 // generator.batcher.max_rows + 1, passes  # 32 masked rows, not 32 calls


@pytest.mark.parametrize(
    "args, message",
    [
        ((TEXT, 0.5, 0), "top_k) must be from 1 to 10; got 0"),
        ((TEXT, 0.5, 11), "top_k) must be from 1 to 10; got 11"),
        ((TEXT, 0.5, 2.5), "top_k) must be a whole number"),
        ((TEXT, -0.1, 3), "threshold must be between 0 and 1"),
        ((TEXT, 1.5, 3), "threshold must be between 0 and 1"),
        ((TEXT, 0.5, 3, "gpt-4"), "The model must be empty"),
        ((TEXT, 0.5, 3, "ft-0123456789abcdef"), "The model must be empty"),
        ((TEXT, 0.5, 3, "ad-0123456789abcdef"), "Unknown or expired model id ad-0123456789abcdef"),
        (("   ", 0.5, 3), "Please enter some text"),
        (("x" * 20_001, 0.5, 3), "the limit is 20,000"),
    ],
)
def test_bad_input_is_refused_with_a_message(service, args, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.proofread(*args)


def test_an_adapted_pair_proofreads_by_its_id(fp32, tiny_dir: Path, everything):
    """An ``ad-`` id loads its own discriminator and generator (here copies of the tiny pair)."""
    model_id = new_id("adapt")
    staged = fp32.finetuned.staging(model_id)
    shutil.copytree(tiny_dir / "discriminator", staged)
    shutil.copytree(tiny_dir / "generator", staged / "generator")
    meta = Meta(
        model_id, "copy", "discriminator", "tiny", "apache-2.0", "adapt", (), False, time.time(), task="adapt"
    )
    fp32.finetuned.add(meta)
    mine = fp32.proofread(TEXT, 0.0, 5, model_id)
    assert mine.detection.model.resolved.source == model_id
    assert fp32.is_loaded(f"{model_id}:generator")
    assert_close(mine.to_json(), everything, ROUNDING)
    assert f"Your adapted model `{model_id}`" in tab.summary(mine)


# ---- every way in -------------------------------------------------------------------------------
def test_gradio_client_gets_the_task_json_and_the_views(gc, fp32):
    flagged, corrected, summary, table, page = gc.predict(TEXT, 0.5, 3, api_name="/proofread")
    assert_close(page, fp32.proofread(TEXT, 0.5, 3).to_json(), ROUNDING)
    assert list(page) == ["tokens", "words", "suggestions", "corrected", "threshold", "flagged", "limited"]
    assert "".join(part["token"] for part in flagged) == TEXT
    assert "".join(part["token"] for part in corrected) == page["corrected"]
    labels = {part["class_or_confidence"] for part in flagged} - {None}
    assert labels <= {tab.FIX, tab.NO_FIX} and tab.FIX in labels
    assert "Random weights" in summary and f"**{page['flagged']} of 10 words look replaced**" in summary
    assert table["headers"] == tab.COLUMNS
    assert len(table["data"]) == sum(len(s["candidates"]) for s in page["suggestions"])
    # the defaults: threshold 0.5, top_k 3, the demo's models
    assert_close(gc.predict(TEXT, api_name="/proofread")[-1], page, ROUNDING)


@pytest.mark.parametrize(
    "args, message",
    [
        ((TEXT, 0.5, 11), "top_k) must be from 1 to 10"),
        ((TEXT, 2, 3), "threshold must be between 0 and 1"),
        ((TEXT, 0.5, 3, "gpt-4"), "The model must be empty"),
        (("", 0.5, 3), "Please enter some text"),
    ],
)
def test_gradio_client_bad_input_is_a_clear_error(gc, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as error:
        gc.predict(*args, api_name="/proofread")
    assert message in str(error.value) and "Traceback" not in str(error.value)


def plain_call(url: str, data: list) -> tuple[str, object]:
    """POST /gradio_api/call/proofread, then its stream: (the last event, its data)."""
    posted = httpx.post(f"{url}/gradio_api/call/proofread", json={"data": data}, timeout=60)
    assert posted.status_code == 200, posted.text
    stream = httpx.get(f"{url}/gradio_api/call/proofread/{posted.json()['event_id']}", timeout=120).text
    event = [line for line in stream.splitlines() if line.startswith("event: ")][-1][7:]
    return event, json.loads([line for line in stream.splitlines() if line.startswith("data: ")][-1][6:])


def test_plain_http(url, fp32):
    event, outputs = plain_call(url, [TEXT, 0.5, 3])
    assert event == "complete"
    assert_close(outputs[-1], fp32.proofread(TEXT, 0.5, 3).to_json(), ROUNDING)
    event, message = plain_call(url, [TEXT, 0.5, 0])
    assert event == "error" and "must be from 1 to 10" in json.dumps(message)
    missing = httpx.post(f"{url}/gradio_api/call/v2/proofread", json={"threshold": 0.5}, timeout=30)
    assert missing.status_code == 422 and "text" in missing.json()["detail"]


@pytest.fixture(scope="module")
def api(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)


def test_v1_answers_the_page_json_behind_the_key(api, url, fp32):
    page = fp32.proofread(TEXT, 0.4, 2).to_json()
    for body in ({"input": TEXT, "threshold": 0.4, "top_k": 2}, {"text": TEXT, "threshold": 0.4, "top_k": 2}):
        reply = api.post("/proofread", body=body, cast_to=object)
        assert reply["model"] == fp32.resolve("discriminator").source and "Random weights" in reply["warning"]
        assert_close({k: reply[k] for k in page}, page, ROUNDING)
    defaults = api.post("/proofread", body={"input": TEXT, "model": ""}, cast_to=object)
    assert defaults["threshold"] == 0.5 and all(len(s["candidates"]) <= 3 for s in defaults["suggestions"])
    refused = httpx.post(url + "/v1/proofread", json={"input": TEXT}, timeout=30)
    assert refused.status_code == 401 and set(refused.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "body, param, message",
    [
        ({"input": TEXT, "top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"input": TEXT, "top_k": 11}, "top_k", "less than or equal to 10"),
        ({"input": TEXT, "threshold": 1.5}, "threshold", "less than or equal to 1"),
        ({"input": TEXT, "threshold": -0.5}, "threshold", "greater than or equal to 0"),
        ({"input": TEXT, "model": "discriminator-x"}, "model", "The model must be empty"),
        ({"input": TEXT, "model": "ft-0123456789abcdef"}, "model", "The model must be empty"),
        ({"input": ""}, "input", "at least 1 character"),
        ({"input": "  "}, "input", "Please enter some text"),
        ({"input": "x" * 20_001}, "input", "at most 20000 characters"),
        ({"input": TEXT, "text": TEXT}, "text", "not both"),
        ({"threshold": 0.5}, "input", "'input' (or 'text') is required"),
        ({"input": [TEXT]}, "input", "valid string"),
        ({"input": TEXT, "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_v1_bad_input_is_a_400_in_the_error_shape(api, body, param, message):
    with pytest.raises(openai.BadRequestError) as error:
        api.post("/proofread", body=body, cast_to=object)
    detail = error.value.body
    assert error.value.status_code == 400 and detail["param"] == param and message in detail["message"], (
        detail
    )
    assert detail["type"] == "invalid_request_error"


def test_v1_unknown_adapted_id_is_a_404(api):
    with pytest.raises(openai.NotFoundError) as error:
        api.post("/proofread", body={"input": TEXT, "model": "ad-00000000000000ff"}, cast_to=object)
    assert error.value.body["code"] == "model_not_found" and "Adapt tab" in error.value.body["message"]


def test_v1_openapi_documents_the_route(url):
    spec = httpx.get(url + "/v1/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert "/v1/proofread" in spec["paths"]
    request = spec["components"]["schemas"]["ProofreadRequest"]
    assert set(request["properties"]) == {"input", "text", "threshold", "top_k", "model"}
    assert request["properties"]["model"]["pattern"].startswith("^(|discriminator|")
    for name in ("ProofreadRequest", "ProofreadResponse", "SuggestionOut", "CandidateOut"):
        for field, prop in spec["components"]["schemas"][name]["properties"].items():
            assert prop.get("description"), f"{name}.{field}"


def test_mcp_tool_lists_and_proofreads(url):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def session_calls():
        async with streamablehttp_client(url + "/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {tool.name: tool for tool in (await session.list_tools()).tools}
                good = await session.call_tool("proofread", {"text": TEXT, "threshold": 0.5, "top_k": 2})
                bad = await session.call_tool("proofread", {"text": TEXT, "top_k": 30})
                return tools["proofread"], good, bad

    # its own thread: a session-scoped browser (playwright's sync API) may hold this thread's loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        tool, good, bad = pool.submit(asyncio.run, session_calls()).result(timeout=120)
    assert list(tool.inputSchema["properties"]) == ["text", "threshold", "top_k", "model"]
    assert "generator" in tool.description
    assert not good.isError and "corrected" in good.content[0].text and "suggestions" in good.content[0].text
    assert bad.isError and "must be from 1 to 10; got 30" in bad.content[0].text
