"""normalize_artifact_path: decode first, then refuse anything that could leave its folder."""

from __future__ import annotations

import pytest

from registry.artifact_paths import UnsafeArtifactPath, normalize_artifact_path

# The traversal corpus (PITFALLS.md: each MLflow CVE was a bypass of the previous fix).
TRAVERSAL_CORPUS = [
    "../",
    "../secret",
    "a/../../b",
    "..%2f",
    "..%2fsecret",
    "%2e%2e%2f",
    "%2E%2E%2F",
    "%252e%252e%252f",
    "%25252e%25252e%25252f",
    "..\\",
    "..\\secret",
    "..%5c",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "C:\\x",
    "C:x",
    "file:///etc/passwd",
    "s3://bucket/key",
    "a%00b",
    "a\x00b",
    "x;/../",
    "x#/../",
    "x?../",
    "//proc/self/environ",
    "~/.ssh/id_rsa",
    "..",
    ".",
    "a/./b",
    "a/ ../b",
    "a/.. /b",
]

# Unicode tricks: compatibility forms, lookalike slashes, invisible and bidi characters,
# invalid UTF-8 (overlong dots), drive-relative segments (Windows path joining).
UNICODE_TRICKS = [
    "\uff0e\uff0e\uff0fetc",  # fullwidth ../
    "\uff0e\uff0e/etc",  # fullwidth dots, ASCII slash
    "a/\u2025/b",  # two-dot leader, NFKC ".."
    "\u2024\u2024/x",  # one-dot leaders
    "a\u2215..\u2215b",  # division slash
    "a\u2044b",  # fraction slash
    "a\uff3cb",  # fullwidth backslash
    "\u202etxt.exe",  # right-to-left override
    "a\u200b/b",  # zero-width space
    "a\u2028b",  # line separator
    "%c0%ae%c0%ae/",  # overlong UTF-8 dots
    "..%c0%af",  # overlong UTF-8 slash
    "x/C:evil",  # drive-relative segment
]


@pytest.mark.parametrize("raw", TRAVERSAL_CORPUS + UNICODE_TRICKS)
def test_unsafe_names_are_refused(raw):
    # given a name from the corpus / when normalised / then it is refused with a stable code
    with pytest.raises(UnsafeArtifactPath) as caught:
        normalize_artifact_path(raw)
    assert caught.value.code == "unsafe_artifact_path"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("model.pkl", "model.pkl"),
        ("dir/model.pkl", "dir/model.pkl"),
        ("dir%2Fmodel.pkl", "dir/model.pkl"),
        ("a//b", "a/b"),
        ("plots/roc curve.png", "plots/roc curve.png"),
        ("Ünïcödé/файл.txt", "Ünïcödé/файл.txt"),
        ("U\u0308ber.txt", "Über.txt"),  # decomposed input comes back composed (NFC)
        (".hidden", ".hidden"),
        ("a:b/c", None),  # "a:" reads as a drive letter: refused
    ],
)
def test_safe_names_are_canonical(raw, expected):
    if expected is None:
        with pytest.raises(UnsafeArtifactPath):
            normalize_artifact_path(raw)
        return
    assert normalize_artifact_path(raw) == expected


def test_empty_name_only_where_allowed():
    with pytest.raises(UnsafeArtifactPath):
        normalize_artifact_path("")
    assert normalize_artifact_path("", allow_empty=True) == ""
    assert normalize_artifact_path("dir/", allow_empty=True) == "dir/"


def test_too_long_and_too_often_encoded_names_are_refused():
    with pytest.raises(UnsafeArtifactPath):
        normalize_artifact_path("a" * 1001)
    with pytest.raises(UnsafeArtifactPath):
        normalize_artifact_path("%2525252525252e")
