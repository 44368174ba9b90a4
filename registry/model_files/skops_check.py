"""skops files: every type they name must be on our allow-list, not only skops' own.

skops trusts a default set of types (all scikit-learn estimators, numpy basics) and
reports the rest through `get_untrusted_types`. We check more than that: first, the
schema itself (plain JSON) is walked and every `__module__.__class__` any node names is
checked against the allow-list, before skops builds anything; then skops' untrusted list
(which also covers names skops finds in content, such as a Generator's bit generator)
must be on the allow-list too; only then is the file loaded, trusting exactly those
types. The bytes are read once, so the checks and the load see the same file.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import skops.io

from registry.model_files.allowlist import DEFAULT_ALLOWLIST, AllowList
from registry.model_files.errors import ModelFileRefused

_MAX_MEMBERS = 100_000
_MAX_SCHEMA_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class SkopsAudit:
    """`referenced`: every type the file names; `untrusted`: what skops would not load
    by default; `offending`: what our allow-list refuses, with the reason."""

    referenced: tuple[str, ...]
    untrusted: tuple[str, ...]
    offending: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.offending


def audit_skops_bytes(
    data: bytes, *, max_bytes: int, allowlist: AllowList = DEFAULT_ALLOWLIST
) -> SkopsAudit:
    """Check a skops file's content without building any object from it.

    Raises ModelFileRefused if it is not a readable skops archive within `max_bytes`.
    """
    schema = _read_schema(data, max_bytes)
    referenced = sorted(_schema_references(schema))
    offending = []
    for qualified in referenced:
        verdict = allowlist.check_qualified(qualified)
        if not verdict.allowed:
            offending.append(f"{qualified} (skops schema): {verdict.reason}")
    if offending:  # do not let skops parse a file our own audit refused
        return SkopsAudit(tuple(referenced), (), tuple(offending))
    try:
        untrusted = tuple(skops.io.get_untrusted_types(data=data))
    except Exception as error:  # noqa: BLE001 - skops' refusal of a corrupt file
        raise ModelFileRefused(f"skops cannot read the file: {error}") from None
    for qualified in untrusted:
        verdict = allowlist.check_qualified(qualified)
        if not verdict.allowed:
            offending.append(f"{qualified} (skops untrusted type): {verdict.reason}")
    return SkopsAudit(tuple(referenced), untrusted, tuple(offending))


def load_skops_bytes(data: bytes, audit: SkopsAudit) -> Any:
    """Load a skops file whose audit passed, trusting only the audited types."""
    if not audit.allowed:
        raise ModelFileRefused(list(audit.offending))
    try:
        return skops.io.loads(data, trusted=list(audit.untrusted))
    except Exception as error:  # noqa: BLE001 - any failure to build is a refusal
        raise ModelFileRefused(f"skops could not load the file: {error}") from None


def _read_schema(data: bytes, max_bytes: int) -> Any:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelFileRefused(f"not a skops archive: {error}") from None
    with archive:
        members = archive.infolist()
        if len(members) > _MAX_MEMBERS:
            raise ModelFileRefused("the skops archive has too many members")
        # zipfile never inflates a member past its declared size, so this caps memory
        total = sum(member.file_size for member in members)
        if total > max_bytes:
            raise ModelFileRefused(
                f"the skops archive inflates to {total} bytes, over the {max_bytes}-byte limit"
            )
        try:
            info = archive.getinfo("schema.json")
        except KeyError:
            raise ModelFileRefused("not a skops archive: no schema.json") from None
        if info.file_size > _MAX_SCHEMA_BYTES:
            raise ModelFileRefused("the skops schema is too large")
        try:
            return json.loads(archive.read(info))
        except (zipfile.BadZipFile, OSError, ValueError, RecursionError) as error:
            raise ModelFileRefused(f"unreadable skops schema: {error}") from None


def _schema_references(schema: Any) -> set[str]:
    """Every `module.class` a skops node names (for a bound method: `module.class.func`)."""
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        pending.extend(node.values())
        loader = node.get("__loader__")
        if loader is None or loader == "CachedNode":
            continue
        module, cls = node.get("__module__"), node.get("__class__")
        if not isinstance(module, str) or not isinstance(cls, str):
            raise ModelFileRefused(f"skops node {loader!r} does not name its type")
        qualified = f"{module}.{cls}"
        if loader == "MethodNode":
            content = node.get("content")
            func = content.get("func") if isinstance(content, dict) else None
            qualified = f"{qualified}.{func}"
        found.add(qualified)
    return found
