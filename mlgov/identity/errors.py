"""Domain errors of identity services; the API layer maps each to a status and code."""

from __future__ import annotations


class IdentityError(Exception):
    code = "identity_error"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class UnknownRole(IdentityError):
    code = "unknown_role"


class UsernameTaken(IdentityError):
    code = "username_taken"
    status = 409


class LastOwner(IdentityError):
    code = "last_owner"
    status = 409


class ScopeTooWide(IdentityError):
    code = "scope_too_wide"
    status = 403


class InvalidExpiry(IdentityError):
    code = "invalid_expiry"


class ServiceAccountPassword(IdentityError):
    code = "service_account_password"
    status = 409
