import functools
import http.server
import socket
import threading
import time

import pandas as pd
import pytest

from course_lib.data import reading
from course_lib.data.corpus import GENERATOR_VERSION
from course_lib.data.dataset import (
    data_to_classify,
    default_corpus_path,
    load_dataset,
    train_test_split,
    validate,
)
from course_lib.data.reading import storage_options
from course_lib.errors import CourseError
from course_lib.processes import free_port

ROWS = pd.DataFrame(
    {
        "nace": ["56.10A", "5610A", "1071c", "9999Z", "9602A", "9602A", None],
        "text": ["RESTAURANT", "pizzeria", "BOULANGERIE", "??", "  ", "COIFFURE", "X"],
    }
)


def test_codes_are_normalised_and_bad_rows_counted():
    clean, report = validate(ROWS, "rows.csv")
    assert clean["nace"].tolist() == ["5610A", "5610A", "1071C", "9602A"]
    assert (report.rows_read, report.unknown_codes, report.empty_texts) == (7, 2, 1)
    assert "3 dropped" in report.summary() and "rows.csv" in report.summary()


def test_a_file_with_no_usable_row_is_an_error_not_an_empty_dataset(tmp_path):
    path = tmp_path / "codes.csv"
    pd.DataFrame({"nace": ["A", "99"], "text": ["x", "y"]}).to_csv(path, index=False)
    with pytest.raises(CourseError, match=r"no usable row .*2 read, 2 with a code"):
        load_dataset(str(path))


def test_missing_columns_name_the_file_and_the_columns(tmp_path):
    path = tmp_path / "activities.csv"
    pd.DataFrame({"code": ["5610A"], "description": ["x"]}).to_csv(path, index=False)
    with pytest.raises(CourseError) as error:
        load_dataset(str(path))
    message = str(error.value)
    assert str(path) in message and "'nace'" in message and "'text'" in message
    assert "'description'" in message


def test_unreadable_and_missing_files(tmp_path):
    garbage = tmp_path / "data.parquet"
    garbage.write_bytes(b"not a parquet file")
    with pytest.raises(CourseError, match=r"cannot read .*data\.parquet as parquet"):
        load_dataset(str(garbage))
    with pytest.raises(CourseError, match="no such file"):
        load_dataset(str(tmp_path / "absent.parquet"))


def test_parquet_and_csv_give_the_same_rows(tmp_path):
    ROWS.to_parquet(tmp_path / "d.parquet")
    ROWS.to_csv(tmp_path / "d.csv", index=False)
    a, _ = load_dataset(str(tmp_path / "d.parquet"))
    b, _ = load_dataset(str(tmp_path / "d.csv"))
    pd.testing.assert_frame_equal(a, b)


@pytest.fixture
def http_folder(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_source_goes_through_the_same_path(http_folder):
    folder, base = http_folder
    ROWS.to_parquet(folder / "remote.parquet")
    frame, report = load_dataset(f"{base}/remote.parquet")
    assert frame["nace"].tolist() == ["5610A", "5610A", "1071C", "9602A"]
    assert report.source == f"{base}/remote.parquet"
    with pytest.raises(CourseError, match=r"remote-missing\.parquet"):
        load_dataset(f"{base}/remote-missing.parquet")


def test_s3_endpoint_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_S3_ENDPOINT", "minio.lab.sspcloud.fr")
    options = storage_options("s3://bucket/data.parquet")
    assert options["client_kwargs"] == {"endpoint_url": "https://minio.lab.sspcloud.fr"}
    assert options["config_kwargs"]["read_timeout"] == reading.READ_TIMEOUT_S
    assert storage_options("/local/data.parquet") == {}


@pytest.fixture
def silent_server():
    """Accepts connections and never answers: what hung `--data` for nine minutes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_times_out_with_a_message(silent_server, monkeypatch):
    monkeypatch.setattr(reading, "READ_TIMEOUT_S", 1.0)
    started = time.monotonic()
    with pytest.raises(CourseError, match=r"no answer from http://127\.0\.0\.1:\d+/d\.parquet "
                       r"within 1 s \(timed out\)"):  # fmt: skip
        load_dataset(f"{silent_server}/d.parquet")
    assert time.monotonic() - started < 20


def test_refused_and_missing_urls_say_which(http_folder):
    refused = f"http://127.0.0.1:{free_port()}/d.parquet"
    with pytest.raises(CourseError, match="connection refused"):
        load_dataset(refused)
    with pytest.raises(CourseError, match=r"no such file: .*/absent\.parquet"):
        load_dataset(f"{http_folder[1]}/absent.parquet")


def test_a_damaged_corpus_cache_is_named_as_the_course_s_with_the_way_out(state_dir):
    cache = default_corpus_path(1_500, seed=11)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"PAR1 cut short")
    with pytest.raises(CourseError) as error:
        load_dataset(None, n_rows=1_500, seed=11)
    message = str(error.value)
    assert "the course's cached corpus" in message and f"rm {cache}" in message
    assert "'nace' and 'text'" not in message, "not the user's file to fix"
    cache.unlink()
    assert len(load_dataset(None, n_rows=1_500, seed=11)[0]) == 1_500


def test_default_source_is_the_generated_corpus_cached(state_dir):
    frame, report = load_dataset(None, n_rows=2_000, seed=5)
    assert len(frame) == 2_000 and report.source.endswith(
        f"corpus-v{GENERATOR_VERSION}-n2000-seed5.parquet"
    )
    again, _ = load_dataset(None, n_rows=2_000, seed=5)
    pd.testing.assert_frame_equal(frame, again)


def test_data_to_classify_is_unlabelled_cached_and_reproducible(state_dir):
    path = data_to_classify(rows=40)
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["id", "text"]
    assert len(frame) == 40 and frame["text"].str.strip().ne("").all()
    assert data_to_classify(rows=40) == path
    assert path.stat().st_mtime == data_to_classify(rows=40).stat().st_mtime


def test_split_is_stratified_seeded_and_disjoint():
    frame = pd.DataFrame({"nace": ["5610A"] * 50 + ["1071C"] * 30 + ["0111Z"], "text": range(81)})
    frame["text"] = frame["text"].astype(str)
    train, test = train_test_split(frame, 0.2, seed=1)
    assert test["nace"].value_counts().to_dict() == {"5610A": 10, "1071C": 6}
    assert set(train["text"]).isdisjoint(test["text"]) and len(train) + len(test) == 81
    assert train_test_split(frame, 0.2, seed=1)[1].equals(test)
    with pytest.raises(CourseError, match="between 0 and 1"):
        train_test_split(frame, 1.5)


def test_s3_source_goes_through_the_same_path(s3_bucket, tmp_path):
    ROWS.to_parquet(tmp_path / "d.parquet")
    s3_bucket.upload_file(str(tmp_path / "d.parquet"), "projet-formation", "data/d.parquet")
    frame, report = load_dataset("s3://projet-formation/data/d.parquet")
    assert frame["nace"].tolist() == ["5610A", "5610A", "1071C", "9602A"]
    assert report.unknown_codes == 2
    with pytest.raises(CourseError, match="no such file"):
        load_dataset("s3://projet-formation/data/absent.parquet")
