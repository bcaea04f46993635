"""The inference log: records reach their model's Delta table, nothing is lost when the queue is
full or the lake refuses a write, and a served request is recorded with its answer."""

import datetime as dt
import json

import pytest
from deltalake import DeltaTable

from lakeside.serving.inference import InferenceLog, InferenceRecord, table_name

DAY = dt.datetime(2024, 1, 3, 12, 0, tzinfo=dt.timezone.utc)


def record(number: int, model: str = "m_one", status: int = 200, request: bytes = b'{"inputs": [1]}'):
    return InferenceRecord(
        request_id=f"req-{number}", timestamp=DAY + dt.timedelta(seconds=number), model_name=model,
        model_version="3", model_alias="champion", request=request, response=b'{"predictions": [2]}',
        status_code=status, execution_time_ms=1.5,
    )


def rows(lake_root, model: str) -> list[dict]:
    layer, name = table_name(model).split(".")
    return DeltaTable(str(lake_root / layer / name)).to_pyarrow_table().to_pylist()


def test_records_land_in_one_table_per_model_with_their_answers(tmp_path):
    log = InferenceLog(tmp_path / "lake", tmp_path / "spill", max_field_bytes=100)

    log.record(record(1))
    log.record(record(2, status=422))
    log.record(record(3, model="m-two", request=b"x" * 101))
    assert log.flush() == 3

    first = sorted(rows(tmp_path / "lake", "m_one"), key=lambda row: row["request_id"])
    assert [(row["request_id"], row["status_code"]) for row in first] == [("req-1", 200), ("req-2", 422)]
    assert first[0]["date"] == dt.date(2024, 1, 3) and first[0]["model_version"] == "3"
    assert json.loads(first[0]["request"]) == {"inputs": [1]} and first[0]["truncated"] is False
    [second] = rows(tmp_path / "lake", "m-two")
    assert table_name("m-two") == "inference.m_two"
    assert second["request"] is None and second["truncated"] is True and second["response"] is not None


def test_a_full_queue_spills_to_disk_and_the_next_pass_writes_it_all(tmp_path):
    log = InferenceLog(tmp_path / "lake", tmp_path / "spill", max_queue=5)

    for number in range(12):
        log.record(record(number))

    assert log.spilled == 7 and list((tmp_path / "spill").glob("spill-*.jsonl"))
    assert log.flush() == 12
    assert sorted(row["request_id"] for row in rows(tmp_path / "lake", "m_one")) == sorted(
        f"req-{n}" for n in range(12))
    assert not list((tmp_path / "spill").iterdir()), "the spill is gone once written"


def test_a_refused_write_keeps_its_records_for_the_next_pass(tmp_path):
    blocked = tmp_path / "lake"
    blocked.write_text("not a folder")  # the lake cannot be written
    log = InferenceLog(blocked, tmp_path / "spill")
    log.record(record(1))
    log.record(record(2))

    assert log.flush() == 0 and log.errors == 1

    blocked.unlink()
    assert log.flush() == 2
    assert sorted(row["request_id"] for row in rows(blocked, "m_one")) == ["req-1", "req-2"]


def test_close_drains_the_queue_and_stops_the_writer(tmp_path):
    log = InferenceLog(tmp_path / "lake", tmp_path / "spill", flush_s=3600).start()
    for number in range(5):
        log.record(record(number))

    log.close()

    assert len(rows(tmp_path / "lake", "m_one")) == 5 and not log._thread.is_alive()


def test_the_writer_thread_appends_without_being_asked(tmp_path):
    log = InferenceLog(tmp_path / "lake", tmp_path / "spill", flush_s=0.1).start()
    try:
        log.record(record(1))
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while log.written < 1 and dt.datetime.now() < deadline:
            log._stop.wait(0.1)
        assert log.written == 1
    finally:
        log.close()


def test_compaction_leaves_one_file_per_day_and_the_same_rows(tmp_path):
    from lakeside.serving.inference import compact

    log = InferenceLog(tmp_path / "lake", tmp_path / "spill")
    for number in range(4):
        log.record(record(number))
        log.flush()
    table = DeltaTable(str(tmp_path / "lake" / "inference" / "m_one"))
    assert len(table.file_uris()) == 4

    assert compact(tmp_path / "lake", DAY.date()) == {"inference.m_one": 4}

    table = DeltaTable(str(tmp_path / "lake" / "inference" / "m_one"))
    assert len(table.file_uris()) == 1
    assert sorted(row["request_id"] for row in rows(tmp_path / "lake", "m_one")) == [f"req-{n}" for n in range(4)]


def test_a_raw_picture_is_recorded_as_its_type_size_and_hash():
    import hashlib

    from lakeside.serving.guard import _Exchange

    picture = bytes(range(256)) * 10
    exchange = _Exchange(100, "image/png")
    exchange.received({"type": "http.request", "body": picture[:1000], "more_body": True})
    exchange.received({"type": "http.request", "body": picture[1000:]})
    as_json = _Exchange(100, "application/json; charset=utf-8")
    as_json.received({"type": "http.request", "body": b'{"inputs": [1]}'})

    assert json.loads(exchange.request_text()) == {
        "content_type": "image/png", "bytes": 2560, "sha256": hashlib.sha256(picture).hexdigest()}
    assert as_json.request_text() == b'{"inputs": [1]}'
