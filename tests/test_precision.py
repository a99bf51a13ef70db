"""bf16 where the CPU has it: ELECTRA_DEMO_PRECISION, auto decided by the CPU's flags (faked here
both ways), every endpoint's numbers in bf16 within 0.02 of fp32 with the same decisions, the
precision said on /health, in x-precision on every /v1 answer, on the cards and the status panel,
and Explain's gradients in fp32 whatever serves.

bf16 runs correctly (slowly) on CPUs without native bf16, so these tests run on any CPU. The
checkpoints are the tiny ones with weights of a larger spread (std 0.2), so probabilities spread
over (0, 1) and the decisions compared are real ones, not float ties.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import transformers

from electra_demo import config
from electra_demo.config import BackendChoice, SettingError, precision_setting
from electra_demo.page import rendering
from electra_demo.page.tabs.status import precision_line
from electra_demo.runtime import export_cache, precision
from electra_demo.service import ModelService
from tests.helpers.browser import TIMEOUT, open_app, wait_for_tokens
from tests.helpers.serving import serve

CLOSE = 0.02  # probabilities and scores: bf16 within this of fp32
AWAY = 0.05  # a decision counts where fp32's probability is this far from its threshold
SLOTS = ("discriminator", "generator", "emotion", "nli", "ner", "qa")
TEXTS = [
    "Marie Curie worked at the University of Paris in France.",
    "The chef cooked the meal in the kitchen, and the critic wrote a long review.",
    "Café 東京 😀 and tabs\tnew lines.",
]
QUESTION = "Who worked in Paris?"
WITH_BF16 = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
WITHOUT_BF16 = "flags\t\t: fpu sse2 avx2 fma\n"


@pytest.fixture(scope="module")
def spread_env(tiny_env, tmp_path_factory) -> dict[str, str]:
    """The tiny checkpoints of :data:`SLOTS` with weights drawn at std 0.2 (LayerNorms kept), on
    a fresh export cache."""
    directory = tmp_path_factory.mktemp("spread")
    env = {**tiny_env, "ELECTRA_DEMO_CACHE": str(directory / "cache")}
    generator = torch.Generator().manual_seed(1)
    for name in SLOTS:
        slot = config.REGISTRY[name]
        source = Path(tiny_env[slot.env_var])
        model = getattr(transformers, config.AUTO_CLASSES[slot.architecture]).from_pretrained(source)
        with torch.no_grad():
            for parameter_name, parameter in model.named_parameters():
                if "LayerNorm" not in parameter_name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
        model.save_pretrained(directory / name, safe_serialization=True)
        for file in source.iterdir():
            if file.name.startswith(("tokenizer", "vocab", "special")):
                shutil.copy(file, directory / name / file.name)
        env[slot.env_var] = str(directory / name)
    return env


@pytest.fixture(scope="module")
def fp32(spread_env) -> ModelService:
    """The reference: PyTorch fp32 (ONNX Runtime fp32 equals it to 1e-5: test_backends.py)."""
    return ModelService(
        environ={**spread_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "fp32"}
    )


@pytest.fixture(scope="module")
def bf16(spread_env) -> ModelService:
    """What auto serves on a bf16 CPU: the export, run by OpenVINO in bf16."""
    return ModelService(environ={**spread_env, "ELECTRA_DEMO_PRECISION": "bf16"})


@pytest.fixture(scope="module")
def bf16_torch(spread_env) -> ModelService:
    """PyTorch's own bf16 (ELECTRA_DEMO_BACKEND=torch): its weights cast to bf16."""
    return ModelService(
        environ={**spread_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "bf16"}
    )


def fake_cpu(monkeypatch, tmp_path: Path, flags_line: str) -> None:
    cpuinfo = tmp_path / f"cpuinfo-{abs(hash(flags_line))}"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\n{flags_line}\nprocessor\t: 1\n")
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)


# ---- the setting and auto ---------------------------------------------------------------------
def test_the_setting_takes_four_values_and_int8_keeps_working(caplog):
    assert precision_setting({}) == "auto" and precision_setting({"ELECTRA_DEMO_PRECISION": " "}) == "auto"
    for value in ("auto", "fp32", "bf16", "int8"):
        assert precision_setting({"ELECTRA_DEMO_PRECISION": value.upper()}) == value
    with pytest.raises(
        SettingError, match="ELECTRA_DEMO_PRECISION must be auto, fp32, bf16 or int8; got 'fp8'"
    ):
        BackendChoice.from_environ({"ELECTRA_DEMO_PRECISION": "fp8"})
    assert precision_setting({"ELECTRA_DEMO_INT8": "1"}) == "int8"  # the older switch, as before
    assert BackendChoice.from_environ({"ELECTRA_DEMO_INT8": "1"}).int8
    assert precision_setting({"ELECTRA_DEMO_INT8": "1", "ELECTRA_DEMO_PRECISION": "int8"}) == "int8"
    with caplog.at_level(logging.WARNING):  # both set and disagreeing: int8 wins, and the log says so
        assert precision_setting({"ELECTRA_DEMO_INT8": "1", "ELECTRA_DEMO_PRECISION": "bf16"}) == "int8"
    assert "ELECTRA_DEMO_INT8=1 wins over ELECTRA_DEMO_PRECISION=bf16" in caplog.text


def test_auto_is_decided_by_the_cpu_flags(tmp_path):
    (tmp_path / "bf16").write_text(WITH_BF16)
    (tmp_path / "plain").write_text(WITHOUT_BF16)
    assert "avx512_bf16" in precision.cpu_flags(tmp_path / "bf16")
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()
    assert precision.decide("auto", flags=precision.cpu_flags(tmp_path / "bf16")) == "bf16"
    assert precision.decide("auto", flags=precision.cpu_flags(tmp_path / "plain")) == "fp32"
    assert precision.decide("auto", flags=frozenset({"amx_bf16"})) == "bf16"  # either flag will do
    assert precision.decide("bf16", flags=frozenset()) == "bf16"  # named: served as named
    assert precision.decide("int8", flags=frozenset({"avx512_bf16"})) == "int8"
    assert precision.decide("auto", "cuda") == "fp16" and precision.decide("fp32", "cuda") == "fp32"


@pytest.mark.parametrize(
    ("flags_line", "expected", "runtime"),
    [(WITH_BF16, "bf16", "OpenVINO CPU bf16"), (WITHOUT_BF16, "fp32", "ONNX Runtime CPU fp32")],
)
def test_auto_serves_what_the_cpu_flags_say(
    spread_env, bf16, monkeypatch, tmp_path, flags_line, expected, runtime
):
    bf16.load("emotion")  # its exports (fp32 and bf16) are made once, in the shared cache
    fake_cpu(monkeypatch, tmp_path, flags_line)
    auto = {k: v for k, v in spread_env.items() if k != "ELECTRA_DEMO_PRECISION"}  # unset: auto
    service = ModelService(environ=auto)
    assert service.precision == expected
    assert service.card("emotion")["precision"] == expected  # before it loads: the one it will load in
    loaded = service.load("emotion")
    assert loaded.precision == expected and loaded.backend.startswith(runtime)
    assert service.card("emotion")["precision"] == expected
    assert precision_line(service).startswith(f"**Precision:** {expected}: auto")


# ---- agreement ----------------------------------------------------------------------------------
def probabilities(result: dict) -> list[float]:
    return [token["probability"] for token in result["tokens"]]


def assert_same_detection(ours: dict, reference: dict, threshold: float = config.DEFAULT_THRESHOLD) -> int:
    """Probabilities within CLOSE; the same flags wherever fp32 is AWAY from the threshold; returns
    how many tokens were that far (the decisions actually compared)."""
    assert [t["text"] for t in ours["tokens"]] == [t["text"] for t in reference["tokens"]]
    assert np.max(np.abs(np.subtract(probabilities(ours), probabilities(reference)))) <= CLOSE
    decided = [
        (a, b)
        for a, b in zip(ours["tokens"], reference["tokens"], strict=True)
        if abs(b["probability"] - threshold) > AWAY
    ]
    assert all(a["replaced"] == b["replaced"] for a, b in decided)
    return len(decided)


def assert_same_classes(ours: dict, reference: dict) -> int:
    """Every class's score within CLOSE; the same argmax where fp32's top two are AWAY apart."""
    scores = {x["label"]: x["score"] for x in ours["labels"]}
    assert all(abs(scores[x["label"]] - x["score"]) <= CLOSE for x in reference["labels"])
    first, second = reference["labels"][0], reference["labels"][1]
    if first["score"] - second["score"] <= AWAY:
        return 0
    assert ours["labels"][0]["label"] == first["label"]  # the argmax
    return 1


def clear_tags(fp32: ModelService, text: str) -> dict[tuple[int, int], str]:
    """fp32's label of every token whose top two label probabilities are AWAY apart."""
    loaded = fp32.load("ner")  # PyTorch fp32
    encoding = loaded.tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    offsets = encoding.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        top = loaded.model(**encoding).logits[0].softmax(-1).topk(2)
    return {
        (start, end): loaded.labels[int(index[0])]
        for (start, end), value, index in zip(offsets, top.values, top.indices, strict=True)
        if end > start and float(value[0] - value[1]) > AWAY
    }


def assert_same_entities(ours: ModelService, fp32: ModelService, text: str) -> int:
    """The same label on every token fp32 labels clearly (the tokens that make the entity spans),
    and the scores of the spans found by both within CLOSE."""
    tokens = {(e["start"], e["end"]): e["label"] for e in ours.tag(text, "none").to_json()["entities"]}
    clear = clear_tags(fp32, text)
    assert all(tokens.get(span, "O") == label for span, label in clear.items())
    spans = {
        (e["start"], e["end"], e["label"]): e["score"] for e in ours.tag(text, "simple").to_json()["entities"]
    }
    reference = fp32.tag(text, "simple").to_json()["entities"]
    same = [
        (spans[key], e["score"]) for e in reference if (key := (e["start"], e["end"], e["label"])) in spans
    ]
    assert same and all(abs(a - b) <= CLOSE for a, b in same)
    return len(clear)


def assert_same_answers(ours: dict, reference: dict) -> int:
    """The same answer span where fp32's best scores 10% over the next; matched spans' scores
    within CLOSE."""
    assert ours["no_answer"] == reference["no_answer"]
    scores = {(a["start"], a["end"]): a["score"] for a in ours["answers"]}
    matched = [
        (scores[key], a["score"]) for a in reference["answers"] if (key := (a["start"], a["end"])) in scores
    ]
    assert matched and all(abs(a - b) <= CLOSE for a, b in matched)
    best, *rest = reference["answers"]
    if rest and best["score"] <= 1.1 * rest[0]["score"]:
        return 0
    assert (ours["answers"][0]["start"], ours["answers"][0]["end"]) == (best["start"], best["end"])
    return 1


@pytest.mark.parametrize("served", ["bf16", "bf16_torch"])
def test_every_task_in_bf16_agrees_with_fp32(fp32, served, request):
    ours = request.getfixturevalue(served)
    decided = {"tokens": 0, "classes": 0, "tags": 0, "answers": 0}
    for text in TEXTS:
        decided["tokens"] += assert_same_detection(ours.detect(text).to_json(), fp32.detect(text).to_json())
        a, b = ours.classify("emotion", text).to_json(), fp32.classify("emotion", text).to_json()
        decided["classes"] += assert_same_classes(a, b)
        decided["tags"] += assert_same_entities(ours, fp32, text)
        a, b = ours.answer(QUESTION, text, top_k=3).to_json(), fp32.answer(QUESTION, text, top_k=3).to_json()
        decided["answers"] += assert_same_answers(a, b)
        a, b = ours.embed("discriminator", [text]).vectors, fp32.embed("discriminator", [text]).vectors
        assert np.max(np.abs(a - b)) <= CLOSE and float(np.sum(a * b)) > 0.999
    pair = (TEXTS[0], TEXTS[1])
    decided["classes"] += assert_same_classes(
        ours.classify("nli", *pair).to_json(), fp32.classify("nli", *pair).to_json()
    )
    corrupted, reference = ours.corrupt(TEXTS[1], 0.3, 7).to_json(), fp32.corrupt(TEXTS[1], 0.3, 7).to_json()
    assert corrupted["corrupted"] == reference["corrupted"]  # the generator sampled the same words
    decided["tokens"] += assert_same_detection(corrupted, reference)
    # the spread checkpoints decide most things clearly: the decisions compared are real ones
    assert (
        decided["tokens"] >= 20
        and decided["tags"] >= 10
        and decided["classes"] >= 1
        and decided["answers"] >= 1
    ), decided
    served_slots = ("discriminator", "generator", "emotion", "nli", "ner", "qa")
    assert {ours.load(slot).precision for slot in served_slots} == {"bf16"}


def test_the_bf16_export_is_checked_once_and_served_from_the_cache(spread_env, bf16):
    bf16.detect(TEXTS[0])
    (folder,) = Path(spread_env["ELECTRA_DEMO_CACHE"]).glob("*-pretraining-bf16")
    assert (folder / export_cache.IR_MODEL).is_file() and (folder / "model.bin").is_file()
    assert export_cache.read_check(folder) is not None  # recorded at the bf16 tolerance
    again = ModelService(environ={**spread_env, "ELECTRA_DEMO_PRECISION": "bf16"})
    loaded = again.load("discriminator")
    assert (
        "cached export, checked when it was made" in loaded.backend and "vs fp32 on a probe" in loaded.backend
    )
    assert not loaded.has_torch_weights and loaded.precision == "bf16"
    assert again.detect(TEXTS[0]).to_json() == bf16.detect(TEXTS[0]).to_json()


# ---- Explain keeps fp32 ---------------------------------------------------------------------------
@pytest.mark.parametrize("served", ["bf16", "bf16_torch"])
def test_explain_runs_on_an_fp32_copy_whatever_serves(fp32, served, request):
    ours = request.getfixturevalue(served)
    assert ours.load("emotion").precision == "bf16"
    copy = ours.load_torch("emotion")
    assert copy is not ours.load("emotion") and copy.precision == "fp32"
    assert all(p.dtype == torch.float32 for p in copy.model.parameters())
    for method in ("gradient_x_input", "integrated_gradients"):
        a = ours.explain("emotion", TEXTS[0], method=method, steps=8).to_json()
        b = fp32.explain("emotion", TEXTS[0], method=method, steps=8).to_json()
        assert a["target"] == b["target"]
        np.testing.assert_allclose(
            [t["attribution"] for t in a["tokens"]], [t["attribution"] for t in b["tokens"]], atol=1e-5
        )
    assert "emotion:torch" in ours.loaded_models()


# ---- said where a person and a client look --------------------------------------------------------
def test_cards_and_status_panel_say_the_precision(bf16):
    bf16.load("ner")
    card = bf16.card("ner")
    assert card["precision"] == "bf16"
    assert "**Precision:** bf16 (Explain's gradients: fp32)" in rendering.model_card(card)
    table = rendering.status_table({"ner": card})
    assert "| precision |" in table.splitlines()[0] and table.splitlines()[-1].endswith("| bf16 |")
    assert precision_line(bf16) == "**Precision:** bf16: asked for; Explain's gradients run in fp32."


def test_health_and_every_v1_answer_say_the_precision(bf16, fp32):
    with serve(bf16) as url:
        health = httpx.get(url + "/health", timeout=60)
        assert health.json()["precision"] == "bf16" and health.headers["x-precision"] == "bf16"
        text = TEXTS[0]
        reply = httpx.post(url + "/v1/detect", json={"input": text}, timeout=120)
        assert reply.status_code == 200 and reply.headers["x-precision"] == "bf16"
        assert_same_detection(reply.json()["data"][0], fp32.detect(text).to_json())
        reply = httpx.post(url + "/v1/classify", json={"model": "emotion", "input": text}, timeout=120)
        assert reply.headers["x-precision"] == "bf16"
        expected = {x["label"]: x["score"] for x in fp32.classify("emotion", text).to_json()["labels"]}
        assert all(
            abs(score - expected[label]) <= CLOSE
            for label, score in zip(
                bf16.load("emotion").labels, reply.json()["data"][0]["probs"], strict=True
            )
        )
        reply = httpx.post(
            url + "/v1/embeddings", json={"model": "discriminator", "input": text}, timeout=120
        )
        assert reply.headers["x-precision"] == "bf16"
        vector = np.array(reply.json()["data"][0]["embedding"])
        assert np.max(np.abs(vector - fp32.embed("discriminator", [text]).vectors[0])) <= CLOSE
        body = {"task": "emotion", "text": text}
        assert httpx.post(url + "/v1/explain", json=body, timeout=120).headers["x-precision"] == "fp32"
        for answer in (
            httpx.get(url + "/v1/models", timeout=60),
            httpx.post(url + "/v1/detect", json={"input": ""}, timeout=60),
        ):
            assert answer.headers["x-precision"] == "bf16"  # answers that ran no model: the server's


def test_the_page_shows_the_precision(bf16, page):
    """What a person sees: the tab's model card and the Models panel say bf16 (and why)."""
    from playwright.sync_api import expect

    with serve(bf16) as url:
        open_app(page, url)
        expect(page.locator(".model-card").first).to_contain_text("Precision: bf16", timeout=TIMEOUT)
        page.locator("#detect-text textarea").fill(TEXTS[0])
        page.locator("#detect-run").click()
        wait_for_tokens(page, "#detect-tokens")
        page.get_by_role("button", name="Models: loaded, loading or failed").click()
        panel = page.locator("#model-status")
        expect(panel).to_contain_text("Precision: bf16: asked for", timeout=TIMEOUT)
        row = panel.locator("table").first.locator("tr").filter(has_text="discriminator")
        expect(row.first).to_contain_text("OpenVINO CPU bf16", timeout=TIMEOUT)
