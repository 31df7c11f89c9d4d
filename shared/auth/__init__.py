"""Authentication (JWT → Principal) and authorisation (roles, clinic scope)."""

from shared.auth.dependencies import (
    Authenticator,
    current_principal,
    require_roles,
    scope_to_clinic,
)
from shared.auth.principal import Principal, Role
from shared.auth.tokens import AuthConfig, AuthError, issue_token, verify_token

__all__ = [
    "AuthConfig",
    "AuthError",
    "Authenticator",
    "Principal",
    "Role",
    "current_principal",
    "issue_token",
    "require_roles",
    "scope_to_clinic",
    "verify_token",
]
