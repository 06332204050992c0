"""``course etl`` between S3 prefixes, against moto's S3 server on loopback (the CronJob's case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.monitoring.datasets import PREDICTIONS, REFUSED, REJECTS
from course_lib.monitoring.etl_state import STATE_FILE
from course_lib.serving.log_records import Refused
from tests.conftest import S3_BUCKET as BUCKET
from tests.monitoring.test_etl import DAY, dataset, day_lines, lines_of, run, write

pytestmark = pytest.mark.slow


def upload(client, folder: Path, prefix: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder)}")


def download(client, prefix: str, into: Path) -> Path:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", [])
    for item in listed:
        target = into / item["Key"].removeprefix(prefix + "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, item["Key"], str(target))
    return into


def test_s3_source_and_destination_give_the_same_rows_as_local_folders(s3_bucket, tmp_path):
    logs = tmp_path / "logs"
    write(logs / "api" / "predictions.jsonl.1", [*day_lines(DAY, 40, "api"), "oops\n"])
    refusal = Refused("r-1", "/predict", 422, "empty description", "fasttext", "3", 0.4)
    write(
        logs / "simulated" / "traffic-2026-11-02.jsonl",
        [*day_lines(DAY, 25, "sim"), *lines_of(refusal)],
    )
    local, _ = run(logs, tmp_path / "local")
    upload(s3_bucket, logs, "logs")

    report, messages = run(f"s3://{BUCKET}/logs", f"s3://{BUCKET}/monitoring")
    assert (report.new_predictions, report.new_refused, report.rejects) == (65, 1, {"foreign": 1})
    assert report.rejects_file.startswith(f"s3://{BUCKET}/monitoring/{REJECTS}/rejects-")
    assert any("api/predictions.jsonl.1" in m for m in messages), messages
    copy = download(s3_bucket, "monitoring", tmp_path / "from-s3")
    assert (copy / STATE_FILE).is_file()
    for name in (PREDICTIONS, REFUSED):
        assert dataset(copy, name).equals(dataset(tmp_path / "local", name)), name
    assert local.summary().split(" → ")[0] == report.summary().split(" → ")[0]

    again, _ = run(f"s3://{BUCKET}/logs", f"s3://{BUCKET}/monitoring")
    assert again.summary().startswith("nothing new: 2 log files")
    write(tmp_path / "next" / "simulated" / "traffic-2026-11-03.jsonl", day_lines(DAY, 5, "new"))
    upload(s3_bucket, tmp_path / "next", "logs")
    added, _ = run(f"s3://{BUCKET}/logs", f"s3://{BUCKET}/monitoring")
    assert (added.files_read, added.new_predictions, added.duplicates) == (1, 5, 0)


def test_s3_logs_into_a_local_folder(s3_bucket, tmp_path):
    write(tmp_path / "logs" / "predictions.jsonl.1", day_lines(DAY, 10, "x"))
    upload(s3_bucket, tmp_path / "logs", "logs/api")
    report, _ = run(f"s3://{BUCKET}/logs", tmp_path / "out")
    assert report.new_predictions == 10 and len(dataset(tmp_path / "out")) == 10


def test_an_empty_prefix_is_a_clear_report(s3_bucket, tmp_path):
    report, _ = run(f"s3://{BUCKET}/nothing-here", tmp_path / "out")
    assert report.summary().startswith(f"no log files in s3://{BUCKET}/nothing-here:")


def test_an_unreadable_bucket_is_one_error_naming_it(s3_bucket, tmp_path):
    with pytest.raises(CourseError, match=r"cannot list the logs in s3://no-such-bucket/logs: "):
        run("s3://no-such-bucket/logs", tmp_path / "out")
    write(tmp_path / "logs" / "predictions.jsonl.1", day_lines(DAY, 2, "x"))
    with pytest.raises(CourseError, match=r"s3://no-such-bucket/monitoring"):
        run(tmp_path / "logs", "s3://no-such-bucket/monitoring")


def test_datasets_inside_the_logs_prefix_are_not_read_as_logs(s3_bucket, tmp_path):
    write(tmp_path / "logs" / "predictions.jsonl.1", [*day_lines(DAY, 3, "in"), "oops\n"])
    upload(s3_bucket, tmp_path / "logs", "logs/api")
    run(f"s3://{BUCKET}/logs", f"s3://{BUCKET}/logs/monitoring")
    report, _ = run(f"s3://{BUCKET}/logs", f"s3://{BUCKET}/logs/monitoring")
    assert report.files_listed == 1, "the rejects file (.jsonl) under the datasets is no log"
