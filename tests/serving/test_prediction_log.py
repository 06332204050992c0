"""The API's prediction log: one JSON line per description, request ids, refusals, no loss.

In-process with the session's small registered model; the last tests stop a
real ``course serve`` process with SIGTERM and count its lines.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from course_lib.model.training import TrainResult
from course_lib.serving.app import create_app
from course_lib.serving.log_records import SCHEMA, Served, TextPolicy
from course_lib.serving.model_service import ModelService, ServingConfig, resolve_and_load
from course_lib.serving.prediction_log import LOG_FILE, LogConfig, PredictionLog
from course_lib.serving.process import start_api, stop_api
from tests.conftest import SMALL

CONFIG = ServingConfig(model_name=SMALL.model_name, model_version="champion", max_batch=50)


@pytest.fixture(scope="module")
def loaded(small_model: TrainResult) -> tuple[str, str, Any]:
    return resolve_and_load(CONFIG)


def _client(loaded: tuple[str, str, Any], log: PredictionLog) -> TestClient:
    service = ModelService(CONFIG, loader=lambda _: loaded)
    service.start().join(timeout=30)
    return TestClient(create_app(service, load=False, prediction_log=log))


def _lines(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.glob(f"{LOG_FILE}*"), key=lambda p: p.name)
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


@pytest.fixture
def logged(
    tmp_path: Path, loaded: tuple[str, str, Any]
) -> Iterator[tuple[TestClient, Path, io.StringIO]]:
    stdout = io.StringIO()
    log = PredictionLog(LogConfig(folder=tmp_path), stdout=stdout)
    with _client(loaded, log) as client:
        yield client, tmp_path, stdout


def test_a_prediction_is_one_json_line_with_the_contract_fields(logged, loaded) -> None:
    client, folder, stdout = logged
    answer = client.get("/predict", params={"description": "boulangerie", "nb_echoes_max": 3})
    assert answer.status_code == 200
    client.app.state.prediction_log.close()
    (line,) = _lines(folder)
    assert line["schema"] == SCHEMA and line["event"] == "prediction"
    assert line["request_id"] == answer.headers["x-request-id"]
    assert line["route"] == "GET /predict"
    assert (line["model_name"], line["model_version"]) == (SMALL.model_name, loaded[1])
    assert line["text"] == "boulangerie" and line["text_chars"] == 11
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    served = answer.json()["predictions"]
    assert [p["nace"] for p in line["predictions"]] == [p["nace"] for p in served]
    assert [p["probability"] for p in line["predictions"]] == pytest.approx(
        [p["probability"] for p in served], abs=1e-6
    )
    assert line["latency_ms"] > 0
    assert line["words"] == 1 and line["unknown_words"] == 0  # "boulang" is in the vocabulary
    assert stdout.getvalue().splitlines() == [
        json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    ]


def test_a_batch_is_one_line_per_description_with_the_batch_request_id(logged) -> None:
    client, folder, _ = logged
    texts = ["coiffure", "taxi", "boulangerie"]
    answer = client.post(
        "/predict", json={"descriptions": texts}, headers={"X-Request-ID": "trace-42"}
    )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "trace-42"
    client.app.state.prediction_log.close()
    lines = _lines(folder)
    assert [(x["request_id"], x["position"], x["batch_size"], x["text"]) for x in lines] == [
        ("trace-42", i, 3, text) for i, text in enumerate(texts)
    ]
    assert len({x["latency_ms"] for x in lines}) == 1  # the batch's latency


def test_an_unsafe_request_id_is_replaced_not_echoed(logged) -> None:
    client, folder, _ = logged
    for hostile in ["x" * 500, "a b", "<script>"]:
        answer = client.get(
            "/predict", params={"description": "taxi"}, headers={"X-Request-ID": hostile}
        )
        assert answer.headers["x-request-id"] != hostile
        assert len(answer.headers["x-request-id"]) == 32
    client.app.state.prediction_log.close()
    assert all(len(x["request_id"]) == 32 for x in _lines(folder))


def test_refused_requests_are_logged_with_status_and_reason_never_the_body(logged) -> None:
    client, folder, _ = logged
    secret = "JEAN DUPONT " + "x" * 5_000
    assert (
        client.post("/predict", json={"descriptions": [secret], "nb_echoes_max": 0}).status_code
        == 422
    )
    assert client.post("/predict", json={"descriptions": ["a"] * 51}).status_code == 413
    assert client.get("/predict", params={"description": "   "}).status_code == 422
    assert client.get("/health").status_code == 200  # probes are not logged
    client.app.state.prediction_log.close()
    lines = _lines(folder)
    assert [(x["event"], x["status"], x["route"]) for x in lines] == [
        ("refused", 422, "POST /predict"),
        ("refused", 413, "POST /predict"),
        ("refused", 422, "GET /predict"),
    ]
    assert "nb_echoes_max" in lines[0]["reason"] and "51 descriptions" in lines[1]["reason"]
    assert "blank" in lines[2]["reason"]
    raw = (folder / LOG_FILE).read_text()
    assert "DUPONT" not in raw and len(raw) < 2_000


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (TextPolicy.HASH, "sha256:" + hashlib.sha256(b"JEAN DUPONT PLOMBIER").hexdigest()),
        (TextPolicy.OMIT, None),
    ],
)
def test_the_text_policy_hashes_or_omits_the_description(
    tmp_path, loaded, policy, expected
) -> None:
    log = PredictionLog(LogConfig(folder=tmp_path, text_policy=policy, stdout=False))
    with _client(loaded, log) as client:
        client.get("/predict", params={"description": "JEAN DUPONT PLOMBIER"})
    (line,) = _lines(tmp_path)
    assert line["text"] == expected and line["text_policy"] == policy.value
    assert line["text_chars"] == 20 and line["words"] >= 2  # lengths stay for drift
    assert "DUPONT" not in (tmp_path / LOG_FILE).read_text()


def test_the_policy_comes_from_the_environment_and_a_typo_is_named(monkeypatch) -> None:
    monkeypatch.setenv("API_LOG_TEXT", "hash")
    assert LogConfig.from_env().text_policy is TextPolicy.HASH
    monkeypatch.setenv("API_LOG_TEXT", "hashed")
    with pytest.raises(ValueError, match="API_LOG_TEXT='hashed' is not one of raw, hash, omit"):
        LogConfig.from_env()


def served(i: int, batch: int = 10) -> Served:
    """Request ``r<i>``: a batch of ``batch`` descriptions, all answered 5610A at 0.5."""
    return Served(
        request_id=f"r{i}",
        route="POST /predict",
        model_name="m",
        model_version="1",
        texts=[f"texte {i} {j}" for j in range(batch)],
        predictions=[[{"nace": "5610A", "probability": 0.5}]] * batch,
        latency_ms=1.0,
    )


def test_rotation_keeps_every_line_whole_and_close_drains_the_queue(tmp_path) -> None:
    log = PredictionLog(LogConfig(folder=tmp_path, stdout=False, max_bytes=200_000, backups=50))
    for i in range(2_000):
        log.submit(served(i))
    log.close()
    files = list(tmp_path.glob(f"{LOG_FILE}*"))
    assert len(files) > 10, "the log should have rotated"
    lines = _lines(tmp_path)  # every line parses: none was split by a rotation
    assert len(lines) == 20_000 == log.lines_written
    assert len({(x["request_id"], x["position"]) for x in lines}) == 20_000
    assert all(p.stat().st_size <= 200_000 for p in files)


def test_a_bad_event_does_not_stop_the_writer(tmp_path) -> None:
    log = PredictionLog(LogConfig(folder=tmp_path, stdout=False))
    broken = Served("bad", "GET /predict", "m", "1", ["a", "b"], [[]], 1.0)  # lengths differ
    log.submit(broken)
    log.submit(served(1, batch=2))
    log.close()
    assert [x["request_id"] for x in _lines(tmp_path)] == ["r1", "r1"]


@pytest.mark.slow
def test_sigterm_flushes_every_line_of_a_real_api(small_model: TrainResult, tmp_path) -> None:
    folder = tmp_path / "logs"
    api = start_api(
        model=SMALL.model_name,
        version="champion",
        env={"API_LOG_DIR": str(folder), "API_LOG_STDOUT": "off"},
    )
    try:
        session = requests.Session()
        sent = 0
        for i in range(200):
            texts = [f"boulangerie {i} {j}" for j in range(25)]
            answer = session.post(f"{api.url}/predict", json={"descriptions": texts}, timeout=10)
            assert answer.status_code == 200
            sent += len(texts)
    finally:
        stop_api(api)  # SIGTERM to the process group, as Kubernetes stops a pod
    lines = _lines(folder)
    assert len(lines) == sent == 5_000
    assert "prediction log closed: 5000 lines for 200 requests" in api.log_tail(20_000)
    assert {x["event"] for x in lines} == {"prediction"}


def test_the_log_switch_turns_logging_off(monkeypatch, tmp_path, loaded) -> None:
    monkeypatch.setenv("API_LOG", "off")
    monkeypatch.setenv("API_LOG_DIR", str(tmp_path))
    service = ModelService(CONFIG, loader=lambda _: loaded)
    service.start().join(timeout=30)
    with TestClient(create_app(service, load=False)) as client:
        assert client.get("/predict", params={"description": "taxi"}).status_code == 200
        assert client.app.state.prediction_log is None
    assert not list(tmp_path.iterdir())
