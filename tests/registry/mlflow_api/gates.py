"""A governance gate for the live MLflow server of these tests (server_settings.py): the
Staging and Production stages and the alias `champion` are protected, and no version has
the evidence they need, so every such promotion is refused with its failing checks."""

from __future__ import annotations

from registry.services.stages import TransitionRefused

PROTECTED_STAGES = {"staging", "production"}
PROTECTED_ALIASES = {"champion"}
FAILING_CHECKS = ["fairness_report: missing", "approvals: 0 of 1 from a reviewer"]


def require_evidence(request) -> None:
    protected = request.to_value in PROTECTED_STAGES if request.kind == "stage" else (
        request.kind == "alias_set" and request.alias in PROTECTED_ALIASES
    )
    if protected:
        raise TransitionRefused(
            f"Promotion to {request.to_value!r} needs evidence the policy requires.",
            details={"failing_checks": FAILING_CHECKS},
        )
