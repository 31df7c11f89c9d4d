"""Tokens are verified once per distinct token, and an expired one is still refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.auth import AuthConfig, Authenticator, AuthError, issue_token
from shared.auth import tokens as tokens_module
from shared.auth.tokens import VerifiedTokens

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
CONFIG = AuthConfig(algorithm="HS256", hs256_secret=SECRET, leeway_seconds=30, jwks_cache_seconds=300)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)  # PyJWT checks exp against the real clock


def _token(sub: str = "staff-1", ttl: int = 600, at: datetime | None = None) -> str:
    return issue_token(SECRET, sub=sub, roles=["prescriber"], clinics=["clinic-a"], ttl_seconds=ttl,
                       now=at or _now())


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full verification (signature and claims) of a token, in order."""
    seen: list[str] = []
    real = tokens_module._decode

    def counting(token: str, config: AuthConfig) -> dict[str, object]:
        seen.append(token)
        return real(token, config)

    monkeypatch.setattr(tokens_module, "_decode", counting)
    return seen


def test_a_token_is_verified_once_then_answered_from_the_cache(decodes: list[str]) -> None:
    clock = Clock(_now() + timedelta(seconds=1))
    cache = VerifiedTokens(CONFIG, clock=clock)
    a, b = _token("staff-a"), _token("staff-b")
    for _ in range(5):
        assert cache.verify(a).staff_id == "staff-a"
        assert cache.verify(b).staff_id == "staff-b"
    assert decodes == [a, b]


def test_an_expired_token_is_refused_although_it_was_cached(decodes: list[str]) -> None:
    # Issued 200 s ago for 60 s: expired, leeway included, by the real clock PyJWT reads.
    issued = _now() - timedelta(seconds=200)
    token = _token(ttl=60, at=issued)
    expires = (issued + timedelta(seconds=60 + CONFIG.leeway_seconds)).timestamp()
    clock = Clock(issued + timedelta(seconds=10))
    cache = VerifiedTokens(CONFIG, clock=clock)
    principal = tokens_module.verify_token_until(_token(ttl=60), CONFIG)[0]
    cache.put(token, principal, expires)  # as if verified 10 s after it was issued
    clock.now = expires - 1  # within exp + leeway: answered from the cache
    assert cache.verify(token) == principal
    clock.now = expires  # from exp + leeway on, verified again, which refuses it
    decodes.clear()
    with pytest.raises(AuthError, match="expired"):
        cache.verify(token)
    assert len(cache) == 0 and decodes == [token]
    with pytest.raises(AuthError, match="expired"):  # and every time after
        cache.verify(token)


def test_the_cache_keeps_a_token_until_exp_plus_leeway() -> None:
    issued = _now()
    token = _token(ttl=600, at=issued)
    principal, expires = tokens_module.verify_token_until(token, CONFIG)
    assert principal.staff_id == "staff-1"
    assert expires == (issued + timedelta(seconds=600 + CONFIG.leeway_seconds)).timestamp()


def test_entries_are_verified_again_after_max_age(decodes: list[str]) -> None:
    """A key revoked at the identity provider stops verifying within the JWKS cache's time."""
    clock = Clock(_now() + timedelta(seconds=1))
    cache = VerifiedTokens(CONFIG, clock=clock)
    token = _token(ttl=3600)
    cache.verify(token)
    clock.now += CONFIG.jwks_cache_seconds - 1
    cache.verify(token)
    assert len(decodes) == 1
    clock.now += 2
    cache.verify(token)
    assert len(decodes) == 2


def test_failures_are_not_cached_and_the_cache_is_bounded(decodes: list[str]) -> None:
    clock = Clock(_now() + timedelta(seconds=1))
    cache = VerifiedTokens(CONFIG, size=2, clock=clock)
    forged = issue_token("another-secret-that-is-long-enough-for-hs256", sub="x", roles=["admin"],
                         clinics=["clinic-a"], now=_now())
    for _ in range(2):
        with pytest.raises(AuthError, match="bad signature"):
            cache.verify(forged)
    assert len(cache) == 0 and len(decodes) == 2
    a, b, c = _token("a"), _token("b"), _token("c")
    cache.verify(a)
    cache.verify(b)
    cache.verify(a)  # a used last: b is the one dropped
    cache.verify(c)
    assert len(cache) == 2
    decodes.clear()
    cache.verify(a)
    cache.verify(c)
    assert decodes == []
    cache.verify(b)
    assert decodes == [b]


async def test_the_authenticator_verifies_each_token_once(decodes: list[str]) -> None:
    authenticator = Authenticator(CONFIG)
    token = issue_token(SECRET, sub="staff-9", roles=["prescriber"], clinics=["clinic-a"])
    for _ in range(3):
        principal = await authenticator.authenticate(f"Bearer {token}")
        assert principal.staff_id == "staff-9"
    assert decodes == [token]
