"""The auditor API under /t/<slug>/api/v1/audit/: list, filter, export, verify."""
