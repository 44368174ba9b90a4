"""Names a client gives to files inside a run's artifacts.

They are names, never storage paths: the bytes live under an opaque id the server
assigns. Still, a name must stay inside its run's folder when a client lists or
downloads a tree, so every name is decoded first and then checked (MLflow shipped a
series of traversal fixes, each a bypass of the last: PITFALLS.md).
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from urllib.parse import unquote

MAX_PATH_LENGTH = 1000
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class UnsafeArtifactPath(ValueError):
    """The name could leave its folder or is otherwise not acceptable."""

    code = "unsafe_artifact_path"


def _fully_unquoted(text: str) -> str:
    # Decode until stable, so %252e%252e%252f (double encoding) is seen as ../
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            return decoded
        text = decoded
    raise UnsafeArtifactPath("artifact path is encoded too many times")


def normalize_artifact_path(raw: str, *, allow_empty: bool = False) -> str:
    """Return the canonical relative name for `raw`, or raise UnsafeArtifactPath.

    Refused: parent references (in any encoding), absolute paths, drive letters, URL
    schemes, backslashes, NUL and other control characters, `;`, `?`, `#`, empty
    segments that hide a traversal, and names longer than MAX_PATH_LENGTH.
    """
    if not isinstance(raw, str):
        raise UnsafeArtifactPath("artifact path must be text")
    text = _fully_unquoted(raw)
    text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_PATH_LENGTH:
        raise UnsafeArtifactPath(f"artifact path is longer than {MAX_PATH_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise UnsafeArtifactPath("artifact path contains control characters")
    if "\\" in text:
        raise UnsafeArtifactPath("artifact path contains a backslash")
    if any(ch in text for ch in ";?#"):
        raise UnsafeArtifactPath("artifact path contains ';', '?' or '#'")
    if _DRIVE_LETTER.match(text) or _SCHEME.match(text):
        raise UnsafeArtifactPath("artifact path names a drive or a scheme")
    if text.startswith("/") or text.startswith("~"):
        raise UnsafeArtifactPath("artifact path is absolute")
    segments = text.split("/")
    if any(segment in {"..", "."} for segment in segments):
        raise UnsafeArtifactPath("artifact path leaves its folder")
    trailing_slash = text.endswith("/")
    cleaned = [segment for segment in segments if segment]
    if any(segment.strip() != segment or segment.endswith(".") for segment in cleaned):
        # " .." or ".. " and "a." pass on some file systems as parent references.
        raise UnsafeArtifactPath("artifact path segment has surrounding spaces or trailing dot")
    normalized = posixpath.normpath("/".join(cleaned)) if cleaned else ""
    if normalized in {"", "."}:
        if allow_empty:
            return ""
        raise UnsafeArtifactPath("artifact path is empty")
    if normalized.startswith("..") or normalized.startswith("/"):
        raise UnsafeArtifactPath("artifact path leaves its folder")
    return normalized + ("/" if trailing_slash and allow_empty else "")
