"""What the app builds survives a restart: the check record beside each cached export (reused, and
invalidated when the checkpoint or the settings change), and a ``/data``-like folder
(``ELECTRA_DEMO_DATA_DIR``) that keeps the exports and the trained heads of app.py's server."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from electra_demo import config
from electra_demo.runtime import backends, models
from electra_demo.service import ModelService
from tests.helpers.serving import WAIT_S, app_server, post

gradio_client = pytest.importorskip("gradio_client")


def test_data_dir_is_the_default_home_of_what_the_app_builds(tmp_path: Path):
    data = tmp_path / "data"
    environ = {config.DATA_DIR_VAR: str(data)}
    assert config.data_dir(environ) is None  # not there: the home folder's cache, as before
    assert (
        config.BackendChoice.from_environ(environ).cache_dir
        == Path("~/.cache/electra-demo/onnx").expanduser()
    )
    data.mkdir()
    assert config.data_dir(environ) == data
    assert config.BackendChoice.from_environ(environ).cache_dir == data / "electra-demo" / "onnx"
    assert ModelService(environ=environ).finetuned.root == data / "electra-demo" / "finetuned"
    explicit = {**environ, "ELECTRA_DEMO_CACHE": str(tmp_path / "mine")}
    assert config.BackendChoice.from_environ(explicit).cache_dir == tmp_path / "mine"  # still wins

    hf = dict(environ)
    config.persist_defaults(hf)
    assert hf["HF_HOME"] == str(data / ".huggingface")
    own = {**environ, "HF_HOME": "/somewhere"}
    config.persist_defaults(own)
    assert own["HF_HOME"] == "/somewhere"  # an explicit HF_HOME wins
    (line,) = config.storage_lines(hf)
    assert f"persistent storage {data} found" in line and str(data / "electra-demo" / "finetuned") in line
    if os.geteuid() != 0:  # root may write anywhere
        data.chmod(0o500)
        try:
            assert config.data_dir(environ) is None
        finally:
            data.chmod(0o700)


class Spy:
    """Counts the checks against PyTorch and records whether each load took the weights."""

    def __init__(self, monkeypatch):
        self.checks, self.weights = 0, []
        agreement, from_pretrained = backends.agreement, models._from_pretrained

        def counted_agreement(*args):
            self.checks += 1
            return agreement(*args)

        def recorded(resolved, architecture, weights=True):
            self.weights.append(weights)
            return from_pretrained(resolved, architecture, weights)

        monkeypatch.setattr(backends, "agreement", counted_agreement)
        monkeypatch.setattr(models, "_from_pretrained", recorded)

    def load(self, environ) -> tuple[str, int, list[bool]]:
        """A fresh service's sentiment model: its backend line, the checks run, the loads' weights."""
        self.checks, self.weights = 0, []
        loaded = ModelService(environ=environ).load("sentiment")
        assert loaded.has_torch_weights is False
        return loaded.backend, self.checks, self.weights


def test_check_record_is_reused_and_invalidated_by_checkpoint_or_settings(tiny_env, tmp_path, monkeypatch):
    checkpoint = tmp_path / "sentiment"
    shutil.copytree(tiny_env["ELECTRA_DEMO_SENTIMENT"], checkpoint)
    cache = tmp_path / "cache"
    environ = {**tiny_env, "ELECTRA_DEMO_SENTIMENT": str(checkpoint), "ELECTRA_DEMO_CACHE": str(cache)}
    environ["ELECTRA_DEMO_BACKEND"] = "onnx"
    environ["ELECTRA_DEMO_PRECISION"] = "fp32"  # the fp32 export's record (bf16's: test_precision.py)
    spy = Spy(monkeypatch)

    backend, checks, weights = spy.load(environ)
    assert "exported now" in backend and checks == 1 and weights == [True]
    (record,) = cache.glob("*/check.json")
    # the next start: the record is reused, and PyTorch's weights are not loaded at all
    backend, checks, weights = spy.load(environ)
    assert "cached export, checked when it was made" in backend and checks == 0 and weights == [False]
    text = "a fine film"
    first, again = ModelService(environ=environ), ModelService(environ=environ)
    assert first.classify("sentiment", text).to_json() == again.classify("sentiment", text).to_json()

    # another setting (int8): its own export and check
    backend, checks, weights = spy.load({**environ, "ELECTRA_DEMO_INT8": "1"})
    assert "exported now" in backend and "int8" in backend and checks == 1 and weights == [True]
    backend, checks, _ = spy.load({**environ, "ELECTRA_DEMO_INT8": "1"})
    assert "vs fp32 on a probe" in backend and checks == 0  # the recorded difference is shown

    # a record for another tolerance does not count: checked again (the export itself is reused)
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "tolerance": 1.0}))
    backend, checks, weights = spy.load(environ)
    assert "cached export" in backend and checks == 1 and weights == [True]
    assert json.loads(record.read_text())["tolerance"] == backends.FP32_TOLERANCE

    # the checkpoint changes (its weights file is rewritten): a new export and check
    weights_file = checkpoint / "model.safetensors"
    stat = weights_file.stat()
    os.utime(weights_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    backend, checks, weights = spy.load(environ)
    assert "exported now" in backend and checks == 1 and weights == [True]
    assert len(list(cache.glob("*-sequence-classification-fp32/check.json"))) == 2


def write_cues(path: Path, rows: int = 40) -> Path:
    """A file a tiny model learns in seconds: the label is a cue word in the text."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = "pos" if i % 2 else "neg"
            writer.writerow([f"the chef {'wonderful' if i % 2 else 'boring'} meal {i % 5}", label])
    return path


def test_a_restart_with_a_data_folder_keeps_exports_and_trained_heads(tiny_env, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    environ = {k: v for k, v in tiny_env.items() if k != "ELECTRA_DEMO_CACHE"}
    environ.update({config.DATA_DIR_VAR: str(data), "ELECTRA_DEMO_PRELOAD": "discriminator"})
    texts = ["the wonderful meal", "a boring chef"]
    with app_server(environ) as (url, service):
        assert service.background.wait_idle(WAIT_S)  # loaded, exported, checked, switched
        assert "exported now" in service.card("discriminator")["backend"]
        client = gradio_client.Client(url + "/", verbose=False)
        *_, result = client.predict(
            file=gradio_client.handle_file(str(write_cues(tmp_path / "cues.csv"))),
            text_column="text",
            label_column="label",
            epochs=2,
            learning_rate=5e-3,
            batch_size=8,
            max_length=16,
            api_name="/finetune",
        )
        model_id = result["model_id"]
        trained = post(url, "/v1/classify", {"model": model_id, "input": texts})
        created = service.finetuned.get(model_id).created
        detected = post(url, "/v1/detect", {"input": texts[0]})
    assert list((data / "electra-demo" / "onnx").glob("*/check.json"))
    assert (data / "electra-demo" / "finetuned" / model_id).is_dir()

    def never(*args, **kwargs):
        raise AssertionError("a restart that finds its export must not export or check again")

    monkeypatch.setattr(backends, "export_onnx", never)
    monkeypatch.setattr(backends, "agreement", never)
    with app_server(environ) as (url, service):
        assert service.background.wait_idle(WAIT_S)
        assert "cached export" in service.card("discriminator")["backend"]
        assert not service.load("discriminator").has_torch_weights
        assert post(url, "/v1/detect", {"input": texts[0]})["data"] == detected["data"]
        again = post(url, "/v1/classify", {"model": model_id, "input": texts})
        assert again["data"] == trained["data"]
        assert service.finetuned.get(model_id).created == created  # its time counts from training
        health = httpx.get(url + "/health", timeout=WAIT_S).json()
        assert health["loaded"] == ["discriminator"]

    # a TTL shorter than the time since training (though longer than since this start): expired
    since_training = time.time() - created
    later = ModelService(environ={**environ, "ELECTRA_DEMO_FT_TTL": f"{since_training:.3f}"})
    assert model_id not in later.finetuned
    assert not (data / "electra-demo" / "finetuned" / model_id).exists()
