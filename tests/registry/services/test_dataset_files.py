"""Schema inference of dataset files: CSV in chunks, Parquet from its footer alone."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from registry import dataset_files
from registry.dataset_files import InvalidDatasetFile, infer_schema


def _pieces(data: bytes, size: int = 7):
    # Small, uneven pieces: inference must not depend on where chunks are cut.
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _dtypes(schema) -> dict[str, str]:
    return {column["name"]: column["dtype"] for column in schema.columns}


MIXED_CSV = (
    b"age,income,city,member,joined,seen_at,empty\n"
    b"31,1200.5,Berlin,true,2024-01-05,2024-01-05T10:00:00Z,\n"
    b"42,,Paris,False,2024-02-05,2024-01-05 11:00:00+02:00,\n"
    b'57,990,"Rome, IT",true,2024-02-06,2024-03-01 09:30,\n'
)


def test_csv_columns_get_their_logical_dtypes(monkeypatch):
    # given a CSV read two rows at a time
    monkeypatch.setattr(dataset_files, "CSV_ROWS_PER_CHUNK", 2)
    # when its schema is inferred
    schema = infer_schema(_pieces(MIXED_CSV), file_format="csv")
    # then every column has the dtype of all its values, and every row is counted
    assert _dtypes(schema) == {
        "age": "integer",
        "income": "float",
        "city": "string",
        "member": "boolean",
        "joined": "date",
        "seen_at": "datetime",
        "empty": "null",
    }
    assert schema.row_count == 3


def test_csv_dtypes_widen_across_chunks(monkeypatch):
    # given columns whose later chunks hold wider values than the first
    monkeypatch.setattr(dataset_files, "CSV_ROWS_PER_CHUNK", 1)
    data = b"n,code,when\n1,10,2024-01-01\n2.5,x1,2024-01-01T08:00:00\n3,12,\n"
    # when inferred
    schema = infer_schema(_pieces(data), file_format="csv")
    # then int+float is float, int+text is string, date+datetime is datetime
    assert _dtypes(schema) == {"n": "float", "code": "string", "when": "datetime"}
    assert schema.row_count == 3


def test_csv_with_a_bom_and_crlf_and_only_a_header():
    schema = infer_schema([b"\xef\xbb\xbfa,b\r\n"], file_format="csv")
    assert _dtypes(schema) == {"a": "null", "b": "null"}
    assert schema.row_count == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n",
        b"\xff\xfe\x00\x01binary",
        b"a,a\n1,2\n",
        b"a,\n1,2\n",
        b"a,b\n1,2,3\n",
        b"a,b\n1,2\n3,4\n5,6,7,8\n",
        b"PAR1\x00\x01\x02garbage",
    ],
    ids=["empty", "blank", "binary", "duplicate", "unnamed", "extra-field", "late-extra", "nul"],
)
def test_not_a_csv_is_refused(data):
    with pytest.raises(InvalidDatasetFile):
        infer_schema(_pieces(data), file_format="csv")


def _parquet(frame: pd.DataFrame, **kwargs) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, **kwargs)
    return buffer.getvalue()


def test_parquet_schema_and_rows_come_from_the_footer():
    # given a Parquet file with every basic type (and a pandas index stored with it)
    frame = pd.DataFrame(
        {
            "age": [31, 42, 57],
            "income": [1200.5, None, 990.0],
            "city": ["Berlin", "Paris", "Rome"],
            "member": [True, False, True],
            "seen_at": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-01-07"], utc=True),
            "joined": [pd.Timestamp("2024-01-05").date()] * 3,
            "segment": pd.Categorical(["a", "b", "a"]),
        },
        index=pd.Index([10, 11, 12], name=None),
    )
    data = _parquet(frame)
    # when inferred from small pieces
    schema = infer_schema(_pieces(data, 100), file_format="parquet")
    # then the columns are the frame's (the stored index is not a column)
    assert _dtypes(schema) == {
        "age": "integer",
        "income": "float",
        "city": "string",
        "member": "boolean",
        "seen_at": "datetime",
        "joined": "date",
        "segment": "string",
    }
    assert schema.row_count == 3


def test_parquet_footer_only_is_read(monkeypatch):
    # given a large file and a footer limit smaller than the file
    frame = pd.DataFrame({"x": range(200_000), "y": ["v"] * 200_000})
    data = _parquet(frame, index=False, row_group_size=20_000)
    monkeypatch.setattr(dataset_files, "MAX_PARQUET_FOOTER_BYTES", 64 * 1024)
    assert len(data) > 4 * 64 * 1024
    # when inferred, then it works from the tail alone
    schema = infer_schema(_pieces(data, 4096), file_format="parquet")
    assert schema.row_count == 200_000


@pytest.mark.parametrize(
    "data",
    [b"", b"PAR1", b"a,b\n1,2\n", b"PAR1" + b"\x00" * 40 + b"PAR1", b"PAR1junkjunkPARE"],
    ids=["empty", "magic-only", "csv", "zero-footer", "encrypted-footer"],
)
def test_not_a_parquet_file_is_refused(data):
    with pytest.raises(InvalidDatasetFile):
        infer_schema(_pieces(data), file_format="parquet")


def test_truncated_parquet_is_refused():
    data = _parquet(pd.DataFrame({"x": [1, 2, 3]}), index=False)
    with pytest.raises(InvalidDatasetFile):
        infer_schema([data[:-20] + data[-4:]], file_format="parquet")
    with pytest.raises(InvalidDatasetFile):
        infer_schema([data[: len(data) // 2]], file_format="parquet")
