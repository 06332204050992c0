"""``course serve`` as trainees and pods run it: a real uvicorn process speaking HTTP."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time

import pytest
import requests

from course_lib.api_process import (
    ApiProcess,
    running_api,
    start_api,
    stop_api,
    wait_until_ready,
)
from course_lib.errors import CourseError
from course_lib.tracking import free_port
from course_lib.train import TrainResult


@pytest.fixture
def api(served_api: ApiProcess) -> ApiProcess:
    return served_api


def test_serves_the_registered_version(api: ApiProcess, trained: TrainResult) -> None:
    info = requests.get(api.url, timeout=5).json()
    assert info["model_version"] == trained.model_version
    answer = requests.get(
        f"{api.url}/predict",
        params={"description": "COIFFURE MIXTE", "nb_echoes_max": 2},
        timeout=5,
    ).json()
    assert answer["predictions"][0]["code"] == "96.02A"
    batch = requests.post(
        f"{api.url}/predict", json={"descriptions": ["taxi", "boulangerie"]}, timeout=5
    ).json()
    assert [r["predictions"][0]["nace"] for r in batch["results"]] == ["4932Z", "1071C"]


def test_docs_work_behind_the_proxy_prefix(api: ApiProcess) -> None:
    """The proxy strips /proxy/8000; the pages it serves must point back through it."""
    docs = requests.get(f"{api.url}/docs", timeout=5)
    assert docs.status_code == 200
    assert "'/proxy/8000/openapi.json'" in docs.text
    schema = requests.get(f"{api.url}/openapi.json", timeout=5).json()
    assert schema["servers"] == [{"url": "/proxy/8000"}]
    assert {"/", "/predict", "/health", "/ready"} <= set(schema["paths"])
    post = schema["paths"]["/predict"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "BatchRequest"
    )


def test_huge_and_malformed_requests_get_4xx_over_real_http(api: ApiProcess) -> None:
    long_get = requests.get(
        f"{api.url}/predict", params={"description": "boulangerie " * 8_400}, timeout=10
    )
    assert 400 <= long_get.status_code < 500
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    connection.request(
        "POST", "/predict", body=b'{"descriptions": ["\xff\xfe"]}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    response = connection.getresponse()
    assert response.status == 400
    assert b"UTF-8" in response.read()
    connection.close()
    announced = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    announced.putrequest("POST", "/predict")
    announced.putheader("content-type", "application/json")
    announced.putheader("content-length", str(3 * 2**30))  # 3 GB announced, none sent
    announced.endheaders()
    refused = announced.getresponse()
    assert refused.status == 413
    assert b"the limit is" in refused.read()
    assert requests.get(f"{api.url}/health", timeout=5).status_code == 200  # still serving


def _wait_for_failed_attempt(api: ApiProcess, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = requests.get(f"{api.url}/ready", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.3)
            continue
        if ready.json()["status"] == "failed":
            return {"status_code": ready.status_code, **ready.json()}
        time.sleep(0.3)
    raise AssertionError(f"no failed load reported; log:\n{api.log_tail()}")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"MLFLOW_MODEL_NAME": "nope", "MLFLOW_MODEL_VERSION": "7"}, "models:/nope/7"),
        ({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, "http://127.0.0.1:9"),
    ],
    ids=["model-missing", "registry-down"],
)  # fmt: skip
def test_start_up_failure_is_explained_not_a_crash_loop(
    mlflow_server: str, env: dict[str, str], names: str
) -> None:
    api = start_api(env={**env, "API_LOAD_RETRY_SECONDS": "1"}, wait=False)
    try:
        ready = _wait_for_failed_attempt(api)
        assert ready["status_code"] == 503
        assert names in ready["detail"]
        assert requests.get(f"{api.url}/health", timeout=5).status_code == 200
        refused = requests.get(f"{api.url}/predict", params={"description": "taxi"}, timeout=5)
        assert refused.status_code == 503
        time.sleep(1.5)
        assert "attempt 2" in api.log_tail() or "attempt 3" in api.log_tail()
        assert names in api.log_tail()
    finally:
        stop_api(api)


def test_sigterm_stops_the_api_and_its_temporary_mlflow_server(
    trained: TrainResult, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no MLFLOW_TRACKING_URI, `course serve` starts its own server; SIGTERM ends both."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path))  # an empty registry: nothing to load
    api = start_api(env={"API_LOAD_RETRY_SECONDS": "1"}, wait=False)
    try:
        ready = _wait_for_failed_attempt(api, timeout=120)
        assert "train one with `course train`" in ready["detail"]
        mlflow_pids = _mlflow_servers_under(tmp_path)
        assert len(mlflow_pids) == 1, "course serve started a temporary MLflow server"
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        _wait_gone(api.pid)
    deadline = time.monotonic() + 30
    while _mlflow_servers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not _mlflow_servers_under(tmp_path), "the temporary MLflow server outlived the API"


def _mlflow_servers_under(state: object) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-f", f"mlflow server --backend-store-uri sqlite:///{state}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.split()


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return
        time.sleep(0.1)
    raise AssertionError(f"the API (pid {pid}) did not stop on SIGTERM")


def test_a_taken_port_or_a_dead_server_is_explained(trained: TrainResult) -> None:
    with running_api(model="fasttext-test") as first:
        taken = pytest.raises(CourseError, match=f"port {first.port} is already in use")
        with taken:
            start_api(model="fasttext-test", port=first.port)
    with pytest.raises(CourseError, match="the API stopped while starting"):
        start_api(model="fasttext-test", root_path="no-slash")  # refused by course serve
    stale = ApiProcess(pid=0, port=free_port(), log=first.log)
    with pytest.raises(CourseError, match="was not ready after 1 s"):
        wait_until_ready(stale, timeout=1)
