"""Question answering: the pure decoding steps by hand, and the service's contract."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from electra_demo.checks import InputError
from electra_demo.service import ModelService
from electra_demo.text.qa import Candidate, Window, add_candidate, char_span, decode, p_mask

FIXTURE = Path(__file__).parent / "fixtures" / "qa-tiny"


class FakeEncoding:
    """A hand-built stand-in for tokenizers.Encoding: [CLS] q [SEP] paris is big [SEP]."""

    #            CLS     q       SEP     par      ##is     is        big        SEP
    offsets: ClassVar = [(0, 0), (0, 1), (0, 0), (0, 3), (3, 5), (6, 8), (9, 12), (0, 0)]
    words: ClassVar = [None, 0, None, 0, 0, 1, 2, None]
    word_chars: ClassVar = {0: (0, 5), 1: (6, 8), 2: (9, 12)}

    def token_to_word(self, token):
        return self.words[token]

    def word_to_chars(self, word, sequence_index=0):
        if word is None:
            raise TypeError("no word")
        return self.word_chars[word]


CONTEXT = "paris is big"
SEQUENCE_IDS = [None, 0, None, 1, 1, 1, 1, None]
IDS = [2, 10, 3, 20, 21, 22, 23, 3]


def window(start, end):
    return Window(
        start_logits=np.array(start, dtype=np.float32),
        end_logits=np.array(end, dtype=np.float32),
        p_mask=p_mask(SEQUENCE_IDS, IDS, cls_token_id=2),
        attention_mask=[1] * 8,
        encoding=FakeEncoding(),
    )


def test_p_mask_keeps_context_and_cls():
    assert p_mask(SEQUENCE_IDS, IDS, cls_token_id=2) == [0, 1, 1, 0, 0, 0, 0, 1]


def test_char_span_widens_to_words_and_falls_back_to_offsets():
    encoding = FakeEncoding()
    assert char_span(encoding, 4, 4) == (0, 5)  # "##is" widens to "paris"
    assert char_span(encoding, 4, 4, align_to_words=False) == (3, 5)
    assert char_span(encoding, 0, 5) == (0, 8)  # [CLS] has no word: the offsets' fallback


def test_add_candidate_merges_equal_answers_case_insensitively():
    candidates: list[Candidate] = []
    add_candidate(candidates, "Paris and paris", 0, 5, 0.25)
    add_candidate(candidates, "Paris and paris", 10, 15, 0.5)
    assert candidates == [Candidate("Paris", 0, 5, 0.75)]


def test_decode_picks_the_span_with_the_highest_product():
    big = 8.0
    # start on "is" (5), end on "big" (6): everything else far lower
    result = decode([window([0, 0, 0, 0, 0, big, 0, 0], [0, 0, 0, 0, 0, 0, big, 0])], CONTEXT, 1, 15, False)
    assert (result[0].text, result[0].start, result[0].end) == ("is big", 6, 12)
    # the softmax runs over the four context tokens and [CLS] (masked only afterwards)
    p_start = np.exp(big) / (np.exp(big) + 4)
    assert result[0].score == pytest.approx(p_start * p_start, rel=1e-5)


def test_decode_max_answer_len_excludes_long_spans():
    big = 8.0
    result = decode([window([0, 0, 0, big, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, big, 0])], CONTEXT, 3, 2, False)
    assert all(c.end - c.start <= len("paris is") for c in result if c.text)
    assert "paris is big" not in [c.text for c in result]


def test_decode_no_answer_from_cls_is_the_min_over_windows():
    strong_cls = window([9, 0, 0, 0, 0, 0, 0, 0], [9, 0, 0, 0, 0, 0, 0, 0])
    weak_cls = window([1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0])
    result = decode([strong_cls, weak_cls], CONTEXT, 5, 15, True)
    null = [c for c in result if c.null]
    assert len(null) == 1 and (null[0].start, null[0].end, null[0].text) == (0, 0, "")
    p_weak = np.exp(1) / (np.exp(1) + 4)  # [CLS] against four context tokens
    assert null[0].score == pytest.approx(p_weak * p_weak, rel=1e-5)
    without = decode([strong_cls, weak_cls], CONTEXT, 5, 15, False)
    assert not any(c.null for c in without)


@pytest.fixture(scope="module")
def qa_service(tiny_env):
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_QA": str(FIXTURE)})


def test_answer_contract(qa_service):
    context = "Marie Curie worked at the University of Paris.\n\tShe was born in Warsaw. " * 3
    data = qa_service.answer("Where did Marie Curie work?", context, top_k=5).to_json()
    assert set(data) == {"answers", "no_answer", "settings"}
    assert set(data["settings"]) == {
        "top_k",
        "max_answer_len",
        "doc_stride",
        "max_seq_len",
        "max_question_len",
        "handle_impossible_answer",
    }
    assert data["settings"]["max_seq_len"] == 384 and data["settings"]["doc_stride"] == 128
    assert 1 <= len(data["answers"]) <= 5
    scores = [a["score"] for a in data["answers"]]
    assert scores == sorted(scores, reverse=True)
    for a in data["answers"]:
        assert a["text"] == context[a["start"] : a["end"]]
        if a["text"] == "":
            assert a["start"] == a["end"] == 0
    assert data["no_answer"] == (data["answers"][0]["text"] == "")


def test_long_context_is_searched_in_every_window(qa_service):
    context = " ".join(f"Sentence {i}: the chef cooked the meal in Paris." for i in range(300))
    result = qa_service.answer("Who cooked?", context, top_k=20, handle_impossible_answer=False)
    assert result.windows > 5
    assert max(a.start for a in result.answers) > len(context) // 4  # not just the first window


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"question": "", "context": "Paris."}, "question: it is empty"),
        ({"question": "Where?", "context": "  "}, "context: it is empty"),
        ({"question": "why " * 100, "context": "Paris."}, r"question is \d+ tokens long; the limit is 64"),
        ({"question": "Where?", "context": "Paris.", "top_k": 0}, "top_k"),
        ({"question": "Where?", "context": "Paris.", "top_k": 1000}, "top_k"),
        ({"question": "Where?", "context": "Paris.", "max_seq_len": 64, "doc_stride": 60}, "stride"),
        ({"question": "Where?", "context": "Paris.", "max_seq_len": 4096}, "window size"),
    ],
)
def test_answer_bad_input(qa_service, kwargs, message):
    with pytest.raises(InputError, match=message):
        qa_service.answer(**kwargs)
