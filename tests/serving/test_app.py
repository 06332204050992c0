"""The prediction API in-process: contract, bad input, readiness, one model call per batch.

The model is a small one the session trained and registered through the
course's own code (``fasttext-small`` @champion), loaded the way a pod loads it.
"""

from __future__ import annotations

import logging
import random
import re
import string
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from course_lib.data import preprocessing
from course_lib.model.training import TrainResult
from course_lib.serving.app import create_app
from course_lib.serving.model_service import ModelService, ServingConfig, resolve_and_load
from tests.conftest import SMALL
from tests.polling import wait_until

CONFIG = ServingConfig(model_name=SMALL.model_name, model_version="champion", max_batch=50)


class CountingModel:
    """The real model, counting how often the API calls it."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, 0

    def predict(self, texts: list[str], params: dict[str, Any]) -> Any:
        self.calls += 1
        return self.model.predict(texts, params=params)


@pytest.fixture(scope="module")
def loaded(small_model: TrainResult) -> tuple[str, str, CountingModel]:
    uri, version, model = resolve_and_load(CONFIG)
    return uri, version, CountingModel(model)


@pytest.fixture
def client(loaded: tuple[str, str, CountingModel]) -> Iterator[TestClient]:
    service = ModelService(CONFIG, loader=lambda _: loaded)
    service.start().join(timeout=30)
    with TestClient(create_app(service, load=False)) as test_client:
        yield test_client


@pytest.fixture
def client_for_big_batches(loaded: tuple[str, str, CountingModel]) -> Iterator[TestClient]:
    """The default batch limit (1,000), so bodies up to about 20 MB reach validation."""
    service = ModelService(replace(CONFIG, max_batch=1_000), loader=lambda _: loaded)
    service.start().join(timeout=30)
    with TestClient(create_app(service, load=False)) as test_client:
        yield test_client


def test_root_names_the_served_version(client: TestClient, small_model: TrainResult) -> None:
    info = client.get("/").json()
    assert info == {
        "model_name": SMALL.model_name,
        "model_version": small_model.model_version,
        "model_uri": f"models:/{SMALL.model_name}/{small_model.model_version}",  # alias pinned
        "ready": True,
    }
    assert client.get("/health").json() == {"status": "alive"}
    assert client.get("/ready").status_code == 200


def test_get_predict_ranks_codes_with_labels(client: TestClient) -> None:
    response = client.get(
        "/predict", params={"description": "boulangerie pâtisserie", "nb_echoes_max": 3}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "boulangerie pâtisserie"
    first, *rest = body["predictions"]
    assert first == {
        "nace": "1071C",
        "code": "10.71C",
        "label": "Boulangerie et boulangerie-pâtisserie",
        "probability": pytest.approx(first["probability"]),
    }
    assert len(rest) == 2
    probabilities = [p["probability"] for p in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_a_whole_number_written_as_a_float_is_that_number(client: TestClient) -> None:
    """JSON Schema's integer (what the API publishes) includes 2.0; so does the API."""
    batch = client.post("/predict", json={"descriptions": ["taxi"], "nb_echoes_max": 2.0})
    single = client.get("/predict", params={"description": "taxi", "nb_echoes_max": "2.0"})
    assert batch.status_code == single.status_code == 200
    assert len(batch.json()["results"][0]["predictions"]) == 2
    assert len(single.json()["predictions"]) == 2


def test_default_is_one_prediction(client: TestClient) -> None:
    body = client.get("/predict", params={"description": "coiffure mixte"}).json()
    assert [p["nace"] for p in body["predictions"]] == ["9602A"]


def test_batch_is_one_model_call_and_keeps_order(
    client: TestClient, loaded: tuple[str, str, CountingModel]
) -> None:
    model = loaded[2]
    texts = ["coiffure mixte", "taxi", "boulangerie", "!!!", "conseil en informatique"] * 8
    before = model.calls
    response = client.post("/predict", json={"descriptions": texts, "nb_echoes_max": 2})
    assert response.status_code == 200
    assert model.calls == before + 1
    results = response.json()["results"]
    assert [r["description"] for r in results] == texts
    assert results[3]["predictions"] == []  # no readable word: empty, not an error
    one_by_one = [
        client.get("/predict", params={"description": t, "nb_echoes_max": 2}).json()["predictions"]
        for t in texts[:5]
    ]
    assert [r["predictions"] for r in results[:5]] == one_by_one


LONG = "boulangerie " * 8_400  # 100,800 characters
JSON = "application/json"


def query(**params: Any) -> tuple[str, dict[str, Any]]:
    return "get", {"params": params}


def body(payload: Any) -> tuple[str, dict[str, Any]]:
    return "post", {"json": payload}


def raw(content: bytes, content_type: str = JSON) -> tuple[str, dict[str, Any]]:
    return "post", {"content": content, "headers": {"content-type": content_type}}


BAD_REQUESTS = [
    (query(description=""), 422, "query.description"),
    (query(description="   \t "), 422, "blank"),
    (query(), 422, "query.description: Field required"),
    (query(description="x" * 5_001), 422, "at most 5000 characters"),
    (query(description="taxi", nb_echoes_max=0), 422, "greater than or equal to 1"),
    (query(description="taxi", nb_echoes_max=1000), 422, "less than or equal to 50"),
    (query(description="taxi", nb_echoes_max="two"), 422, "valid integer"),
    (query(description="taxi", k=3), 422, "query: unknown field(s): 1 ('k')"),
    (query(description="taxi", nb_echoes_max="2.5"), 422, "unable to parse string as an int"),
    (body({"descriptions": [LONG]}), 422, "body.descriptions.0: String should have at most"),
    (body({"descriptions": ["taxi", " "]}), 422, "body.descriptions.1: the description is blank"),
    (body({"descriptions": []}), 422, "at least 1 item"),
    (body({"descriptions": "taxi"}), 422, "valid list"),
    (body({"descriptions": [1, None]}), 422, "body.descriptions.0: Input should be a valid string"),
    (body({"descriptions": ["taxi"], "nb_echoes_max": 0}), 422, "body.nb_echoes_max"),
    (body({"descriptions": ["taxi"], "nb_echoes_max": True}), 422, "true is not a number"),
    (body({"descriptions": ["taxi"], "nb_echoes_max": 2.5}), 422, "with a fractional part"),
    (body({"descriptions": ["taxi"], "nb_echoes": 2}), 422, "unknown field(s): 1 ('nb_echoes')"),
    (body({"descriptions": ["\x1c\u3000 "]}), 422, "the description is blank"),
    (body(["taxi"]), 422, "valid dictionary"),
    (body({"description": "taxi"}), 422, "1 ('description'); did you mean 'descriptions'?"),
    (body({"descriptions": ["taxi"] * 51}), 413, "the limit is 50: send them in chunks"),
    (raw(b"taxi, coiffure"), 422, "not valid JSON"),
    (raw(b'{"descriptions": ["caf\xe9"]}'), 400, "UTF-8"),
    (raw(b"[" * 10_000 + b"]" * 10_000), 400, "too deeply nested"),
    (raw(b'{"descriptions": ["x"], "nb_echoes_max": ' + b"9" * 5_000 + b"}"), 400, "too long"),
    (raw(b"descriptions=taxi", "text/plain"), 422, "valid dictionary"),
    (("delete", {}), 405, "method DELETE not allowed; use GET, POST"),
]


@pytest.mark.parametrize(("request_", "status", "says"), BAD_REQUESTS)
def test_bad_input_gets_a_4xx_that_says_what_was_wrong(
    client: TestClient, request_: tuple[str, dict[str, Any]], status: int, says: str
) -> None:
    method, kwargs = request_
    response = getattr(client, method)("/predict", **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert says in body["message"]
    assert len(response.content) < 2_000, "the error must not echo a huge input back"


def test_latin1_query_string_is_refused_not_garbled(client: TestClient) -> None:
    response = client.get("/predict?description=caf%E9")  # "café" in Latin-1
    assert response.status_code == 400
    assert "not valid UTF-8 (byte 0xe9" in response.json()["message"]
    assert client.get("/predict?description=caf%C3%A9").status_code == 200


def test_unknown_route_is_a_404_in_the_same_shape(client: TestClient) -> None:
    response = client.get("/predictions")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found", "errors": []}


def test_not_ready_until_loaded_then_ready(loaded: tuple[str, str, CountingModel]) -> None:
    release = threading.Event()

    def slow_loader(_: ServingConfig) -> tuple[str, str, CountingModel]:
        release.wait(10)
        return loaded

    service = ModelService(CONFIG, loader=slow_loader)
    with TestClient(create_app(service)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "loading"
        assert f"models:/{SMALL.model_name}@champion" in ready.json()["detail"]
        refused = client.get("/predict", params={"description": "taxi"})
        assert refused.status_code == 503
        assert "not ready" in refused.json()["message"]
        assert client.get("/").json()["ready"] is False
        release.set()
        wait_until(lambda: service.ready, 5, "the model to be ready")
        assert client.get("/ready").status_code == 200


def test_missing_model_is_logged_with_its_uri_and_retried(
    mlflow_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServingConfig(model_name="no-such-model", model_version="4", retry_seconds=0.2)
    service = ModelService(config)
    with caplog.at_level(logging.ERROR, logger="course_lib.serving"):
        service.start()
        wait_until(lambda: service.attempts >= 2, 10, "a second attempt to load")
        service.stop()
    assert not service.ready
    assert service.status == "failed"
    assert "models:/no-such-model/4" in service.detail
    assert "train one with `course train`" in service.detail
    assert any("models:/no-such-model/4" in r.getMessage() for r in caplog.records)


def test_an_oversized_body_is_refused_before_it_is_parsed(client: TestClient) -> None:
    limit = 50 * 5_000 * 4 + 65_536  # CONFIG's batch of 50
    huge = b'{"descriptions": ["' + b"a" * (limit + 10) + b'"]}'
    declared = client.post("/predict", content=huge, headers={"content-type": JSON})
    assert declared.status_code == 413
    assert f"the limit is {limit:,}" in declared.json()["message"]

    def chunks():  # no Content-Length: the body streams in until it passes the limit
        yield b'{"descriptions": ["'
        for _ in range(limit // 65_536 + 2):
            yield b"a" * 65_536
        yield b'"]}'

    streamed = client.post("/predict", content=chunks(), headers={"content-type": JSON})
    assert streamed.status_code == 413
    assert "send fewer or shorter descriptions" in streamed.json()["message"]
    assert client.get("/health").status_code == 200


def test_the_model_chosen_on_the_command_line_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_MODEL_NAME", "from-env")
    monkeypatch.setenv("MLFLOW_MODEL_VERSION", "champion")
    config = ServingConfig.from_env()
    assert config.with_choice(None, None) == config
    chosen = config.with_choice("mine", "3")
    assert (chosen.model_name, chosen.model_version) == ("mine", "3")
    assert chosen.wanted_uri() == "models:/mine/3"
    assert config.with_choice(None, "staging").wanted_uri() == "models:/from-env@staging"


def test_a_million_unknown_fields_are_one_short_error(client_for_big_batches: TestClient) -> None:
    """One validation error per unknown key used to mean a 2.4 GB process and an 88 MB 422."""
    flood = {"descriptions": ["taxi"]} | {f"<x{i}>": 1 for i in range(1_000_000)}
    response = client_for_big_batches.post("/predict", json=flood)
    assert response.status_code == 422
    assert len(response.content) < 1_000
    message = response.json()["message"]
    assert "unknown field(s): 1,000,000 ('<x0>', '<x1>', '<x2>' and 999,997 more)" in message
    assert "<x999999>" not in response.text


def test_long_unknown_field_names_are_cut_and_quoted(client: TestClient) -> None:
    name = "<script>" + "a" * 5_000
    response = client.post("/predict", json={"descriptions": ["taxi"], name: 1})
    assert response.status_code == 422
    assert "unknown field(s): 1 ('<script>aaaaaaaaaaaaaaaaaaaaaa'…)" in response.json()["message"]
    assert len(response.content) < 1_000


def test_many_invalid_descriptions_are_counted_not_all_listed(client: TestClient) -> None:
    response = client.post("/predict", json={"descriptions": [1] * 50})
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == 10
    assert "(50 errors in all, the first 10 listed)" in body["message"]


def test_a_batch_over_the_limit_is_refused_before_its_items_are_read(
    client_for_big_batches: TestClient,
) -> None:
    """The limit is the list's maxLength: a million non-strings are one 413, not 1M errors."""
    response = client_for_big_batches.post("/predict", json={"descriptions": [1] * 1_000_000})
    assert response.status_code == 413
    assert response.json() == {
        "message": "1000000 descriptions in one request; the limit is 1000: "
        "send them in chunks of at most 1000",
        "errors": [],
    }
    schema = client_for_big_batches.get("/openapi.json").json()["components"]["schemas"]
    assert schema["BatchRequest"]["properties"]["descriptions"]["maxItems"] == 1_000


def test_the_docs_page_uses_the_package_s_copy_of_swagger_ui(client: TestClient) -> None:
    html = client.get("/docs").text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
    assert urls
    assert all(url.startswith("/static-offline-docs/") for url in urls), urls
    assert "http://" not in html and "https://" not in html
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.get("/redoc").status_code == 404  # ReDoc would fetch its logo from a CDN


def test_concurrent_requests_with_new_words_never_fail_nor_come_back_empty(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token cache under load: a small limit, so it is replaced while others read it."""
    monkeypatch.setattr(preprocessing, "_TOKEN_CACHE_LIMIT", 300)
    preprocessing.reset_token_cache()
    words = ["".join(random.Random(i).choices(string.ascii_lowercase, k=9)) for i in range(4_000)]

    def ask(i: int) -> tuple[int, list[Any]]:
        noise = " ".join(words[(i * 20) % 3_980 : (i * 20) % 3_980 + 20])
        response = client.post("/predict", json={"descriptions": [f"boulangerie {noise}"]})
        return response.status_code, response.json().get("results", [])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(200)))
    assert {status for status, _ in answers} == {200}
    assert all(results[0]["predictions"] for _, results in answers), "a known word was dropped"
    assert len(preprocessing._token_cache) <= 300


def test_answers_follow_the_documented_schemas(client: TestClient) -> None:
    """The routes build their JSON directly (no second validation by FastAPI): it must
    still be exactly what /docs promises, field for field."""
    from course_lib.serving.schemas import BatchResponse, PredictResponse

    one = client.get("/predict", params={"description": "taxi", "nb_echoes_max": 2}).json()
    assert PredictResponse.model_validate(one).model_dump() == one
    batch = client.post("/predict", json={"descriptions": ["taxi", "coiffure"]}).json()
    assert BatchResponse.model_validate(batch).model_dump() == batch
    assert [len(item["predictions"]) for item in batch["results"]] == [1, 1]
