"""Adapt's core without the server: the upload and settings checks, the objective's pieces, the
figures against scikit-learn, and the training child's ``train`` run in this process (twice with
the same settings: the same figures; the "before" figures recomputed from the original tiny
checkpoints on the corrupted held-out texts the run saved; the time limit; cancel).

Settings of the in-process runs: the template corpus (tests/helpers/data.py), 100 texts (20 held
out), 15 steps, learning rate 2e-3, batch size 16, max length 32, mask_fraction 0.15, seed 42.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from electra_demo.adapt import data, evaluate, objective, worker
from electra_demo.checks import InputError
from electra_demo.finetune.worker_common import Cancelled, Events, Stop
from electra_demo.tasks.corrupt import draw
from tests.helpers.data import corpus
from tests.helpers.training import worker_spec

sklearn_metrics = pytest.importorskip("sklearn.metrics")


# ---- the upload and the settings --------------------------------------------------------------
def test_txt_csv_and_jsonl_give_their_texts():
    texts = corpus(25)
    limits = data.Limits()
    txt = data.read_upload(("\n".join(texts) + "\n\n").encode(), "t.txt", limits)
    assert data.build_texts(txt, "", limits).texts == texts
    rows = "\n".join(f'{i},"{t}"' for i, t in enumerate(texts))
    csv = data.read_upload(f"id,body\n{rows}\n99,\n".encode(), "t.csv", limits)
    assert data.propose_column(csv) == "body"
    built = data.build_texts(csv, "", limits)
    assert built.texts == texts and built.dropped == 1 and built.column == "body"
    assert data.build_texts(csv, " Body ", limits).column == "body"
    jsonl = "\n".join(json.dumps({"note": t, "n": 1}) for t in texts).encode()
    assert data.build_texts(data.read_upload(jsonl, "t.jsonl", limits), "note", limits).texts == texts


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"one\ntwo\n", "few.txt", "2 non-empty texts"),
        (b"", "empty.txt", "is empty"),
        (b"a\x00b\n", "bin.txt", "not a text file"),
        ("café\n".encode("latin-1"), "latin.txt", "not valid UTF-8"),
        (b"x", "model.bin", "not a supported type"),
        (("a\n" * 5_001).encode(), "many.txt", "5,001 rows; the limit is 5,000"),
        (b"id,body\n" + b"1,x\n" * 30, "c.csv", "no column 'text'"),
    ],
)
def test_bad_files_are_refused_with_the_limit(content: bytes, name: str, message: str):
    limits = data.Limits()
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        table = data.read_upload(content, name, limits)
        data.build_texts(table, "text" if name.endswith(".csv") else "", limits)


def test_settings_are_checked_with_their_ranges():
    good = data.check_settings(300, 5e-5, 16, 128, 0.15, 0.1, 42)
    assert good.public() == {
        "steps": 300,
        "learning_rate": 5e-5,
        "batch_size": 16,
        "max_length": 128,
        "mask_fraction": 0.15,
        "eval_fraction": 0.1,
        "seed": 42,
    }
    for bad, message in (
        ((0, 5e-5, 16, 128, 0.15, 0.1, 42), "number of steps must be from 1 to 5000"),
        ((300, 1.0, 16, 128, 0.15, 0.1, 42), "learning rate must be a number from 1e-07 to 0.01"),
        ((300, 5e-5, 16, 128, 0.9, 0.1, 42), "mask fraction"),
        ((300, 5e-5, 16, 4, 0.15, 0.1, 42), "maximum length"),
        ((300, 5e-5, 16, 128, 0.15, 0.9, 42), "held-out fraction"),
        ((300, 5e-5, 16, 128, 0.15, 0.1, -1), "seed"),
    ):
        with pytest.raises(InputError, match=message):
            data.check_settings(*bad)


def test_the_row_limit_is_fine_tune_s_setting():
    assert data.Limits.from_environ({}).max_rows == 5_000
    assert (
        data.Limits.from_environ({"ELECTRA_DEMO_TRAIN_ROWS": "10"}).max_rows == 10
    )  # Fine-tune's minimum is 4
    with pytest.raises(ValueError, match="ELECTRA_DEMO_TRAIN_ROWS"):
        data.Limits.from_environ({"ELECTRA_DEMO_TRAIN_ROWS": "many"})
    limits = data.Limits.from_environ({"ELECTRA_DEMO_TRAIN_ROWS": "25"})
    with pytest.raises(InputError, match="26 rows; the limit is 25"):
        data.read_upload(("a\n" * 26).encode(), "t.txt", limits)


def test_split_is_seeded_and_holds_at_least_one_out():
    train, held = data.split(100, 0.1, 42)
    assert len(held) == 10 and sorted(train + held) == list(range(100))
    assert data.split(100, 0.1, 42) == (train, held) and data.split(100, 0.1, 7) != (train, held)
    assert len(data.split(20, 0.05, 0)[1]) == 1


# ---- the objective's pieces ----------------------------------------------------------------
def test_draw_samples_the_softmax_and_never_a_special_token():
    logits = torch.zeros(2000, 6)
    logits[:, 0] = 50.0  # a special token with by far the highest score
    logits[:, 5] = float(torch.log(torch.tensor(3.0)))  # three times as likely as 1..4
    sampled = draw(logits, [0], torch.Generator().manual_seed(0))
    counts = torch.bincount(sampled, minlength=6).tolist()
    assert counts[0] == 0 and sum(counts) == 2000
    assert counts[5] / 2000 == pytest.approx(3 / 7, abs=0.04)


def test_masks_take_the_fraction_of_non_special_tokens_only():
    batch = objective.pad([[2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 3], [2, 7, 3]], 0, [0, 1, 2, 3, 4])
    masked = objective.choose_masks(batch, 0.2, [1, 2])
    assert masked[0].sum() == 2 and masked[1].sum() == 1  # round(0.2 * 10); at least one
    assert not (masked & ~batch.scored).any()
    assert torch.equal(masked, objective.choose_masks(batch, 0.2, [1, 2]))


def test_the_mlm_loss_and_logits_are_electra_for_masked_lm_s(tiny_dir: Path):
    from transformers import ElectraForMaskedLM

    generator = ElectraForMaskedLM.from_pretrained(tiny_dir / "generator").eval()
    batch = objective.pad([[2, 30, 31, 32, 33, 34, 3], [2, 40, 41, 3]], 0, [0, 1, 2, 3, 4])
    masked = objective.choose_masks(batch, 0.4, [5, 6])
    labels = batch.input_ids.masked_fill(~masked, -100)
    with torch.no_grad():
        out = generator(
            input_ids=objective.masked_input(batch, masked, 4),
            attention_mask=batch.attention_mask,
            labels=labels,
        )
        logits = objective.masked_logits(generator, batch, masked, 4)
    assert torch.allclose(logits, out.logits[masked], atol=1e-5)
    loss = torch.nn.functional.cross_entropy(logits, batch.input_ids[masked])
    assert float(loss) == pytest.approx(float(out.loss), abs=1e-5)


def test_two_backward_passes_give_the_joint_loss_s_gradients(tiny_dir: Path):
    """``objective.backward`` (the generator's loss backward first, then the discriminator's) adds
    the same gradients, shared embeddings included, and the same weighted losses as one backward
    pass of the micro-batch's share of the joint loss (dropout on: the same random draws)."""
    import contextlib

    from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir / "discriminator")
    generator = ElectraForMaskedLM.from_pretrained(tiny_dir / "generator").train()
    discriminator = ElectraForPreTraining.from_pretrained(tiny_dir / "discriminator").train()
    assert objective.tie_embeddings(generator, discriminator)
    rows = objective.encode(tokenizer, ["the chef cooked the meal", "a cat sat on the warm mat today"], 32)
    batch = objective.pad(rows, tokenizer.pad_token_id, tokenizer.all_special_ids)
    masked = objective.choose_masks(batch, 0.3, [5, 6])
    part = objective.split(batch, masked, 1)[1]
    models = (tokenizer, generator, discriminator)
    params = {id(p): p for m in (generator, discriminator) for p in m.parameters()}

    def gradients(two_passes: bool) -> tuple[list[torch.Tensor], tuple[float, float]]:
        for parameter in params.values():
            parameter.grad = None
        torch.manual_seed(0)
        sampler = torch.Generator().manual_seed(1)
        if two_passes:
            found = objective.backward(models, part, sampler, contextlib.nullcontext)
        else:
            args = (part.batch, part.masked, tokenizer.mask_token_id, tokenizer.all_special_ids, sampler)
            _, mlm, rtd = objective.losses(generator, discriminator, *args)
            (part.share_mlm * mlm + objective.RTD_WEIGHT * part.share_rtd * rtd).backward()
            found = (part.share_mlm * mlm.item(), part.share_rtd * rtd.item())
        return [p.grad.clone() for p in params.values() if p.grad is not None], found

    joint, joint_losses = gradients(two_passes=False)
    split_grads, split_losses = gradients(two_passes=True)
    assert len(joint) == len(split_grads) == len(params)
    assert split_losses == pytest.approx(joint_losses, rel=1e-6)
    shared = discriminator.electra.embeddings.word_embeddings.weight
    assert shared.grad.abs().sum() > 0
    for a, b in zip(joint, split_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_f1_and_auc_equal_scikit_learn():
    truth = [True, False, True, False, False, True, False]
    probabilities = [0.9, 0.2, 0.4, 0.7, 0.1, 0.6, 0.5]
    text = evaluate.Heldout(
        original=[2, 5, 6, 7, 8, 9, 3],
        corrupted=[2, 5, 6, 7, 8, 9, 3],
        masked=[False, True, True, False, False, False, False],
        replaced=[False, *truth[1:6], False],
        scored=[False, True, True, True, True, True, False],
    )
    figures = evaluate.figures([text], [probabilities], [[5, 1]])
    labels, scores = truth[1:6], probabilities[1:6]
    assert figures["rtd_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))
    assert figures["rtd_f1"] == pytest.approx(sklearn_metrics.f1_score(labels, [p > 0.5 for p in scores]))
    assert figures["mlm_accuracy"] == 0.5
    assert evaluate.f1_score([True, False], [False, False]) == 0.0
    assert evaluate.f1_score([False], [False]) is None


# ---- the child's train(), in this process --------------------------------------------------
def run_worker(tiny_dir: Path, work: Path, time_limit: float = 600, **settings) -> tuple[dict, dict]:
    spec = worker_spec(tiny_dir, work, corpus(100), 20, steps=15, **settings)
    threads = torch.get_num_threads()
    try:
        result = worker.train(spec, Events(spec["events"]), Stop(time_limit))
    finally:
        torch.set_num_threads(threads)  # the child sets its own: give this process its count back
    return result, spec


@pytest.fixture(scope="module")
def runs(tiny_dir: Path, tmp_path_factory) -> list[tuple[dict, dict]]:
    return [run_worker(tiny_dir, tmp_path_factory.mktemp(f"adapt{i}")) for i in range(2)]


def test_the_same_run_twice_gives_the_same_figures(runs):
    (first, _), (second, _) = runs
    assert first["before"] == second["before"] and first["after"] == second["after"]
    assert first["history"] == second["history"] and len(first["history"]) == 15
    assert set(first["history"][0]) == {"step", "loss", "mlm_loss", "rtd_loss"}
    for h in first["history"]:
        assert h["loss"] == pytest.approx(h["mlm_loss"] + 50 * h["rtd_loss"], rel=1e-5)


def _direct(folder: Path, cls: str, records: list[dict], ids: str) -> list:
    import transformers

    model = getattr(transformers, cls).from_pretrained(folder).eval()
    out = []
    for r in records:
        with torch.no_grad():
            if cls == "ElectraForPreTraining":
                logits = model(input_ids=torch.tensor([r[ids]])).logits[0]
                out.append(torch.sigmoid(logits).tolist())
            else:
                masked = torch.tensor([[4 if m else t for t, m in zip(r[ids], r["masked"], strict=True)]])
                top = model(input_ids=masked).logits[0].argmax(-1)
                out.append([int(top[i]) for i, m in enumerate(r["masked"]) if m])
    return out


def _figures(records: list[dict], probabilities: list, guesses: list) -> dict:
    truth = [rep for r in records for rep, s in zip(r["replaced"], r["scored"], strict=True) if s]
    scores = [
        p
        for r, ps in zip(records, probabilities, strict=True)
        for p, s in zip(ps, r["scored"], strict=True)
        if s
    ]
    originals = [o for r in records for o, m in zip(r["original"], r["masked"], strict=True) if m]
    hits = sum(g == o for g, o in zip([g for gs in guesses for g in gs], originals, strict=True))
    return {
        "rtd_auc": sklearn_metrics.roc_auc_score(truth, scores),
        "rtd_f1": sklearn_metrics.f1_score(truth, [p > 0.5 for p in scores]),
        "mlm_accuracy": hits / len(originals),
    }


def test_before_and_after_equal_a_direct_computation_on_the_saved_corruption(runs, tiny_dir: Path, tmp_path):
    result, spec = runs[0]
    with zipfile.ZipFile(spec["zip"]) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / spec["model_id"]
    records = [json.loads(line) for line in (folder / "heldout.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == spec["eval"]["texts"]
    for r in records:  # the corruption: only masked tokens may differ, and they are the replaced ones
        assert r["corrupted"][0] == 2 and all(
            (c != o) == rep and (m or c == o)
            for c, o, m, rep in zip(r["corrupted"], r["original"], r["masked"], r["replaced"], strict=True)
        )
    assert sum(sum(r["replaced"]) for r in records) > 10
    for when, disc, gen in (
        ("before", tiny_dir / "discriminator", tiny_dir / "generator"),
        ("after", folder / "discriminator", folder / "generator"),
    ):
        probabilities = _direct(disc, "ElectraForPreTraining", records, "corrupted")
        guesses = _direct(gen, "ElectraForMaskedLM", records, "original")
        expected = _figures(records, probabilities, guesses)
        assert result[when] == pytest.approx(expected, abs=1e-5), when
        saved = [p for r in records for p in r[when]]
        assert saved == pytest.approx([p for ps in probabilities for p in ps], abs=1e-5)


def test_the_zip_holds_two_standard_checkpoints_with_shared_embeddings(runs, tmp_path: Path):
    from safetensors.torch import load_file

    result, spec = runs[0]
    with zipfile.ZipFile(spec["zip"]) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    root = spec["model_id"]
    for name in (
        "discriminator/config.json",
        "discriminator/model.safetensors",
        "generator/model.safetensors",
    ):
        assert f"{root}/{name}" in names
    assert {f"{root}/README.md", f"{root}/heldout.jsonl", f"{root}/generator/tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    disc = load_file(tmp_path / root / "discriminator" / "model.safetensors")
    gen = load_file(tmp_path / root / "generator" / "model.safetensors")
    for key in ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm"):
        name = f"electra.embeddings.{key}.weight"
        assert torch.equal(disc[name], gen[name]), key
    card = (tmp_path / root / "README.md").read_text()
    assert "80 texts for training, 20 held out" in card and "shared by both (tied)" in card
    assert f"{result['after']['rtd_auc']:.4f}" in card


def test_time_limit_keeps_the_model_and_cancel_keeps_nothing(tiny_dir: Path, tmp_path: Path):
    result, spec = run_worker(tiny_dir, tmp_path / "limit", time_limit=0.0)
    assert result["stopped"] == "time_limit" and len(result["history"]) == 1
    assert Path(spec["zip"]).is_file() and result["after"]["rtd_auc"] is not None
    spec = worker_spec(tiny_dir, tmp_path / "cancel", corpus(40), 8, steps=15)
    stop = Stop(600)
    stop.cancel()
    threads = torch.get_num_threads()
    with pytest.raises(Cancelled):
        worker.train(spec, Events(spec["events"]), stop)
    torch.set_num_threads(threads)
    assert not Path(spec["zip"]).exists()
