"""What a dataset file holds: its columns (name and dtype) and its row count.

Inference never loads a whole file. CSV is read by pandas in chunks of rows and the
dtypes seen in each chunk are merged; Parquet is read from its footer alone (pyarrow
only needs the file's tail, which is kept while the bytes stream past).

Dtypes are logical names shared by both formats: integer, float, boolean, string,
datetime, date, time, decimal, binary, null (no value at all) and, for nested Parquet
types, the Arrow type's own name.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CSV = "csv"
PARQUET = "parquet"
FORMATS = (CSV, PARQUET)

CSV_ROWS_PER_CHUNK = 20_000
PARQUET_MAGIC = b"PAR1"
# A Parquet footer larger than this is refused rather than held in memory.
MAX_PARQUET_FOOTER_BYTES = 16 * 1024 * 1024

_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_ISO_DATETIME = re.compile(
    _ISO_DATE + r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
# Header names cannot hold control characters, so this name never collides with one.
_EXTRA_FIELD = "\x00extra"
_PANDAS_INDEX_COLUMN = re.compile(r"__index_level_\d+__")


class InvalidDatasetFile(ValueError):
    """The bytes are not a readable file of the declared format."""

    code = "invalid_dataset_file"


@dataclass(frozen=True)
class DatasetSchema:
    columns: list[dict[str, str]] = field(default_factory=list)  # [{name, dtype}]
    row_count: int = 0

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.columns]


def infer_schema(chunks: Iterable[bytes], *, file_format: str) -> DatasetSchema:
    """Columns and row count of the file whose bytes `chunks` yields, in one pass."""
    if file_format == CSV:
        return _infer_csv(chunks)
    if file_format == PARQUET:
        return _infer_parquet(chunks)
    raise InvalidDatasetFile(f"Unknown file format {file_format!r}; expected one of {FORMATS}.")


# --- CSV ------------------------------------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A read-only binary file over an iterator of byte chunks (nothing held but one chunk)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _csv_text(chunks: Iterable[bytes]) -> io.TextIOWrapper:
    # Strict UTF-8 (a BOM is accepted): a binary file fails here instead of becoming text.
    raw = io.BufferedReader(_ChunkReader(chunks), buffer_size=1 << 20)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def _header(text: io.TextIOWrapper) -> list[str]:
    # The csv module reads exactly the header record (quoted newlines included) and no more.
    names = next(csv.reader(text), [])
    if not names:
        raise InvalidDatasetFile("The file is empty or its first line (the header) is blank.")
    if any(not name.strip() for name in names):
        raise InvalidDatasetFile("Every column needs a name in the header line.")
    if any(unicodedata.category(ch) == "Cc" for name in names for ch in name):
        raise InvalidDatasetFile("The header line holds control characters: not a CSV file.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidDatasetFile(f"Column names must be unique; repeated: {duplicates}.")
    return names


def _chunk_dtype(series: pd.Series) -> str | None:
    """The logical dtype of one chunk's column, or None when it holds no value."""
    values = series.dropna()
    if values.empty:
        return None
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        return "float"
    text = values.astype("string")
    if text.str.fullmatch(_ISO_DATE).all() and _all_parse_as_dates(text):
        return "date"
    if text.str.fullmatch(_ISO_DATETIME.pattern).all() and _all_parse_as_dates(text):
        return "datetime"
    return "string"


def _all_parse_as_dates(text: pd.Series) -> bool:
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return not parsed.isna().any()


def _merge(seen: str | None, new: str | None) -> str | None:
    if seen is None or seen == new:
        return new if seen is None else seen
    if new is None:
        return seen
    if {seen, new} == {"integer", "float"}:
        return "float"
    if {seen, new} == {"date", "datetime"}:
        return "datetime"
    return "string"


def _infer_csv(chunks: Iterable[bytes]) -> DatasetSchema:
    try:
        text = _csv_text(chunks)
        names = _header(text)
        merged: dict[str, str | None] = dict.fromkeys(names)
        rows = 0
        reader = pd.read_csv(
            text,
            header=None,
            # One column more than the header: a row with an extra field fills it (and is
            # refused below) instead of silently becoming an index or being cut off.
            names=[*names, _EXTRA_FIELD],
            index_col=False,
            chunksize=CSV_ROWS_PER_CHUNK,
            dtype_backend="numpy_nullable",
            on_bad_lines="error",
            engine="c",
        )
        for frame in reader:
            if frame[_EXTRA_FIELD].notna().any():
                raise InvalidDatasetFile("A row has more fields than the header names.")
            rows += len(frame)
            for name in names:
                if merged[name] == "string":
                    continue  # nothing later can narrow it again
                merged[name] = _merge(merged[name], _chunk_dtype(frame[name]))
    except InvalidDatasetFile:
        raise
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidDatasetFile(f"The file is not UTF-8 CSV: {error}") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise InvalidDatasetFile(f"The file is not valid CSV: {error}") from None
    columns = [{"name": name, "dtype": merged[name] or "null"} for name in names]
    return DatasetSchema(columns=columns, row_count=rows)


# --- Parquet --------------------------------------------------------------------------


class _TailFile(io.RawIOBase):
    """A seekable file of `size` bytes of which only the last `len(tail)` are present:
    enough for pyarrow to read the footer, and an error for anything before it."""

    def __init__(self, tail: bytes, size: int) -> None:
        self._tail = tail
        self._size = size
        self._start = size - len(tail)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self._size:
            return 0
        if self._position < self._start:
            raise OSError("the Parquet footer points before the end of the file")
        offset = self._position - self._start
        data = self._tail[offset : offset + len(buffer)]
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def _head_and_tail(chunks: Iterable[bytes], keep: int) -> tuple[bytes, bytes, int]:
    head = b""
    tail: deque[bytes] = deque()
    kept = size = 0
    for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk)
        if len(head) < len(PARQUET_MAGIC):
            head += chunk[: len(PARQUET_MAGIC) - len(head)]
        tail.append(chunk)
        kept += len(chunk)
        while kept - len(tail[0]) >= keep:
            kept -= len(tail.popleft())
    return head, b"".join(tail)[-keep:], size


def _arrow_dtype(arrow_type: pa.DataType) -> str:
    types = pa.types
    if types.is_dictionary(arrow_type):
        return _arrow_dtype(arrow_type.value_type)
    checks = (
        (types.is_boolean, "boolean"),
        (types.is_integer, "integer"),
        (types.is_floating, "float"),
        (types.is_decimal, "decimal"),
        (types.is_timestamp, "datetime"),
        (types.is_date, "date"),
        (types.is_time, "time"),
        (types.is_null, "null"),
    )
    for check, name in checks:
        if check(arrow_type):
            return name
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return "string"
    if getattr(types, "is_string_view", None) and types.is_string_view(arrow_type):
        return "string"
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return "binary"
    if types.is_fixed_size_binary(arrow_type):
        return "binary"
    return str(arrow_type)


def _infer_parquet(chunks: Iterable[bytes]) -> DatasetSchema:
    head, tail, size = _head_and_tail(chunks, MAX_PARQUET_FOOTER_BYTES + 8)
    if size < 12 or head != PARQUET_MAGIC or not tail.endswith(PARQUET_MAGIC):
        raise InvalidDatasetFile("The file is not Parquet (its magic bytes are missing).")
    footer_length = int.from_bytes(tail[-8:-4], "little")
    if footer_length + 8 + len(PARQUET_MAGIC) > size:
        raise InvalidDatasetFile("The Parquet file is truncated (its footer is cut off).")
    if footer_length + 8 > len(tail):
        raise InvalidDatasetFile("The Parquet footer is larger than the server accepts.")
    try:
        parquet = pq.ParquetFile(_TailFile(tail, size))
        schema = parquet.schema_arrow
        row_count = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as error:
        raise InvalidDatasetFile(f"The file is not valid Parquet: {error}") from None
    index_columns = {
        name
        for name in ((schema.pandas_metadata or {}).get("index_columns") or [])
        if isinstance(name, str)
    }
    columns = [
        {"name": column.name, "dtype": _arrow_dtype(column.type)}
        for column in schema
        if column.name not in index_columns and not _PANDAS_INDEX_COLUMN.fullmatch(column.name)
    ]
    if not columns:
        raise InvalidDatasetFile("The Parquet file has no columns.")
    return DatasetSchema(columns=columns, row_count=row_count)
