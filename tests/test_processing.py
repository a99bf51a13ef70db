"""Pure pre/post-processing functions, on hand-built inputs."""

from __future__ import annotations

import math

import pytest
from sklearn.metrics import roc_auc_score

from electra_demo.checks import InputError, check_probability, check_seed, check_text
from electra_demo.text.processing import (
    Span,
    apply_replacements,
    best_windows,
    choose_words,
    join_wordpieces,
    maskable_words,
    match_case,
    merge_words,
    overlaps,
    plan_windows,
    precision_recall_f1,
    roc_auc,
    segments,
    token_spans,
    word_groups,
)


def test_plan_windows_single_window_when_it_fits():
    assert plan_windows(5, 10, 3) == [(0, 5)]
    assert plan_windows(10, 10, 3) == [(0, 10)]


def test_plan_windows_overlap_by_stride_and_cover_everything():
    windows = plan_windows(25, 10, 4)
    assert windows == [(0, 10), (6, 16), (12, 22), (18, 25)]
    covered = {i for s, e in windows for i in range(s, e)}
    assert covered == set(range(25))


@pytest.mark.parametrize("size, stride", [(0, 0), (10, 10), (10, -1)])
def test_plan_windows_rejects_bad_settings(size, stride):
    with pytest.raises(ValueError, match="size"):
        plan_windows(30, size, stride)


def test_best_windows_prefers_most_context():
    windows = [(0, 10), (6, 16)]
    best = best_windows(16, windows)
    # token 7: context 2 in window 0 (7-0 vs 9-7), 1 in window 1 (7-6): window 0
    assert best[7] == 0
    # token 9: context 0 in window 0, 3 in window 1
    assert best[9] == 1
    assert best[:6] == [0] * 6 and best[10:] == [1] * 6


def test_best_windows_tie_goes_to_earlier_window():
    # token 7: context min(7, 2) = 2 in (0, 10) and min(2, 7) = 2 in (5, 15)
    assert best_windows(15, [(0, 10), (5, 15)])[7] == 0
    # token 8: context 1 in (0, 10) but 3 in (5, 15)
    assert best_windows(15, [(0, 10), (5, 15)])[8] == 1


def test_token_spans_use_offsets_into_the_text():
    text = "Héllo  World"
    spans = token_spans(text, [(0, 5), (7, 12)], [0.2, 0.9], threshold=0.5)
    assert spans == [Span("Héllo", 0, 5, 0.2, False), Span("World", 7, 12, 0.9, True)]


def test_word_groups_merge_consecutive_pieces():
    assert word_groups([0, 0, 1, 2, 2, 2]) == [[0, 1], [2], [3, 4, 5]]
    assert word_groups([None, 0, 0, None, 1]) == [[1, 2], [4]]


def test_merge_words_takes_max_of_pieces():
    text = "unbelievable cat"
    tokens = [
        Span("un", 0, 2, 0.1, False),
        Span("believ", 2, 8, 0.7, True),
        Span("able", 8, 12, 0.3, False),
        Span("cat", 13, 16, 0.4, False),
    ]
    words = merge_words(text, tokens, [[0, 1, 2], [3]], threshold=0.5)
    assert words == [Span("unbelievable", 0, 12, 0.7, True), Span("cat", 13, 16, 0.4, False)]


def test_segments_rebuild_the_text_exactly():
    text = " A\tb  c\n"
    out = segments(text, [(1, 2, 0.5), (3, 4, "x"), (6, 7, None)])
    assert "".join(s for s, _ in out) == text
    assert out == [(" ", None), ("A", 0.5), ("\t", None), ("b", "x"), ("  ", None), ("c", None), ("\n", None)]


def test_segments_reject_overlap():
    with pytest.raises(ValueError, match="disjoint"):
        segments("abcdef", [(0, 3, 1), (2, 4, 1)])


def test_maskable_words_skip_punctuation():
    text = "Hi , there !"
    assert maskable_words(text, [(0, 2), (3, 4), (5, 10), (11, 12)]) == [0, 2]


def test_choose_words_is_seeded_and_sized():
    candidates = list(range(20))
    first = choose_words(candidates, 0.15, seed=3)
    assert first == choose_words(candidates, 0.15, seed=3)
    assert len(first) == 3 and first == sorted(first) and set(first) <= set(candidates)
    assert choose_words(candidates, 0.0, 1) == []
    assert len(choose_words(candidates, 0.01, 1)) == 1  # at least one word when fraction > 0
    assert choose_words(candidates, 1.0, 1) == candidates
    assert choose_words([], 0.5, 1) == []


def test_join_wordpieces_and_case():
    assert join_wordpieces(["play", "##ing"]) == "playing"
    assert join_wordpieces(["##ing"]) == "ing"
    assert match_case("paris", "London") == "Paris"
    assert match_case("usa", "UK") == "USA"
    assert match_case("dog", "cat") == "dog"


def test_apply_replacements_reports_new_offsets():
    text = "the cat sat on the mat"
    new, spans = apply_replacements(text, [(4, 7, "horse"), (19, 22, "rug")])
    assert new == "the horse sat on the rug"
    assert [new[s:e] for s, e in spans] == ["horse", "rug"]
    assert apply_replacements(text, []) == (text, [])


def test_overlaps():
    assert overlaps((2, 5), [(4, 8)])
    assert not overlaps((2, 4), [(4, 8)])


def test_precision_recall_f1_hand_computed():
    truth = [True, True, False, False, True]
    predicted = [True, False, True, False, True]
    p, r, f = precision_recall_f1(truth, predicted)
    assert p == pytest.approx(2 / 3) and r == pytest.approx(2 / 3) and f == pytest.approx(2 / 3)
    assert precision_recall_f1([False, False], [False, False]) == (None, None, None)
    assert precision_recall_f1([True, False], [False, True]) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "truth, scores",
    [
        ([True, False, True, False], [0.9, 0.1, 0.4, 0.5]),
        ([True, False, True, False, False], [0.5, 0.5, 0.5, 0.2, 0.7]),  # ties
        ([False, True, False, True, True, False], [0.3, 0.3, 0.2, 0.9, 0.1, 0.8]),
    ],
)
def test_roc_auc_equals_sklearn(truth, scores):
    assert roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_roc_auc_undefined_with_one_class():
    assert roc_auc([True, True], [0.1, 0.2]) is None
    assert roc_auc([False], [0.1]) is None


def test_check_text():
    assert check_text(" a ", max_chars=5) == " a "
    with pytest.raises(InputError, match="empty"):
        check_text(" \n\t", max_chars=5)
    with pytest.raises(InputError, match="6 characters long; the limit is 5"):
        check_text("abcdef", max_chars=5)
    with pytest.raises(InputError, match="must be a string"):
        check_text(3, max_chars=5)


def test_check_probability_and_seed():
    assert check_probability("0.25", what="threshold") == 0.25
    for bad in (-0.1, 1.5, math.nan, "abc", None):
        with pytest.raises(InputError, match="threshold"):
            check_probability(bad, what="threshold")
    assert check_seed(7) == 7 and check_seed(7.0) == 7 and check_seed("12") == 12
    for bad in (1.5, "x<script>", -1, 2**40, True, None):
        with pytest.raises(InputError, match="seed") as info:
            check_seed(bad)
        assert "<script>" not in str(info.value)  # user text is never echoed into a message
