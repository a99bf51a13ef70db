"""Shareable links: query parameters to tab inputs and back (pure functions, and each tab's link
parameters as the page lists them)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from electra_demo.checks import InputError
from electra_demo.page import links
from electra_demo.page.demo import LINKS
from electra_demo.page.links import MAX_LINK_CHARS


def make_link(tab, values):
    return links.make_link(LINKS[tab], values)


def parse_link(params):
    return links.parse_link(params, LINKS)


def roundtrip(tab, values):
    query = make_link(tab, values)
    return parse_link(dict(parse_qsl(urlsplit(query).query, keep_blank_values=True)))


@pytest.mark.parametrize(
    "tab, values",
    [
        ("detect", {"text": "A & B # C\nnew line, café 😀", "threshold": 0.65}),
        ("corrupt", {"text": "The chef cooked.", "fraction": 0.2, "seed": 3}),
        ("classify", {"head": "nli", "text": "A man sings.", "text_pair": "Someone sings."}),
        ("tag", {"text": "Marie Curie in Paris", "aggregation": "max"}),
        (
            "qa",
            {
                "question": "Where?",
                "context": "In Paris.",
                "top_k": 2,
                "max_answer_len": 10,
                "handle_impossible_answer": False,
                "max_seq_len": 128,
                "doc_stride": 32,
            },
        ),
    ],
)
def test_links_round_trip(tab, values):
    parsed = roundtrip(tab, values)
    assert parsed.tab == tab and parsed.values == values and parsed.notices == []
    assert parsed.runnable


@pytest.mark.parametrize("tab", sorted(t for t, link in LINKS.items() if "model" in link.names))
def test_a_visitors_own_model_never_rides_in_a_link(tab):
    """A model trained or adapted in the demo is named by an id that is its owner's key: Copy link
    leaves it out (the link reopens the tab on the demo's own model), and keeps the rest."""
    required = {name: "x" for name in LINKS[tab].required}
    for model_id in ("ft-0123456789abcdef", "ad-0123456789abcdef"):
        query = make_link(tab, {**required, "model": model_id})
        assert "model" not in query and model_id not in query
        assert all(f"{name}=x" in query for name in required)


def test_whole_numbers_from_number_inputs_stay_whole():
    assert "seed=7&" in make_link("corrupt", {"text": "x", "fraction": 0.5, "seed": 7.0}) + "&"


def test_malformed_and_unknown_parameters_are_dropped_with_notices():
    parsed = parse_link({"tab": "detect", "text": "hello", "threshold": "abc", "bogus": "1"})
    assert parsed.values == {"text": "hello"} and parsed.runnable
    assert any("threshold" in n for n in parsed.notices) and any("bogus" in n for n in parsed.notices)
    out_of_range = parse_link({"tab": "detect", "text": "x", "threshold": "2"})
    assert "threshold" not in out_of_range.values and "between 0 and 1" in out_of_range.notices[0]
    assert parse_link({"tab": "detect", "text": "x", "threshold": "nan"}).values == {"text": "x"}
    assert parse_link({"tab": "classify", "head": "/etc/passwd", "text": "x"}).values == {"text": "x"}


def test_unknown_tab_or_no_tab():
    assert parse_link({}).tab is None and parse_link({}).notices == []
    unknown = parse_link({"tab": "nope", "text": "x"})
    assert unknown.tab is None and "unknown" in unknown.notices[0]
    no_tab = parse_link({"text": "x"})
    assert no_tab.tab is None and "names no tab" in no_tab.notices[0]
    assert parse_link({"__theme": "dark"}).notices == []  # Gradio's own parameters pass quietly


def test_a_link_without_required_inputs_fills_but_does_not_run():
    parsed = parse_link({"tab": "qa", "question": "Where?"})
    assert parsed.tab == "qa" and not parsed.runnable


def test_too_long_inputs_are_refused_not_cut():
    with pytest.raises(InputError, match=f"too long for a link .* up to {MAX_LINK_CHARS:,}"):
        make_link("detect", {"text": "x" * (MAX_LINK_CHARS + 1)})


def test_every_endpoint_has_a_link_spec_in_argument_order(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = {
        "detect": "/detect",
        "corrupt": "/corrupt",
        "proofread": "/proofread",
        "classify": "/classify",
        "tag": "/tag",
        "qa": "/answer",
        "rerank": "/rerank",
        "explain": "/explain",
    }
    for tab, spec in LINKS.items():
        parameters = [p["parameter_name"] for p in endpoints[names[tab]]["parameters"]]
        if tab == "classify":  # its zero-shot choice: /zeroshot's own arguments after /classify's
            parameters += [p["parameter_name"] for p in endpoints["/zeroshot"]["parameters"][1:]]
        assert [name for name, _ in spec.params] == parameters
