"""Tokens: issue time required, lifetime capped, secrets long enough, sizes bounded."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from fastapi import HTTPException

from shared.auth import AuthConfig, Authenticator, AuthError, issue_token, verify_token
from shared.auth.cli import SECRET_ENV, add_token_parser, run_token

SECRET = "security-test-secret-of-forty-bytes-0000"
CONFIG = AuthConfig(algorithm="HS256", hs256_secret=SECRET)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {"sub": "staff-1", "roles": ["prescriber"], "clinics": ["clinic-a"],
                              "iss": "carecoord", "aud": "carecoord", "iat": now, "exp": now + 300}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(**overrides: Any) -> str:
    return jwt.encode(_claims(**overrides), SECRET, algorithm="HS256")


def test_a_token_without_iat_is_refused() -> None:
    with pytest.raises(AuthError, match="missing claim: iat"):
        verify_token(_token(iat=None), CONFIG)


def test_a_token_living_longer_than_12_hours_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    assert verify_token(_token(iat=now, exp=now + 12 * 3600), CONFIG).staff_id == "staff-1"
    with pytest.raises(AuthError, match="lifetime"):
        verify_token(_token(iat=now, exp=now + 12 * 3600 + 1), CONFIG)
    # a year-long token backdated so that it looks fresh is still a year-long token
    with pytest.raises(AuthError, match="lifetime"):
        verify_token(_token(iat=now - 3600, exp=now + 365 * 86400), CONFIG)


def test_the_lifetime_cap_is_configurable() -> None:
    now = int(datetime.now(UTC).timestamp())
    short = AuthConfig(algorithm="HS256", hs256_secret=SECRET, max_lifetime_seconds=600)
    verify_token(_token(iat=now, exp=now + 600), short)
    with pytest.raises(AuthError, match="lifetime"):
        verify_token(_token(iat=now, exp=now + 601), short)


def test_an_iat_in_the_future_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    with pytest.raises(AuthError, match="not yet valid"):
        verify_token(_token(iat=now + 3600, exp=now + 7200), CONFIG)


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_an_hs256_secret_shorter_than_32_bytes_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="HS256"):
        AuthConfig(algorithm="HS256", hs256_secret=secret)


def test_a_service_with_a_short_secret_does_not_start() -> None:
    from services.pharmacy.app import Settings, create_app

    with pytest.raises(ValueError, match="at least 32 bytes"):
        create_app(Settings(jwt_secret="changeme"))


@pytest.mark.parametrize("claim", ["clinics", "roles"])
def test_more_than_64_clinics_or_roles_are_refused(claim: str) -> None:
    verify_token(_token(**{claim: [f"c{n}" for n in range(64)]}), CONFIG)
    with pytest.raises(AuthError, match=f"claim {claim} has more than 64 items"):
        verify_token(_token(**{claim: [f"c{n}" for n in range(65)]}), CONFIG)


def test_an_overlong_clinic_id_or_staff_id_is_refused() -> None:
    with pytest.raises(AuthError, match="longer than"):
        verify_token(_token(clinics=["c" * 201]), CONFIG)
    with pytest.raises(AuthError, match="sub"):
        verify_token(_token(sub="s" * 201), CONFIG)


def test_a_string_exp_cannot_smuggle_a_long_lifetime() -> None:
    now = int(datetime.now(UTC).timestamp())
    with pytest.raises(AuthError):
        verify_token(_token(iat=str(now), exp=str(now + 365 * 86400)), CONFIG)


def test_a_huge_token_is_refused_on_its_length() -> None:
    huge = _token(clinics=["c" * 1000] * 8000)  # an 8 MB token, validly signed
    assert len(huge) > 8_000_000
    with pytest.raises(AuthError, match="token too large"):  # the length, not a parse, refuses it
        verify_token(huge, CONFIG)


def test_an_8_mb_bearer_header_is_refused_before_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size is checked before any decoding, so an 8 MB bearer header cannot stall the event
    loop (checked by what runs, not by a timing a busy machine would make flaky)."""
    header = "Bearer " + _token(clinics=["c" * 1000] * 8000)
    authenticator = Authenticator(CONFIG)

    def parsed(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an oversized token was parsed")

    monkeypatch.setattr(jwt, "decode", parsed)
    monkeypatch.setattr(jwt, "get_unverified_header", parsed)
    monkeypatch.setattr(jwt.api_jwt._jwt_global_obj, "decode", parsed)
    monkeypatch.setattr(jwt.api_jws._jws_global_obj, "decode_complete", parsed)

    async def call() -> int:
        try:
            await authenticator.authenticate(header)
        except HTTPException as exc:
            return exc.status_code
        return 200

    assert asyncio.run(call()) == 401


def test_issue_token_sets_iat_and_its_tokens_verify() -> None:
    token = issue_token(SECRET, sub="s", roles=["admin"], clinics=["c"])
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="carecoord")
    assert claims["exp"] - claims["iat"] == 3600
    verify_token(token, CONFIG)


def test_the_cli_refuses_a_ttl_the_services_would_refuse(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    parser = argparse.ArgumentParser(prog="carecoord")
    add_token_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["token", "--role", "admin", "--clinic", "c1", "--ttl", str(13 * 3600)])
    assert run_token(args) == 2
    assert "at most 43200" in capsys.readouterr().err
