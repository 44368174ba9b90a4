"""Receiving dataset files: multipart parts and raw bodies, streamed, never whole in memory.

Django's default upload handlers keep small files in memory and spool large ones to a
plaintext temporary file. Here the `file` part is spooled to an anonymous temporary file
encrypted under a one-time key that lives only in this request's memory, so no
plaintext of an uploaded dataset ever touches the disk outside the artifact store
(DESIGN.md, "Artifacts and keys"). The size limit is enforced while the bytes arrive.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from mlgov.api.errors import DomainError
from mlgov.crypto.streaming import StreamDecryptor, StreamEncryptor
from registry import dataset_files

DEFAULT_MAX_BYTES = 1024**3
CHUNK_SIZE = 1 << 20
# Room for the multipart envelope and metadata fields around the file itself.
MULTIPART_OVERHEAD_BYTES = 1 << 20
_SPOOL_CONTEXT = b"mlgov/dataset-upload-spool/v1"

CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})
PARQUET_MEDIA_TYPES = frozenset(
    {"application/vnd.apache.parquet", "application/x-parquet", "application/parquet"}
)


def dataset_max_bytes() -> int:
    """The largest dataset file accepted, from settings.MLGOV_DATASET_MAX_BYTES."""
    return int(getattr(settings, "MLGOV_DATASET_MAX_BYTES", DEFAULT_MAX_BYTES))


def too_large(limit: int) -> DomainError:
    # An APIException, so it answers 413 even when raised while DRF authenticates a
    # console session (its CSRF check reads the form, and with it the upload).
    return DomainError(
        status_code=413,
        code="artifact_too_large",
        message=f"The upload exceeds the limit of {limit} bytes.",
        details={"max_bytes": limit},
    )


def format_of_media_type(media_type: str) -> str | None:
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type in CSV_MEDIA_TYPES:
        return dataset_files.CSV
    if media_type in PARQUET_MEDIA_TYPES:
        return dataset_files.PARQUET
    return None


class EncryptedSpool:
    """A temporary file that holds its bytes encrypted under a key kept only in memory."""

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self._file = tempfile.TemporaryFile(dir=getattr(settings, "FILE_UPLOAD_TEMP_DIR", None))
        self._encryptor = StreamEncryptor(self._key, _SPOOL_CONTEXT)
        self.size = 0
        self.head = b""  # the first bytes, for recognising the format

    def write(self, data: bytes) -> None:
        if len(self.head) < 8:
            self.head += data[: 8 - len(self.head)]
        self.size += len(data)
        self._file.write(self._encryptor.update(data))

    def finish(self) -> None:
        self._file.write(self._encryptor.finalize())
        self._file.flush()

    def chunks(self) -> Iterator[bytes]:
        """The plaintext again, chunk by chunk."""
        self._file.seek(0)
        decryptor = StreamDecryptor(self._key, _SPOOL_CONTEXT)
        while data := self._file.read(CHUNK_SIZE):
            plaintext = decryptor.update(data)
            if plaintext:
                yield plaintext
        plaintext = decryptor.finalize()
        if plaintext:
            yield plaintext

    def close(self) -> None:
        self._file.close()


class SpooledDatasetFile:
    """What the handler hands to request.FILES for the `file` part."""

    def __init__(self, spool: EncryptedSpool, name: str, content_type: str) -> None:
        self.spool = spool
        self.name = name
        self.content_type = content_type
        self.size = spool.size

    def __bool__(self) -> bool:
        return True

    @property
    def file_format(self) -> str:
        """Declared by the part's media type or the file's extension, else recognised
        from the Parquet magic bytes; anything else is read as CSV."""
        declared = format_of_media_type(self.content_type)
        if declared:
            return declared
        lowered = self.name.lower()
        if lowered.endswith((".parquet", ".pq")):
            return dataset_files.PARQUET
        if lowered.endswith((".csv", ".txt")):
            return dataset_files.CSV
        if self.spool.head.startswith(dataset_files.PARQUET_MAGIC):
            return dataset_files.PARQUET
        return dataset_files.CSV

    def chunks(self) -> Iterator[bytes]:
        return self.spool.chunks()

    def close(self) -> None:
        self.spool.close()


class DatasetUploadHandler(FileUploadHandler):
    """Takes exactly one part named `file`; other file parts are skipped."""

    chunk_size = CHUNK_SIZE

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.upload: SpooledDatasetFile | None = None
        self._spool: EncryptedSpool | None = None

    def new_file(self, field_name, file_name, content_type, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        if field_name != "file":
            raise SkipFile()
        if self.upload is not None or self._spool is not None:
            raise DomainError(
                status_code=400, code="too_many_files", message="Send one `file` per version."
            )
        self._spool = EncryptedSpool()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self._spool is not None
        if self._spool.size + len(raw_data) > self.max_bytes:
            self.discard()
            raise too_large(self.max_bytes)
        self._spool.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> SpooledDatasetFile | None:
        if self._spool is None:
            return None
        self._spool.finish()
        self.upload = SpooledDatasetFile(self._spool, self.file_name or "", self.content_type)
        return self.upload

    def discard(self) -> None:
        """Drop whatever was spooled (the temporary file has no name; closing removes it)."""
        if self._spool is not None:
            self._spool.close()
        self._spool = None
        self.upload = None


def raw_body_chunks(django_request) -> Iterator[bytes]:
    """A raw request body (text/csv, Parquet), read in chunks as it arrives."""
    while data := django_request.read(CHUNK_SIZE):
        yield data
