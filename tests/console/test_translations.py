"""The German catalogue: every string has a translation, and the committed .mo is the .po
compiled (so tests and servers never need gettext installed)."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"


def _po_entries() -> list[dict]:
    """msgid, msgid_plural and msgstr(s) of every entry of django.po (header left out)."""
    entries, current, field = [], {}, None
    for line in (CATALOGUE / "django.po").read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if current.get("msgid"):
                entries.append(current)
            current, field = {}, None
        elif line.startswith("#"):
            if line.startswith("#, ") and "fuzzy" in line:
                current["fuzzy"] = True
        elif line.startswith('"'):
            current[field] += ast.literal_eval(line)
        else:
            field, _, text = line.partition(" ")
            current[field] = ast.literal_eval(text)
    return entries


def test_every_string_has_a_german_translation():
    entries = _po_entries()
    assert len(entries) > 300
    untranslated = [
        entry["msgid"] for entry in entries
        if entry.get("fuzzy") or not all(
            value for key, value in entry.items() if key.startswith("msgstr")
        )
    ]
    assert untranslated == []


def test_the_committed_mo_is_the_po_compiled():
    with (CATALOGUE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in _po_entries():
        if "msgid_plural" in entry:
            assert compiled.ngettext(entry["msgid"], entry["msgid_plural"], 1) == (
                entry["msgstr[0]"]
            ), entry["msgid"]
            assert compiled.ngettext(entry["msgid"], entry["msgid_plural"], 2) == (
                entry["msgstr[1]"]
            ), entry["msgid"]
        else:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"], entry["msgid"]
