"""Writes of the registry, one module per topic. Each service is keyword-only, takes
`acting_user`, runs in one transaction and records its audit event (STYLE.md)."""
