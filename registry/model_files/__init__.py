"""Model-file safety: may this file be trusted, and load it only if so.

Pure code over bytes and files (no database), for any service to call before trusting a
model. Two entry points:

- `inspect_model_file(path, model_format)`: static checks only, nothing is unpickled:
  for pickle / joblib, a scan of every name the stream would call against the server's
  allow-list (`allowlist.py`); for skops, every type in the schema and every type skops
  itself does not trust. With `load_check=True`, a file that passes is then loaded (with
  a loader that re-checks every name) and its trees and settings are validated too.
- `load_verified_model(path, model_format)`: the same static checks, then the load, then
  the tree validation (`trees.py`, `hist_trees.py`) and settings check
  (`estimator_params.py`); returns the model or raises ModelFileRefused. A file that
  fails the static checks is never loaded.

Both read the file once, so the bytes checked are the bytes loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from registry.model_files.compression import DEFAULT_MAX_BYTES, joblib_pickle_bytes
from registry.model_files.errors import ModelFileRefused
from registry.model_files.estimator_params import find_unsafe_parameters
from registry.model_files.pickle_scan import scan_joblib_stream, scan_pickle
from registry.model_files.skops_check import SkopsAudit, audit_skops_bytes, load_skops_bytes
from registry.model_files.trees import find_tree_problems
from registry.model_files.unpicklers import load_joblib_bytes, load_pickle_bytes

__all__ = [
    "DEFAULT_MAX_BYTES",
    "InspectionResult",
    "ModelFileRefused",
    "ModelFormat",
    "inspect_model_file",
    "load_verified_model",
]


class ModelFormat(StrEnum):
    """The formats this package checks (ONNX holds no code and is not handled here)."""

    SKOPS = "skops"
    PICKLE = "pickle"
    JOBLIB = "joblib"
    CLOUDPICKLE = "cloudpickle"  # a pickle stream: only by-reference names pass the scan


@dataclass(frozen=True)
class InspectionResult:
    """The verdict on one model file.

    `referenced_types` lists every importable name the file refers to; `reasons` says
    what was refused (empty when verified); `load_checked` is True when the file was also
    loaded and its trees and settings validated.
    """

    verified: bool
    format: str
    referenced_types: tuple[str, ...]
    reasons: tuple[str, ...]
    load_checked: bool = False


@dataclass(frozen=True)
class _Checked:
    """A file that passed the static checks, ready to load."""

    model_format: ModelFormat
    payload: bytes
    skops_audit: SkopsAudit | None
    referenced: tuple[str, ...]


def inspect_model_file(
    path: str | os.PathLike[str],
    model_format: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    load_check: bool = False,
) -> InspectionResult:
    """Check a model file; never raises for a bad file (the result says why)."""
    fmt = str(model_format)
    try:
        checked = _static_checks(Path(path), fmt, max_bytes)
        if load_check:
            _load_and_validate(checked)
        return InspectionResult(True, fmt, checked.referenced, (), load_checked=load_check)
    except ModelFileRefused as refusal:
        return InspectionResult(False, fmt, refusal.referenced, refusal.reasons)
    except Exception as error:  # noqa: BLE001 - an unexpected failure is still a refusal
        return InspectionResult(False, fmt, (), (f"could not be checked: {error!r}",))


def load_verified_model(
    path: str | os.PathLike[str], model_format: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Any:
    """Check, load and validate a model file; raises ModelFileRefused with every reason."""
    return _load_and_validate(_static_checks(Path(path), str(model_format), max_bytes))


def _static_checks(path: Path, fmt: str, max_bytes: int) -> _Checked:
    try:
        model_format = ModelFormat(fmt)
    except ValueError:
        raise ModelFileRefused(f"model format {fmt!r} is not one this server can check") from None
    data = _read_bounded(path, max_bytes)
    if model_format is ModelFormat.SKOPS:
        audit = audit_skops_bytes(data, max_bytes=max_bytes)
        _refuse_unless(not audit.offending, audit.offending, audit.referenced)
        return _Checked(model_format, data, audit, audit.referenced)
    if model_format is ModelFormat.JOBLIB:
        payload = joblib_pickle_bytes(data, max_bytes=max_bytes)
        result = scan_joblib_stream(payload)
    else:
        payload = data
        result = scan_pickle(payload)
    _refuse_unless(result.allowed, result.offending, result.referenced)
    return _Checked(model_format, payload, None, result.referenced)


def _load_and_validate(checked: _Checked) -> Any:
    try:
        if checked.skops_audit is not None:
            model = load_skops_bytes(checked.payload, checked.skops_audit)
        elif checked.model_format is ModelFormat.JOBLIB:
            model = load_joblib_bytes(checked.payload)
        else:
            model = load_pickle_bytes(checked.payload)
    except ModelFileRefused:
        raise
    except Exception as error:  # noqa: BLE001 - allowed constructors may still fail
        raise ModelFileRefused(f"the file passed its checks but did not load: {error!r}") from None
    try:
        problems = find_tree_problems(model) + find_unsafe_parameters(model)
    except ModelFileRefused:
        raise
    except Exception as error:  # noqa: BLE001 - a model too odd to validate is refused
        raise ModelFileRefused(f"the loaded model could not be validated: {error!r}") from None
    _refuse_unless(not problems, problems, checked.referenced)
    return model


def _refuse_unless(ok: bool, reasons: Any, referenced: tuple[str, ...]) -> None:
    if not ok:
        raise ModelFileRefused(list(reasons), referenced=referenced)


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise ModelFileRefused(f"cannot read the model file: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise ModelFileRefused(f"the file is larger than the {max_bytes}-byte limit")
    return data
