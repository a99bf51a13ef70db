"""Rerank (the ``rerank`` slot, a cross-encoder): its scores equal sentence-transformers'
``CrossEncoder.predict`` on the same checkpoint and pairs, and every way in (``/rerank`` over
gradio_client, ``/v1/rerank`` over httpx and the openai client's ``post``, ``/v1/score``, the Batch
tab) gives the same numbers; bad input is a clear message on every one, never a traceback.

The tiny reranker's weights are drawn at ten times the usual scale (``electra_demo.tiny``), so
its scores spread over (0, 1) and no ranking here is decided by float rounding.
"""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import openai
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.page import links
from electra_demo.page.tabs import rerank as tab
from electra_demo.service import ModelService
from electra_demo.tasks import rerank
from tests.helpers.compare import Tolerance, assert_close

QUERY = "Where was Marie Curie born?"
LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 60)  # past 512 tokens with the query
DOCS = [
    "Marie Curie was born in Warsaw in 1867.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "The chef cooked the meal in the kitchen.",
    "Café, naïve, résumé 😀 and crème brûlée have accents.",
    LONG,
]
ROUNDING = Tolerance(rel=1e-5, abs=1e-5)  # rows batched with others differ by float rounding
REFERENCE = 1e-4  # ONNX Runtime (the app) against PyTorch (sentence-transformers)


@pytest.fixture(scope="module")
def service(tiny_env: dict[str, str]) -> ModelService:
    """This module's service (and its app's, through ``url``): fp32 whatever the suite's precision,
    since bf16 rounds past the reference's 1e-4 and differs with the batch a row lands in."""
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_PRECISION": "fp32"})


@pytest.fixture(scope="module")
def reference(tiny_env: dict[str, str]):
    """sentence-transformers' CrossEncoder on the rerank slot's checkpoint (the dev-only reference)."""
    from sentence_transformers import CrossEncoder

    return CrossEncoder(tiny_env[config.REGISTRY["rerank"].env_var], max_length=512, device="cpu")


def post(url: str, route: str, body: dict) -> httpx.Response:
    return httpx.post(url + route, json=body, timeout=300)


# ---- pure steps -------------------------------------------------------------------------------------
def test_preprocess_checks_and_names_the_field():
    assert rerank.preprocess(" q ", "a\n\n  \nb\r\nc", None) == (" q ", ["a", "b", "c"], 0)
    assert rerank.preprocess("q", ["a", "b"], 3.0) == ("q", ["a", "b"], 3)
    assert rerank.check_top_n("2") == 2
    for args, field, message in (
        (("", ["a"], 0), "query", "Please enter some query"),
        (("q", "\n \n", 0), "documents", "at least one document"),
        (("q", ["a", 5], 0), "documents", "documents[1] must be a text; got 5"),
        (("q", ["a", " "], 0), "documents", "documents[1]"),
        (("q", ["x"] * 1001, 0), "documents", "1,001 documents; the limit is 1,000"),
        (("q", ["a"], -1), "top_n", "top_n must be 0 (every document) or a positive whole number; got -1"),
        (("q", ["a"], 1.5), "top_n", "got 1.5"),
    ):
        with pytest.raises(InputError, match=re.escape(message)) as info:
            rerank.preprocess(*args)
        assert info.value.field == field


def test_rank_is_highest_first_ties_in_input_order_and_cut_to_top_n():
    scored = [rerank.Scored(i, str(i), 0.0, s, False, 3) for i, s in enumerate([0.2, 0.9, 0.2, 0.5])]
    assert [s.index for s in rerank.rank(scored, 0)] == [1, 3, 0, 2]
    assert [s.index for s in rerank.rank(scored, 2)] == [1, 3]
    assert [s.index for s in rerank.rank(scored, 9)] == [1, 3, 0, 2]


def test_views_escape_user_text_and_mark_the_query_words(tmp_path):
    terms = tab.query_terms("Where are the capitals of <France>?")
    assert terms == {"capital", "france"}
    html = tab.highlighted("<b>Capitals</b> & france's {x} $y", terms)
    assert "<b>" not in html and "&lt;b&gt;" in html and "{" not in html and "$" not in html
    assert (
        '<mark class="rerank-term">Capitals</mark>' in html
        and '<mark class="rerank-term">france</mark>' in html
    )
    (tmp_path / "p.txt").write_text("first\n\nsecond\n", encoding="utf-8")
    assert tab.file_documents(str(tmp_path / "p.txt"))[0] == "first\nsecond"
    (tmp_path / "p.csv").write_text('id,passage\n1,"one\ntwo"\n2,three\n', encoding="utf-8")
    assert tab.file_documents(str(tmp_path / "p.csv")) == (
        "one two\nthree",
        "2 passages read from the column 'passage'.",
    )
    (tmp_path / "p.jsonl").write_text('{"title": "t", "body": "a longer body"}\n', encoding="utf-8")
    assert tab.file_documents(str(tmp_path / "p.jsonl"))[0] == "a longer body"  # the longest column
    query = links.make_link(tab.LINK, {"query": "q & a", "documents": "one\ntwo", "top_n": 2.0})
    parsed = links.parse_link(dict(p.split("=") for p in query[1:].split("&")), {"rerank": tab.LINK})
    assert parsed.tab == "rerank" and parsed.runnable and parsed.values["top_n"] == 2


# ---- the model -------------------------------------------------------------------------------------
def test_scores_equal_sentence_transformers_cross_encoder(service: ModelService, reference):
    import torch

    result = service.rerank(QUERY, DOCS)
    pairs = [(QUERY, doc) for doc in DOCS]
    expected = reference.predict(pairs)  # sigmoid, its default for one label
    logits = reference.predict(pairs, activation_fn=torch.nn.Identity())
    by_index = {s.index: s for s in result.scored}
    for i in range(len(DOCS)):
        assert abs(by_index[i].score - float(expected[i])) < REFERENCE, i
        assert abs(by_index[i].logit - float(logits[i])) < REFERENCE, i
    assert [s.index for s in result.results] == list(np.argsort(-expected, kind="stable"))
    assert [s.truncated for s in result.scored] == [False, False, False, False, True]
    assert len(set(np.round(expected, 3))) == len(DOCS)  # spread: the order is the model's, not noise
    assert set(result.to_json()) == {"results", "model"}
    assert set(result.to_json()["results"][0]) == {"index", "relevance_score", "text", "truncated"}


def test_pairs_are_cut_on_the_document_side_and_typed_separators_are_text(service: ModelService):
    loaded = service.load("rerank")
    tokenizer = loaded.tokenizer
    rows, cut = rerank.encode(loaded, [(QUERY, LONG), ("a [SEP] b", "c [SEP] d")])
    (long, _), (typed, types) = rows
    query_ids = tokenizer(QUERY)["input_ids"]
    assert len(long) == loaded.max_tokens and long[: len(query_ids)] == query_ids and cut == [True, False]
    assert typed.count(tokenizer.sep_token_id) == 2 and typed[-1] == tokenizer.sep_token_id
    assert types[-1] == 1 and types[0] == 0
    with pytest.raises(InputError, match="257 tokens long; the limit is 256") as info:
        rerank.encode(loaded, [(" ".join(["fox"] * 257), "d")])
    assert info.value.field == "query"


def test_the_rerank_slot_is_no_classify_head(service: ModelService):
    assert "rerank" not in config.CLASSIFY_HEADS
    with pytest.raises(InputError, match="Unknown head 'rerank'"):
        service.classify("rerank", "A text.", "Another.")


def test_explain_takes_the_rerank_head(service: ModelService):
    scored = service.rerank(QUERY, [DOCS[0]]).scored[0]
    result = service.explain("rerank", QUERY, DOCS[0])
    assert result.target.json == {"label": "relevance"}
    assert abs(result.score - scored.logit) < REFERENCE  # PyTorch's logit, the ranking's own
    assert abs(result.target.probability - scored.score) < REFERENCE
    assert {w.segment for w in result.words} == {0, 1}  # attributions over query and passage
    with pytest.raises(InputError, match="give the passage") as info:
        service.explain("rerank", QUERY)
    assert info.value.field == "text_pair"


# ---- every way in ----------------------------------------------------------------------------------
def test_every_way_in_gives_the_same_numbers(url, gc, service: ModelService, tmp_path):
    expected = service.rerank(QUERY, DOCS, 3)
    *_, page = gc.predict(QUERY, "\n".join(DOCS), 3, api_name="/rerank")
    assert_close(page, expected.to_json(), ROUNDING)
    documents = [DOCS[0], {"text": DOCS[1]}, *DOCS[2:]]
    body = {"model": "rerank", "query": QUERY, "documents": documents, "top_n": 3, "return_documents": True}
    reply = post(url, "/v1/rerank", body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["model"] == expected.model.resolved.source and answer["id"].startswith("rerank-")
    assert answer["usage"] == {"total_tokens": expected.tokens}
    wanted = [
        {"index": s.index, "relevance_score": s.score, "document": {"text": s.text}, "truncated": s.truncated}
        for s in expected.results
    ]
    assert_close(answer["results"], wanted, ROUNDING)
    raw = post(url, "/v1/rerank", {**body, "raw_scores": True, "return_documents": False}).json()
    assert_close(
        [r["relevance_score"] for r in raw["results"]], [s.logit for s in expected.results], ROUNDING
    )
    assert "document" not in raw["results"][0]
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
    same = client.post("/rerank", body={**body, "model": answer["model"]}, cast_to=object)
    assert_close(same["results"], wanted, ROUNDING)
    scores = post(url, "/v1/score", {"text_1": QUERY, "text_2": DOCS}).json()
    assert [d["index"] for d in scores["data"]] == list(range(len(DOCS)))
    assert_close([d["score"] for d in scores["data"]], [s.score for s in expected.scored], ROUNDING)
    assert scores["object"] == "list" and scores["usage"]["total_tokens"] == expected.tokens
    pairwise = post(url, "/v1/score", {"text_1": ["capital of France?", QUERY], "text_2": DOCS[1:3]}).json()
    one = service.rerank("capital of France?", [DOCS[1]]).scored[0].score
    assert_close(pairwise["data"][0]["score"], one, ROUNDING)
    assert_close(pairwise["data"][1]["score"], expected.scored[2].score, ROUNDING)
    upload = tmp_path / "pairs.csv"
    upload.write_text("query,document\n" + "".join(f'"{QUERY}","{d}"\n' for d in DOCS[:3]), encoding="utf-8")
    summary, _preview, files = gc.predict(handle_file(str(upload)), "rerank", api_name="/batch")
    assert "3 of 3 rows done" in summary
    (jsonl,) = [f for f in files if f.endswith(".jsonl")]
    records = [json.loads(line) for line in open(jsonl, encoding="utf-8")]
    assert records[0]["query"] == QUERY and records[0]["document"] == DOCS[0]
    assert_close([r["relevance_score"] for r in records], [s.score for s in expected.scored[:3]], ROUNDING)


def test_models_and_openapi_know_the_routes(url):
    cards = {card["slot"]: card for card in httpx.get(url + "/v1/models").json()["data"]}
    routes = cards["rerank"]["routes"]
    assert {"/v1/embeddings", "/v1/rerank", "/v1/score"} <= set(routes) and "/v1/classify" not in routes
    assert "/v1/rerank" not in cards["sentiment"]["routes"]
    spec = httpx.get(url + "/v1/openapi.json").json()
    for name, route in (("RerankRequest", "/v1/rerank"), ("ScoreRequest", "/v1/score")):
        (example,) = spec["components"]["schemas"][name]["examples"]
        assert post(url, route, example).status_code == 200, name
        assert "rerank" in spec["components"]["schemas"][name]["properties"]["model"]["enum"]


# ---- bad input -------------------------------------------------------------------------------------
API_ERRORS = [
    ("/v1/rerank", {"query": "", "documents": ["a"]}, 400, "query", "at least 1 character"),
    ("/v1/rerank", {"query": "  ", "documents": ["a"]}, 400, "query", "Please enter some query"),
    ("/v1/rerank", {"query": "q", "documents": []}, 400, "documents", "at least 1 item"),
    (
        "/v1/rerank",
        {"query": "q", "documents": ["a", 5]},
        400,
        "documents",
        'documents[1] must be a string or {"text": string}; got 5',
    ),
    ("/v1/rerank", {"query": "q", "documents": [{"txt": "a"}]}, 400, "documents", "an object without text"),
    ("/v1/rerank", {"query": "q", "documents": [{"text": 3}]}, 400, "documents", "text is not a string"),
    ("/v1/rerank", {"query": "q", "documents": ["a", " "]}, 400, "documents", "documents[1]"),
    (
        "/v1/rerank",
        {"query": "q", "documents": ["a"], "top_n": -1},
        400,
        "top_n",
        "greater than or equal to 0",
    ),
    (
        "/v1/rerank",
        {"query": "q", "documents": ["x"] * 1001},
        400,
        "documents",
        "1,001 documents were sent; the limit is 1,000",
    ),
    (
        "/v1/rerank",
        {"query": "fox " * 300, "documents": ["a"]},
        400,
        "query",
        "300 tokens long; the limit is 256",
    ),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top": 1}, 400, "top", "Unknown field 'top'"),
    (
        "/v1/rerank",
        {"model": "ner", "query": "q", "documents": ["a"]},
        400,
        "model",
        "cannot be used with /v1/rerank",
    ),
    ("/v1/rerank", {"model": "gpt-4", "query": "q", "documents": ["a"]}, 404, "model", "does not exist here"),
    (
        "/v1/score",
        {"text_1": ["a", "b"], "text_2": ["c", "d", "e"]},
        400,
        "text_1",
        "text_1 holds 2 texts and text_2 3",
    ),
    ("/v1/score", {"text_1": "q", "text_2": ["a", "\t"]}, 400, "text_2", "text_2[1]"),
    ("/v1/score", {"text_1": "q", "text_2": ["x"] * 1001}, 400, "text_2", "1,001 texts were sent"),
    ("/v1/classify", {"model": "rerank", "input": "a"}, 400, "model", "cannot be used with /v1/classify"),
]


@pytest.mark.parametrize(
    "route, body, status, param, message", API_ERRORS, ids=[e[-1][:30] for e in API_ERRORS]
)
def test_bad_input_over_v1_is_a_clear_error(url, route, body, status, param, message):
    reply = post(url, route, body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and message in error["message"], error


def test_bad_input_on_the_page_api_is_a_message(gc):
    for args, message in (
        (("", "a", 0), "Please enter some query"),
        (("q", "\n", 0), "at least one document"),
        (("q", "a", -2), "top_n must be 0"),
        (("q", "\n".join(["x"] * 1001), 0), "1,001 documents; the limit is 1,000"),
        (("fox " * 300, "a", 0), "300 tokens long"),
    ):
        with pytest.raises(AppError, match=re.escape(message)) as info:
            gc.predict(*args, api_name="/rerank")
        assert "Traceback" not in str(info.value)
