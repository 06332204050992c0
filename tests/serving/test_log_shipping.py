"""The API's log files copied to S3 (moto's server on loopback), and read back by the ETL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib.serving.log_shipping import CURRENT, ShippingConfig
from course_lib.serving.prediction_log import LogConfig, PredictionLog
from tests.conftest import S3_BUCKET as BUCKET
from tests.serving.test_prediction_log import served

pytestmark = pytest.mark.slow


def _keys(client) -> list[str]:
    return [x["Key"] for x in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_rotated_and_current_files_reach_s3_and_the_etl_reads_every_line(s3_bucket, tmp_path):
    shipping = ShippingConfig(prefix=f"s3://{BUCKET}/logs", every_s=3600)
    config = LogConfig(
        folder=tmp_path / "api", stdout=False, max_bytes=50_000, backups=100, shipping=shipping
    )
    log = PredictionLog(config)
    assert log.shipper is not None
    log.shipper.folder = f"{shipping.prefix}/pod-a"
    for i in range(300):
        log.submit(served(i))
    log.close()
    keys = _keys(s3_bucket)
    assert f"logs/pod-a/{CURRENT}" in keys
    rotated = [k for k in keys if k != f"logs/pod-a/{CURRENT}"]
    assert len(rotated) == len(list((tmp_path / "api").glob("predictions.jsonl.*"))) > 5
    assert log.shipper.failures == 0

    from course_lib.monitoring.etl import run_etl

    report = run_etl(f"s3://{BUCKET}/logs", tmp_path / "monitoring", status=lambda _: None)
    assert report.new_rows["predictions"] == 3_000, report.summary()


def test_a_copy_due_is_made_while_the_api_is_idle(s3_bucket, tmp_path):
    shipping = ShippingConfig(prefix=f"s3://{BUCKET}/idle", every_s=1)
    log = PredictionLog(LogConfig(folder=tmp_path, stdout=False, shipping=shipping))
    log.submit(served(1, batch=3))
    from tests.polling import wait_until

    key = f"idle/{Path(log.shipper.folder).name}/{CURRENT}"
    wait_until(lambda: key in _keys(s3_bucket), timeout=20, what="the current file on S3")
    body = s3_bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert [json.loads(x)["position"] for x in body.splitlines()] == [0, 1, 2]
    log.close()


def test_s3_down_is_logged_and_the_lines_stay_on_disk(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("AWS_S3_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    shipping = ShippingConfig(prefix="s3://nowhere/logs", every_s=3600)
    log = PredictionLog(
        LogConfig(folder=tmp_path, stdout=False, max_bytes=20_000, backups=100, shipping=shipping)
    )
    for i in range(50):
        log.submit(served(i))
    log.close()
    assert log.shipper.failures > 0 and log.lines_written == 500
    assert "could not copy" in caplog.text
    lines = [x for p in tmp_path.glob("predictions.jsonl*") for x in p.read_text().splitlines()]
    assert len(lines) == 500


@pytest.mark.parametrize(
    ("value", "message"), [("bucket/logs", "expected s3://"), ("s3://", "expected s3://")]
)
def test_a_bad_prefix_is_named(monkeypatch, value, message):
    monkeypatch.setenv("API_LOG_S3", value)
    with pytest.raises(ValueError, match=message):
        ShippingConfig.from_env()
