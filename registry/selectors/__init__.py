"""Reads of the registry, restricted to what the acting user may see (STYLE.md rule 2)."""
