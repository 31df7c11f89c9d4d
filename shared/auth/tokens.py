"""JWT verification and local issuance.

Verification is strict on purpose: one configured algorithm (never ``none``, never the
token's own choice, which is the classic HS256/RS256 key-confusion hole), a required
expiry, issue time, subject, issuer and audience, and our two claims ``roles`` and
``clinics``. A token may live 12 hours at most (``exp - iat``): a stolen one, or one whose
holder left the clinic, stops working within a shift. Sizes are bounded before any work is
done (the token's length, the number of roles and clinics), so a huge header costs a length
check, not a base64 decode and a JSON parse on the event loop.
Every failure becomes an :class:`AuthError` with a short reason that never contains
token material, so it is safe to log.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import jwt

from shared.auth.jwks import JwksCache, KeyUnavailable
from shared.auth.principal import Principal, Role

Algorithm = Literal["HS256", "RS256"]
_ALGORITHMS: frozenset[str] = frozenset({"HS256", "RS256"})
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
# RFC 7518 section 3.2: an HMAC key at least as long as the hash output; a shorter one can be
# brute-forced offline from any single token.
MIN_HS256_SECRET_BYTES = 32
MAX_LIFETIME_SECONDS = 12 * 3600
MAX_TOKEN_BYTES = 8192
MAX_LIST_ITEMS = 64
_MAX_ITEM_CHARS = 200  # a role name, a clinic id or a staff id


class AuthError(Exception):
    """A token was rejected. ``reason`` is short and free of token contents."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AuthConfig:
    """How tokens are verified.

    HS256 with a shared secret serves the local stack and tests; RS256 with a PEM public
    key or a JWKS URL serves a real identity provider. A config that cannot verify
    anything is rejected when built, not on the first request.
    """

    algorithm: Algorithm
    hs256_secret: str | None = None
    rs256_public_key: str | None = None
    jwks_url: str | None = None
    issuer: str = "carecoord"
    audience: str = "carecoord"
    leeway_seconds: int = 30
    max_lifetime_seconds: int = MAX_LIFETIME_SECONDS
    max_token_bytes: int = MAX_TOKEN_BYTES
    max_list_items: int = MAX_LIST_ITEMS
    # A JWKS key set is used at most this long (less if its Cache-Control says so), so a key
    # the identity provider revoked stops verifying within this time.
    jwks_cache_seconds: float = 300.0
    # Least time between two early refetches for a key id the set does not hold.
    jwks_refetch_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported algorithm {self.algorithm!r}; use HS256 or RS256")
        if self.algorithm == "HS256" and not self.hs256_secret:
            raise ValueError("HS256 needs hs256_secret")
        if self.algorithm == "HS256" and len(str(self.hs256_secret).encode()) < MIN_HS256_SECRET_BYTES:
            raise ValueError(f"the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes; "
                             "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'")
        if self.algorithm == "RS256":
            sources = [self.rs256_public_key, self.jwks_url]
            if sum(source is not None for source in sources) != 1:
                raise ValueError("RS256 needs exactly one of rs256_public_key or jwks_url")
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http(s) URL")
        if self.leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        if min(self.max_lifetime_seconds, self.max_token_bytes, self.max_list_items) <= 0:
            raise ValueError("token limits must be positive")
        if self.jwks_cache_seconds <= 0 or self.jwks_refetch_seconds < 0:
            raise ValueError("jwks_cache_seconds must be positive, jwks_refetch_seconds not negative")


@lru_cache(maxsize=16)
def _jwks_cache(config: AuthConfig) -> JwksCache:
    """One key cache per config, built on the first token that needs it, never at import:
    building the app must not touch the network."""
    assert config.jwks_url is not None
    return JwksCache(config.jwks_url, algorithm=config.algorithm, max_age=config.jwks_cache_seconds,
                     refetch_seconds=config.jwks_refetch_seconds)


def _verification_key(token: str, config: AuthConfig) -> Any:
    if config.algorithm == "HS256":
        return config.hs256_secret
    if config.rs256_public_key is not None:
        return config.rs256_public_key
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise AuthError("malformed token") from exc
    if kid is not None and not isinstance(kid, str):
        raise AuthError("malformed token")
    try:
        return _jwks_cache(config).key(kid)
    except KeyUnavailable as exc:
        raise AuthError("signing key unavailable") from exc


def _string_list(claims: dict[str, Any], name: str, limit: int) -> list[str]:
    value = claims.get(name)
    if value is None:
        raise AuthError(f"missing claim: {name}")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthError(f"claim {name} must be a list of strings")
    if len(value) > limit:
        raise AuthError(f"claim {name} has more than {limit} items")
    if any(len(item) > _MAX_ITEM_CHARS for item in value):
        raise AuthError(f"claim {name} has an item longer than {_MAX_ITEM_CHARS} characters")
    return value


def _check_lifetime(claims: dict[str, Any], config: AuthConfig) -> None:
    """``exp - iat`` within the cap (jwt.decode accepted both as ``int(value)``)."""
    try:
        lifetime = int(claims["exp"]) - int(claims["iat"])
    except (TypeError, ValueError, OverflowError):
        raise AuthError("invalid token") from None
    if lifetime > config.max_lifetime_seconds:
        raise AuthError(f"token lifetime longer than {config.max_lifetime_seconds} s")


def _decode(token: str, config: AuthConfig) -> dict[str, Any]:
    # jwt.decode refuses any algorithm but the configured one (InvalidAlgorithmError), so
    # the header is not parsed separately: that would cost a second parse per request.
    key = _verification_key(token, config)
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[config.algorithm],
            audience=config.audience,
            issuer=config.issuer,
            leeway=config.leeway_seconds,
            options={"require": list(_REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError("token not yet valid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"missing claim: {exc.claim}") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError("wrong audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError("wrong issuer") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise AuthError("algorithm not allowed") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError("bad signature") from exc
    except jwt.DecodeError as exc:
        raise AuthError("malformed token") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("invalid token") from exc


def verify_token(token: str, config: AuthConfig) -> Principal:
    """Verify ``token`` and return who it speaks for, or raise :class:`AuthError`.

    With a JWKS URL this may fetch keys over the network (cached afterwards); async
    callers should run it off the event loop in that case.
    """
    return verify_token_until(token, config)[0]


def verify_token_until(token: str, config: AuthConfig) -> tuple[Principal, float]:
    """:func:`verify_token`, and the moment (Unix seconds) from which verification refuses
    the token as expired: its ``exp`` plus the configured leeway."""
    if not isinstance(token, str) or not token:
        raise AuthError("missing token")
    if len(token) > config.max_token_bytes:
        raise AuthError("token too large")
    claims = _decode(token, config)
    _check_lifetime(claims, config)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthError("missing claim: sub")
    if len(sub) > _MAX_ITEM_CHARS:
        raise AuthError("claim sub too long")
    roles = Role.parse_known(_string_list(claims, "roles", config.max_list_items))
    clinics = frozenset(_string_list(claims, "clinics", config.max_list_items))
    # jwt.decode accepted exp as int(value) (checked again by _check_lifetime).
    return Principal(staff_id=sub, roles=roles, clinic_ids=clinics), int(claims["exp"]) + config.leeway_seconds


class VerifiedTokens:
    """Tokens that verified, by their exact text, so a client's next request with the same
    token costs a dictionary lookup instead of a signature check and a claims parse.

    An entry answers until the token expires (``exp`` plus the leeway, the moment
    :func:`verify_token` starts refusing it) and, at the latest, ``max_age`` seconds after
    it was verified, so a token signed with a key the identity provider has since revoked
    stops being accepted within the JWKS cache's time, as without this cache. Only tokens
    that verified are kept (a forged or malformed one is checked in full every time), and
    at most ``size``, least recently used dropped: nobody without a signing key can add one.
    Lookups and inserts run on the event loop; only the verification itself may run in a
    thread (:class:`shared.auth.Authenticator`)."""

    def __init__(self, config: AuthConfig, size: int = 10_000, *,
                 clock: Callable[[], float] = time.time) -> None:
        if size <= 0:
            raise ValueError("size must be positive")
        self.config = config
        self.size = size
        self.max_age = config.jwks_cache_seconds
        self.clock = clock
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        """The principal of a token verified before and still valid, else None."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, until = entry
        if self.clock() >= until:
            del self._entries[token]  # expired: verified again, which refuses it
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, expires: float) -> None:
        self._entries[token] = (principal, min(expires, self.clock() + self.max_age))
        self._entries.move_to_end(token)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def verify(self, token: str) -> Principal:
        """The token's principal from the cache, or verified now (and kept); AuthError if it fails."""
        principal = self.get(token)
        if principal is None:
            principal, expires = verify_token_until(token, self.config)
            self.put(token, principal, expires)
        return principal


def issue_token(
    secret: str,
    *,
    sub: str,
    roles: list[str],
    clinics: list[str],
    ttl_seconds: int = 3600,
    now: datetime | None = None,
    issuer: str = "carecoord",
    audience: str = "carecoord",
) -> str:
    """Sign an HS256 token for the local stack, scripts and tests.

    Production tokens come from the identity provider; this exists so a developer can
    call the APIs of a locally running stack with a chosen role and clinic.
    """
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    if not sub:
        raise ValueError("sub must not be empty")
    issued_at = now if now is not None else datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": [str(role) for role in roles],
        "clinics": list(clinics),
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + timedelta(seconds=ttl_seconds),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
