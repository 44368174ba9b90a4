"""skops files: every type named anywhere in the schema must be on our allow-list, which
is stricter than skops' own default trust; malformed archives are refused cleanly."""

from __future__ import annotations

import collections
import io
import json
import os
import zipfile

import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

from registry.model_files import ModelFileRefused, inspect_model_file, load_verified_model
from registry.model_files.skops_check import audit_skops_bytes


def _refused(path, expected: str) -> tuple[str, ...]:
    result = inspect_model_file(path, "skops")
    assert not result.verified
    assert any(expected in reason for reason in result.reasons), result.reasons
    with pytest.raises(ModelFileRefused):
        load_verified_model(path, "skops")
    return result.reasons


def test_a_function_outside_the_allow_list_is_refused(tmp_path, canary):
    path = tmp_path / "system.skops"
    skops.io.dump(FunctionTransformer(func=os.system, kw_args={"command": f"touch {canary}"}), path)
    _refused(path, "posix.system")


def test_a_bound_method_is_refused(tmp_path, fitted_models):
    path = tmp_path / "method.skops"
    skops.io.dump(FunctionTransformer(func=fitted_models["pipeline"].model.predict), path)
    _refused(path, "Pipeline.predict")


def test_a_type_skops_trusts_but_we_do_not_is_refused(tmp_path):
    # skops loads defaultdict by default; our allow-list does not list it
    data = skops.io.dumps({"counts": collections.defaultdict(list)})
    assert skops.io.get_untrusted_types(data=data) == []
    path = tmp_path / "defaultdict.skops"
    path.write_bytes(data)
    _refused(path, "collections.defaultdict")


def _with_schema(data: bytes, edit) -> bytes:
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as edited:
        for info in original.infolist():
            content = original.read(info)
            if info.filename == "schema.json":
                content = edit(content)
            edited.writestr(info, content)
    return target.getvalue()


def test_a_schema_naming_os_system_as_a_class_is_refused_before_skops_reads_it(
    tmp_path, fitted_models
):
    def rename(content: bytes) -> bytes:
        schema = json.loads(content)
        schema["__module__"], schema["__class__"] = "os", "system"
        return json.dumps(schema).encode()

    data = _with_schema(skops.io.dumps(fitted_models["pipeline"].model), rename)
    audit = audit_skops_bytes(data, max_bytes=10**8)
    assert not audit.allowed
    assert audit.untrusted == ()
    path = tmp_path / "renamed.skops"
    path.write_bytes(data)
    _refused(path, "os.system")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not a skops archive"),
        (b"PK\x03\x04garbage", "not a skops archive"),
        (b"\x00" * 100, "not a skops archive"),
    ],
)
def test_garbage_is_refused(tmp_path, content, expected):
    path = tmp_path / "bad.skops"
    path.write_bytes(content)
    _refused(path, expected)


def test_archive_without_schema_or_with_broken_schema_is_refused(tmp_path, fitted_models):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.npy", b"123")
    (tmp_path / "noschema.skops").write_bytes(buffer.getvalue())
    _refused(tmp_path / "noschema.skops", "no schema.json")

    broken = _with_schema(skops.io.dumps(fitted_models["pipeline"].model), lambda c: c[:40])
    (tmp_path / "broken.skops").write_bytes(broken)
    _refused(tmp_path / "broken.skops", "unreadable skops schema")


def test_an_archive_inflating_past_the_cap_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", "{}")
        archive.writestr("big.npy", b"\x00" * 20_000_000)
    path = tmp_path / "bomb.skops"
    path.write_bytes(buffer.getvalue())
    result = inspect_model_file(path, "skops", max_bytes=1_000_000)
    assert not result.verified
    assert "over the 1000000-byte limit" in result.reasons[0]
