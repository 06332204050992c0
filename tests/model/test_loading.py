"""Loading a registered model: one local copy per version, checked before fastText reads it.

Faults injected: a truncated fastText file in the local copy and in the
artifact store, a child that runs out of time or memory, two loads at once.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from course_lib.model.artifact import DamagedModel, check_loads_in_a_child
from course_lib.model.fasttext_model import Hyperparameters
from course_lib.model.loading import load_registered, local_copy
from course_lib.model.training import TrainConfig, TrainResult, run_training
from course_lib.serving.model_service import ModelService, ServingConfig
from tests.conftest import SMALL
from tests.polling import wait_until

DAMAGED = "fasttext-damaged"


def _fasttext_file(copy: Path) -> Path:
    return copy / "artifacts" / "model.bin"


def test_a_version_is_downloaded_once_and_leaves_nothing_in_tmp(
    small_model: TrainResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``mlflow.pyfunc.load_model("models:/…")`` left a 43 MB copy in $TMPDIR per load."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # what mlflow's mkdtemp uses
    assert mlflow.pyfunc.load_model(f"models:/{SMALL.model_name}@champion")
    assert list(private_tmp.iterdir()), "the test would not see MLflow's temporary copies"
    shutil.rmtree(private_tmp)
    private_tmp.mkdir()
    first = load_registered(SMALL.model_name, small_model.model_version)
    copy = local_copy(SMALL.model_name, small_model.model_version)
    stamp = (copy / "MLmodel").stat().st_mtime_ns
    second = load_registered(SMALL.model_name, alias="champion")
    assert (copy / "MLmodel").stat().st_mtime_ns == stamp, "downloaded again"
    assert list(private_tmp.iterdir()) == []
    assert second.version == first.version and second.uri.endswith("@champion")
    assert first.model.predict(["taxi"]) == second.model.predict(["taxi"])


def test_two_loads_at_once_share_one_complete_copy(small_model: TrainResult, state_dir: Path):
    version = small_model.model_version
    shutil.rmtree(state_dir / "models" / SMALL.model_name / version, ignore_errors=True)
    copies: list[Path] = []
    threads = [
        threading.Thread(target=lambda: copies.append(local_copy(SMALL.model_name, version)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(copies)) == 1 and (copies[0] / "MLmodel").is_file()
    assert [p.name for p in copies[0].parent.iterdir()] == [version], "a partial copy was left"


@pytest.fixture(scope="module")
def damaged_version(mlflow_server: str) -> str:
    """A model of its own, so truncating its files disturbs no other test."""
    config = TrainConfig(
        rows=3_000, experiment="tests-damaged", model_name=DAMAGED,
        params=Hyperparameters(epoch=2, bucket=5_000),
    )  # fmt: skip
    return run_training(config, status=lambda _: None).model_version


def test_a_truncated_local_copy_is_refused_removed_and_fetched_again(damaged_version: str):
    copy = local_copy(DAMAGED, damaged_version)
    logged = _fasttext_file(copy).stat().st_size
    with _fasttext_file(copy).open("r+b") as handle:
        handle.truncate(1_000)
    with pytest.raises(DamagedModel, match=f"has 1,000 bytes, the logged model {logged:,}"):
        load_registered(DAMAGED, damaged_version)
    assert not copy.exists(), "the damaged copy must not be used again"
    assert load_registered(DAMAGED, damaged_version).model.predict(["taxi"])


def test_an_old_model_without_fingerprint_is_loaded_first_in_a_bounded_child(
    damaged_version: str, monkeypatch: pytest.MonkeyPatch
):
    """Models logged before 0.2 have no checksum: a throwaway process reads them first."""
    copy = local_copy(DAMAGED, damaged_version)
    mlmodel = yaml.safe_load((copy / "MLmodel").read_text())
    del mlmodel["flavors"]["python_function"]["config"]
    (copy / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    calls: list[Path] = []
    real = check_loads_in_a_child
    monkeypatch.setattr(
        "course_lib.model.loading.check_loads_in_a_child", lambda p: calls.append(p) or real(p)
    )
    assert load_registered(DAMAGED, damaged_version).model.predict(["taxi"])
    with _fasttext_file(copy).open("r+b") as handle:
        handle.truncate(1_000)
    started = time.monotonic()
    with pytest.raises(DamagedModel, match=r"model\.bin is damaged"):
        load_registered(DAMAGED, damaged_version)
    assert time.monotonic() - started < 60
    assert calls == [_fasttext_file(copy)] * 2


def test_the_child_is_stopped_past_its_time_or_memory(damaged_version: str):
    path = _fasttext_file(local_copy(DAMAGED, damaged_version))
    with pytest.raises(DamagedModel, match=r"took more than 0\.01 s"):
        check_loads_in_a_child(path, timeout=0.01)
    with pytest.raises(DamagedModel, match="took more than 1 MB"):
        check_loads_in_a_child(path, max_bytes=1 << 20)


def _stored_fasttext_file(state_dir: Path, version: str) -> Path:
    source = MlflowClient().get_model_version(DAMAGED, version).source  # models:/m-<id>
    model_id = source.rsplit("/", 1)[-1]
    [path] = [
        p for p in (state_dir / "mlflow" / "artifacts").rglob("model.bin") if model_id in str(p)
    ]
    return path


def test_the_api_reports_a_damaged_artifact_and_recovers_when_it_is_mended(
    damaged_version: str, state_dir: Path
):
    """The fault of the report: model.bin cut to 1,000 bytes in the artifact store."""
    stored = _stored_fasttext_file(state_dir, damaged_version)
    sound = stored.read_bytes()
    shutil.rmtree(state_dir / "models" / DAMAGED, ignore_errors=True)
    stored.write_bytes(sound[:1_000])
    config = ServingConfig(model_name=DAMAGED, model_version=damaged_version, retry_seconds=0.2)
    service = ModelService(config)
    service.start()
    try:
        wait_until(lambda: service.attempts >= 3, 60, "three load attempts")
        assert service.status == "failed" and not service.ready
        assert "has 1,000 bytes, the logged model" in service.detail
        assert f"models:/{DAMAGED}/{damaged_version}" in service.detail
        stored.write_bytes(sound)
        wait_until(lambda: service.ready, 60, "the model to load once mended")
        assert service.model.predict(["taxi"])
    finally:
        service.stop()
        stored.write_bytes(sound)
    assert mlflow.get_tracking_uri()
