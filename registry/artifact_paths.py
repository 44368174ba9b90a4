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
# Control, format (bidi overrides, zero-width), surrogate and line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Characters that look like a separator and become one on some consumer (Windows "best fit"
# code pages, NFKC): division and fraction slash, set minus, fullwidth and small solidi.
_SEPARATOR_LOOKALIKES = frozenset("\u2215\u2044\u2216\u29f8\u29f9\ufe68\uff0f\uff3c")


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

    Refused: parent references (in any encoding, and in Unicode compatibility forms such
    as fullwidth dots and slashes), absolute paths, drive letters (in any segment), URL
    schemes, backslashes and slash lookalikes, NUL and other control or invisible (format)
    characters, invalid UTF-8, `;`, `?`, `#`, empty segments that hide a traversal, and
    names longer than MAX_PATH_LENGTH.
    """
    if not isinstance(raw, str):
        raise UnsafeArtifactPath("artifact path must be text")
    text = _fully_unquoted(raw)
    if "\ufffd" in text:
        # unquote() replaces invalid UTF-8 (overlong "%c0%ae" dots) with U+FFFD.
        raise UnsafeArtifactPath("artifact path is not valid UTF-8")
    text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_PATH_LENGTH:
        raise UnsafeArtifactPath(f"artifact path is longer than {MAX_PATH_LENGTH} characters")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text):
        raise UnsafeArtifactPath("artifact path contains control or invisible characters")
    if any(ch in _SEPARATOR_LOOKALIKES for ch in text):
        raise UnsafeArtifactPath("artifact path contains a character that looks like a slash")
    # Fullwidth dots and slashes or the two-dot leader turn into "../" under NFKC: a name
    # must be safe in its compatibility form too, not only as sent.
    _check_structure(unicodedata.normalize("NFKC", text))
    _check_structure(text)
    segments = text.split("/")
    trailing_slash = text.endswith("/")
    cleaned = [segment for segment in segments if segment]
    normalized = posixpath.normpath("/".join(cleaned)) if cleaned else ""
    if normalized in {"", "."}:
        if allow_empty:
            return ""
        raise UnsafeArtifactPath("artifact path is empty")
    if normalized.startswith("..") or normalized.startswith("/"):
        raise UnsafeArtifactPath("artifact path leaves its folder")
    return normalized + ("/" if trailing_slash and allow_empty else "")


def _check_structure(text: str) -> None:
    """Refuse anything that could name a place outside the folder, on POSIX or Windows."""
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
    if any(_DRIVE_LETTER.match(segment) for segment in segments):
        # ntpath.join("dest", "x", "C:evil") is "C:evil": a drive-relative segment escapes
        # on a Windows client that downloads the tree.
        raise UnsafeArtifactPath("artifact path segment names a drive")
    if any(segment.strip() != segment or segment.endswith(".") for segment in segments if segment):
        # " .." or ".. " and "a." pass on some file systems as parent references.
        raise UnsafeArtifactPath("artifact path segment has surrounding spaces or trailing dot")
