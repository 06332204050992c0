"""``course serve`` as trainees and pods run it: a real uvicorn process speaking HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading

import psutil
import pytest
import requests

from course_lib.errors import CourseError
from course_lib.model.training import TrainResult
from course_lib.processes import free_port
from course_lib.serving.process import (
    ApiProcess,
    running_api,
    start_api,
    stop_api,
    wait_until_ready,
)
from tests.conftest import SMALL
from tests.polling import wait_until
from tests.servers import mlflow_servers_under

pytestmark = pytest.mark.slow  # real API processes, a temporary MLflow server


@pytest.fixture
def api(served_api: ApiProcess) -> ApiProcess:
    return served_api


def test_serves_the_registered_version(api: ApiProcess, small_model: TrainResult) -> None:
    info = requests.get(api.url, timeout=5).json()
    assert info["model_version"] == small_model.model_version
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


def _failed_attempt(api: ApiProcess) -> dict | None:
    try:
        ready = requests.get(f"{api.url}/ready", timeout=2)
    except requests.ConnectionError:
        return None
    if ready.json()["status"] != "failed":
        return None
    return {"status_code": ready.status_code, **ready.json()}


def _wait_for_failed_attempt(api: ApiProcess, timeout: float = 60.0) -> dict:
    return wait_until(lambda: _failed_attempt(api), timeout, f"a failed load in {api.log}")


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
        wait_until(lambda: "attempt 2" in api.log_tail(), 30, "a second attempt in the log")
        assert names in api.log_tail()
    finally:
        stop_api(api)


def test_sigterm_stops_the_api_and_its_temporary_mlflow_server(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no MLFLOW_TRACKING_URI, `course serve` starts its own server; SIGTERM ends both."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path))  # an empty registry: nothing to load
    api = start_api(env={"API_LOAD_RETRY_SECONDS": "1"}, wait=False)
    try:
        ready = _wait_for_failed_attempt(api, timeout=120)
        assert "train one with `course train`" in ready["detail"]
        mlflow_pids = mlflow_servers_under(tmp_path)
        assert len(mlflow_pids) == 1, "course serve started a temporary MLflow server"
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        _wait_gone(api.pid)
    wait_until(
        lambda: not mlflow_servers_under(tmp_path), 30, "the temporary MLflow server to stop"
    )


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    wait_until(lambda: _reaped(pid), timeout, f"the API (pid {pid}) to stop on SIGTERM")


def test_a_taken_port_or_a_dead_server_is_explained(small_model: TrainResult) -> None:
    with running_api(model=SMALL.model_name) as first:
        taken = pytest.raises(CourseError, match=f"port {first.port} is already in use")
        with taken:
            start_api(model=SMALL.model_name, port=first.port)
    with pytest.raises(CourseError, match="the API stopped while starting"):
        start_api(model=SMALL.model_name, root_path="no-slash")  # refused by course serve
    stale = ApiProcess(pid=0, port=free_port(), log=first.log)
    with pytest.raises(CourseError, match="was not ready after 1 s"):
        wait_until_ready(stale, timeout=1)


def _rss(pid: int) -> int:
    """Memory of the API: the supervisor ``start_api`` runs and ``course serve`` under it."""
    supervisor = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [supervisor, *supervisor.children(recursive=True)])


def test_a_flood_of_unknown_fields_stays_small_and_health_answers(api: ApiProcess) -> None:
    """1.2 million extra keys (19 MB, under the body cap) took the API from 0.4 to 2.4 GB
    for 20 s and answered 88 MB; now one short 422, memory near flat, /health answering."""
    flood = json.dumps({"descriptions": ["a b"]} | {f"<x{i}>": 1 for i in range(1_200_000)})
    before = _rss(api.pid)
    peak, health, done = [before], [], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak.append(_rss(api.pid))
            try:
                health.append(requests.get(f"{api.url}/health", timeout=5).status_code)
            except requests.RequestException as exc:
                health.append(type(exc).__name__)
            done.wait(0.05)  # a sampling period, not a wait for something to happen

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = requests.post(
            f"{api.url}/predict", data=flood, headers={"content-type": "application/json"},
            timeout=60,
        )  # fmt: skip
    finally:
        done.set()
        watcher.join()
    assert response.status_code == 422
    assert len(response.content) < 1_000
    assert "unknown field(s): 1,200,000" in response.json()["message"]
    assert health and set(health) == {200}, health
    growth = max(peak) - before
    assert growth < 400 * 2**20, f"the API grew by {growth / 2**20:.0f} MB"
    assert max(peak) < 2**30, "over the pod's 1 GiB memory limit"
