"""The pure parts of fine-tuning, on hand-built inputs: the file, the columns, the limits, the split,
the metrics (against scikit-learn), the model card, the store of trained models and the views."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.finetune import card, data, metrics, views
from electra_demo.trained.kinds import is_model_id, new_id
from electra_demo.trained.store import Meta, Store, UnknownModel, known_slot

LIMITS = data.Limits()
sklearn_metrics = pytest.importorskip("sklearn.metrics")


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def examples(content: bytes, name: str = "f.csv", text="text", label="label", pair="", limits=LIMITS):
    table = data.read_upload(content, name, limits)
    return data.build_examples(table, text, label, pair, limits)


# ---- the file ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", r"The file empty.csv is empty\."),
        (b"text,label\n", "header.csv", r"has no rows to run: only a header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "image.csv", r"not a text file: it has a NUL byte"),
        ("text,label\ncafé,1\n".encode("latin-1"), "latin.csv", r"not valid UTF-8: the byte 0xe9"),
        (b"text,text\na,b\n", "dup.csv", r"two columns named 'text' \(columns 1 and 2\)"),
        (b"text\thelp\n", "notes.txt", r"not a supported type; upload a \.csv .* \.tsv or \.jsonl"),
        (b'{"text": "a", "label": [1]}\n', "nested.jsonl", r"the value of 'label' is a JSON list"),
        (b"text,label\na,b,c\n", "ragged.csv", r"Line 2 of ragged.csv has 3 fields; the header has 2"),
    ],
)
def test_bad_files_get_a_clear_message(content, name, message):
    with pytest.raises(InputError, match=message):
        data.read_upload(content, name, LIMITS)


def test_size_and_row_limits_name_the_limit(tmp_path: Path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"text,label\n" + b"x" * 10_000_000)
    with pytest.raises(InputError, match=r"The file is 10,000,011 bytes; the limit is 2,000,000 bytes\."):
        data.read_upload(str(big), "big.csv", LIMITS)
    rows = csv_bytes("text,label", *(f"t{i},{i % 2}" for i in range(11)))
    with pytest.raises(InputError, match=r"The file has 11 rows; the limit is 10\."):
        data.read_upload(rows, "many.csv", data.Limits(max_rows=10))
    assert len(data.read_upload(rows, "many.csv", data.Limits(max_rows=11)).rows) == 11
    assert data.Limits.from_environ({"ELECTRA_DEMO_TRAIN_ROWS": "7"}).max_rows == 7
    assert data.Limits.from_environ({}).max_rows == 5_000
    with pytest.raises(ValueError, match="ELECTRA_DEMO_TRAIN_ROWS"):
        data.Limits.from_environ({"ELECTRA_DEMO_TRAIN_ROWS": "many"})


def test_tsv_and_jsonl_are_read():
    tsv = examples(b"text\tlabel\na, b\tx\nc\ty\nd\tx\ne\ty\n", "f.tsv")
    assert tsv.texts == ["a, b", "c", "d", "e"] and tsv.labels == ["x", "y", "x", "y"]
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": 2.5}, {"text": "c", "label": 1}]
    lines += [{"text": "d", "label": 2.5}, {"text": "e", "label": True}, {"text": "f", "label": True}]
    jsonl = examples("\n".join(json.dumps(x) for x in lines).encode(), "f.jsonl")
    assert jsonl.labels == ["1", "2.5", "1", "2.5", "true", "true"]  # labels are strings
    assert jsonl.label_names == ["1", "2.5", "true"]


# ---- columns ----------------------------------------------------------------------------------
def test_columns_tolerate_whitespace_and_case_in_header_names():
    rows = [{" Review  Text ": f"text {i}", "Label\t": str(i % 2)} for i in range(4)]
    content = "\n".join(json.dumps(r) for r in rows).encode()
    found = examples(content, "f.jsonl", text="Review Text", label="label")
    assert found.columns == {"text": " Review  Text ", "label": "Label\t"}
    assert found.texts == [f"text {i}" for i in range(4)]
    csv = examples(csv_bytes(" text , label ", "a,x", "b,y", "c,x", "d,y"), text="text", label=" label")
    assert csv.columns == {"text": "text", "label": "label"}  # CSV header names are stripped


def test_missing_and_ambiguous_columns_are_named():
    table = data.read_upload(csv_bytes("body,label", "a,x"), "f.csv", LIMITS)
    with pytest.raises(InputError, match=r"no column 'text' for the texts; its columns are: 'body', 'label'"):
        data.find_column(table, "text", "the texts")
    with pytest.raises(InputError, match=r"Choose the column that holds the labels"):
        data.find_column(table, " ", "the labels")
    twice = data.read_upload(b'{"Text": "a", "text ": "b", "label": "x"}\n', "f.jsonl", LIMITS)
    assert data.find_column(twice, "Text", "the texts") == "Text"  # exact wins
    with pytest.raises(InputError, match=r"Several columns of the file match 'TEXT'"):
        data.find_column(twice, "TEXT", "the texts")
    with pytest.raises(InputError, match=r"must be different columns"):
        examples(csv_bytes("text,label", "a,x"), label="text")


def test_proposed_columns():
    table = data.read_upload(
        csv_bytes(
            "id,review,stars,hypothesis", *(f"{i},a long review text {i},{4 + i % 2},h" for i in range(4))
        ),
        "f.csv",
        LIMITS,
    )
    assert data.propose_columns(table) == {"text": "review", "label": "stars", "pair": "hypothesis"}
    named = data.read_upload(csv_bytes("text,category,x", "aaaa,b,c", "aaaa,d,c"), "f.csv", LIMITS)
    assert data.propose_columns(named) == {"text": "text", "label": "category", "pair": ""}


# ---- rows and classes -------------------------------------------------------------------------
def test_empty_rows_are_dropped_and_counted():
    found = examples(csv_bytes("text,label", "a,x", " ,y", "b, ", "c,y", "d, x ", "e,y"))
    assert found.texts == ["a", "c", "d", "e"] and found.labels == ["x", "y", "x", "y"]
    assert found.dropped == 2 and found.label_ids == [0, 1, 0, 1]
    pairs = examples(csv_bytes("p,h,label", "a,b,x", "c,,y", "d,e,y", "f,g,x", "h,i,y"), text="p", pair="h")
    assert pairs.pairs == ["b", "e", "g", "i"] and pairs.dropped == 1


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["a,x", "b,x", "c,x"], r"The labels have 1 class \('x'\); a classifier needs 2 to 50 classes\."),
        (["a,x", "b,x", "c,y"], r"at least 2 rows .* too few: 'y' \(1\)\."),
        ([f"t{i},{i}" for i in range(102)], r"The labels have 102 classes; the limit is 50"),
        ([",x", "a,"], r"No row has both a text and a label \(2 rows dropped"),
        (
            ["a,x", "b,y", "c,x", "d,y", "x" * 20_001 + ",x"],
            r"Data row 5: .* 20,001 characters long; the limit is 20,000\.",
        ),
    ],
)
def test_class_and_text_limits(rows, message):
    with pytest.raises(InputError, match=message):
        examples(csv_bytes("text,label", *rows))


def test_label_order_is_numeric_when_every_label_is_a_number():
    assert data.label_order(["10", "2", "1"]) == ["1", "2", "10"]
    assert data.label_order(["b", "a", "10"]) == ["10", "a", "b"]


# ---- settings -------------------------------------------------------------------------------
BASES = tuple(config.REGISTRY)


def settings(**changes):
    values = dict(
        base="discriminator",
        mode="full",
        epochs=3,
        learning_rate=5e-5,
        batch_size=16,
        max_length=128,
        eval_fraction=0.2,
        seed=42,
    )
    values.update(changes)
    return data.check_settings(**values, bases=BASES)


def test_settings_defaults_and_text_numbers():
    assert settings() == data.Settings()
    assert settings(epochs="4", batch_size=8.0, seed="7").epochs == 4
    assert settings(base="emotion", mode="head").to_json()["mode"] == "head"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base": "gpt2"}, r"Unknown base model 'gpt2'; expected one of: discriminator"),
        ({"mode": "lora"}, r"Unknown mode 'lora'; expected one of: full, head"),
        ({"epochs": 0}, r"number of epochs must be from 1 to 20; got 0"),
        ({"epochs": 2.5}, r"number of epochs must be a whole number from 1 to 20"),
        ({"learning_rate": 1.0}, r"learning rate must be a number from 1e-07 to 0.01; got 1.0"),
        ({"learning_rate": "fast"}, r"learning rate must be a number"),
        ({"learning_rate": float("nan")}, r"learning rate must be a number"),
        ({"batch_size": 65}, r"batch size must be from 1 to 64; got 65"),
        ({"max_length": 1024}, r"maximum length \(tokens\) must be from 8 to 512; got 1024"),
        ({"eval_fraction": 0.9}, r"held-out fraction \(eval_fraction\) must be a number from 0.05 to 0.5"),
        ({"seed": -1}, r"seed must be between 0 and"),
    ],
)
def test_bad_settings_name_their_range(change, message):
    with pytest.raises(InputError, match=message):
        settings(**change)


# ---- the split --------------------------------------------------------------------------------
def test_split_is_stratified_seeded_and_keeps_a_row_per_class_on_each_side():
    labels = ["a"] * 50 + ["b"] * 7 + ["c"] * 2 + ["d"] * 3
    random.Random(1).shuffle(labels)
    train, held = data.split(labels, 0.2, seed=42)
    assert sorted(train + held) == list(range(len(labels))) and not set(train) & set(held)
    held_counts = Counter(labels[i] for i in held)
    train_counts = Counter(labels[i] for i in train)
    assert held_counts == {"a": 10, "b": 1, "c": 1, "d": 1}  # round(n * 0.2), at least one
    assert all(train_counts[c] >= 1 for c in "abcd")
    assert data.split(labels, 0.2, seed=42) == (train, held)  # the same seed, the same split
    assert data.split(labels, 0.2, seed=43) != (train, held)
    _, most = data.split(labels, 0.5, seed=0)
    assert Counter(labels[i] for i in most) == {"a": 25, "b": 4, "c": 1, "d": 2}  # never a whole class
    with pytest.raises(InputError, match=r"The class 'z' has 1 row"):
        data.split(["y", "y", "z"], 0.2, seed=0)


# ---- metrics, against scikit-learn --------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    labels = ["neg", "neu", "pos", "never predicted"]
    y_true = rng.integers(0, 4, size=57).tolist()
    y_pred = [t if t < 3 and rng.random() < 0.6 else int(rng.integers(0, 3)) for t in y_true]  # 3: never
    ours = metrics.classification_metrics(y_true, y_pred, labels)
    ids = list(range(4))
    assert ours["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred), abs=1e-12)
    macro = sklearn_metrics.f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)
    assert ours["macro_f1"] == pytest.approx(macro, abs=1e-12)
    p, r, f, s = sklearn_metrics.precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    for i, label in enumerate(labels):
        got = ours["per_class"][label]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p[i], r[i], f[i]), abs=1e-12)
        assert got["support"] == s[i]
    assert ours["confusion"] == {
        "labels": labels,
        "matrix": sklearn_metrics.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }
    assert ours["per_class"]["never predicted"]["precision"] == 0.0


def test_metrics_refuse_mismatched_inputs():
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        metrics.classification_metrics([0, 1, 0], [0, 1], ["a", "b"])


# ---- the model card -----------------------------------------------------------------------------
def test_model_card_names_base_data_settings_metrics_and_date():
    result = {
        "model_id": "ft-0123456789abcdef",
        "base": "discriminator",
        "mode": "head",
        "labels": ["neg", "pos"],
        "rows": {"train": 80, "eval": 20, "dropped": 3},
        "settings": {"epochs": 3, "seed": 42},
        "metrics": metrics.classification_metrics([0, 1, 1], [0, 1, 0], ["neg", "pos"]),
        "seconds": 12.5,
        "stopped": "time_limit",
    }
    facts = {
        "base_name": "ELECTRA-Base discriminator",
        "base_id": "google/electra-base-discriminator",
        "base_license": "apache-2.0",
        "date": "2026-11-26 10:00",
        "file": "reviews.csv",
        "random_base": False,
    }
    text = card.model_card(result, facts)
    for part in (
        "# ft-0123456789abcdef",
        "fine-tuned in the ELECTRA demo",
        "on 2026-11-26 10:00 (UTC)",
        "`google/electra-base-discriminator`",
        "the head only (encoder frozen)",
        "80 rows for training, 20 held out",
        "3 dropped",
        "epochs 3, seed 42",
        "Accuracy 0.6667",
        "| pos | 1.0000 | 0.5000 | 0.6667 | 2 |",
        "the time limit stopped it",
        "license: apache-2.0",
    ):
        assert part in text, part
    assert "random weights" not in text


# ---- the store ----------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def stage(store: Store, model_id: str, clock: Clock, labels=("a", "b"), pair=False) -> Meta:
    folder = store.staging(model_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    meta = Meta(
        model_id, "f: 2 classes, full", "discriminator", "D", "apache-2.0", "full", labels, pair, clock()
    )
    return meta


def test_store_ids_resolve_expire_and_evict_least_recently_used(tmp_path: Path):
    clock = Clock()
    evicted: list[str] = []
    store = Store(tmp_path, ttl=100, max_models=2, on_evict=evicted.append, clock=clock)
    ids = [new_id("classify") for _ in range(3)]
    assert all(is_model_id(i) and len(i) == 3 + 16 for i in ids) and len(set(ids)) == 3
    store.add(stage(store, ids[0], clock, pair=True), owner="alice")
    clock.now += 1
    store.add(stage(store, ids[1], clock), owner="bob")
    resolved = store.resolve(ids[0])
    assert resolved.source == str(tmp_path / ids[0] / "checkpoint") and resolved.local
    assert (
        resolved.slot.pair
        and resolved.slot.labels == ("a", "b")
        and resolved.slot.architecture == ("sequence-classification")
    )
    assert known_slot(ids[0]) == resolved.slot
    assert [m.model_id for m in store.owned_by("alice")] == [ids[0]]
    assert store.owned_by("carol") == [] and store.owned_by("") == []
    clock.now += 1
    store.touch(ids[0])  # ids[1] is now the least recently used
    clock.now += 1
    store.add(stage(store, ids[2], clock), owner="alice")
    assert evicted == [ids[1]] and ids[1] not in store and not (tmp_path / ids[1]).exists()
    assert known_slot(ids[1]) is None
    with pytest.raises(UnknownModel, match=rf"Unknown or expired model id {ids[1]}"):
        store.get(ids[1])
    clock.now += 99  # ids[0] and ids[2] were trained 101 and 98 seconds ago
    assert ids[0] not in store and ids[2] in store and evicted == [ids[1], ids[0]]
    again = Store(tmp_path, ttl=100, max_models=2, clock=clock)  # a restarted server
    assert [m.model_id for m in (again.get(ids[2]),)] == [ids[2]]
    assert again.owned_by("alice") == []  # the owner was a browser session of the old server
    with pytest.raises(UnknownModel, match="Unknown or expired model id that id"):
        store.get("../../etc/passwd")


def test_store_settings_from_the_environment(tmp_path: Path):
    store = Store.from_environ({"ELECTRA_DEMO_FT_TTL": "60", "ELECTRA_DEMO_FT_MAX": "3"}, tmp_path)
    assert (store.ttl, store.max_models) == (60.0, 3)
    assert (Store.from_environ({}, tmp_path).ttl, Store.from_environ({}, tmp_path).max_models) == (
        86_400.0,
        5,
    )
    for bad in ({"ELECTRA_DEMO_FT_TTL": "0"}, {"ELECTRA_DEMO_FT_MAX": "2.5"}, {"ELECTRA_DEMO_FT_MAX": "x"}):
        with pytest.raises(ValueError, match="ELECTRA_DEMO_FT_"):
            Store.from_environ(bad, tmp_path)


# ---- views ----------------------------------------------------------------------------------------
def test_views_show_progress_and_never_the_visitors_labels_as_markdown():
    assert "position 2" in views.status_line({"status": "queued", "position": 2, "running": 1})
    line = views.status_line(
        {
            "status": "training",
            "step": 3,
            "max_steps": 10,
            "epoch": 0.3,
            "loss": 0.69,
            "elapsed": 2,
            "remaining": 5,
        }
    )
    assert "step 3 of 10" in line and "0.6900" in line and "about 5 s left" in line
    assert views.progress_fraction({"step": 3, "max_steps": 10}) == (3, 10)
    history = [{"step": 1, "epoch": 0.1, "loss": 0.7}, {"step": 2, "epoch": 0.2, "loss": 0.6}]
    assert views.loss_frame(history).to_dict("list") == {"step": [1, 2], "loss": [0.7, 0.6]}
    found = metrics.classification_metrics([0, 1, 1], [0, 1, 0], ["<b>x</b>", "y"])
    frame = views.confusion_frame(found)
    assert frame.to_dict("records")[2] == {"true label": "y", "predicted": "<b>x</b>", "rows": 1}
    assert views.class_rows(found)[1] == ["y", 1.0, 0.5, 0.6667, 2]
    result = {
        "model_id": "ft-0123456789abcdef",
        "rows": {"train": 8, "eval": 3, "dropped": 0},
        "history": history,
        "metrics": found,
        "seconds": 1.0,
        "stopped": "completed",
        "labels": ["<b>x</b>", "y"],
    }
    text = views.summary(result, 24)
    assert "Trained" in text and "ft-0123456789abcdef" in text and "<b>" not in text
    cancelled = views.summary({**result, "model_id": None, "metrics": None, "stopped": "cancelled"}, 24)
    assert cancelled.startswith("⏹️ **Cancelled** after 2 steps")
