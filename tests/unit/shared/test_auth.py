"""Token verification, the FastAPI dependencies and the ``carecoord token`` command."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from shared.auth import (
    AuthConfig,
    Authenticator,
    AuthError,
    Principal,
    Role,
    issue_token,
    require_roles,
    scope_to_clinic,
    verify_token,
)
from shared.auth.cli import SECRET_ENV, add_token_parser, run_token

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
HS_CONFIG = AuthConfig(algorithm="HS256", hs256_secret=SECRET)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": "staff-1",
        "roles": ["prescriber"],
        "clinics": ["clinic-a"],
        "iss": "carecoord",
        "aud": "carecoord",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


def _hand_made(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token built without pyjwt, which refuses to produce the malicious ones."""
    segments = [_b64(json.dumps(part).encode()) for part in (header, claims)]
    return ".".join([*segments, _b64(signature)])


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


# --- verify_token ---------------------------------------------------------------------


def test_valid_token_gives_principal_and_ignores_unknown_roles() -> None:
    token = issue_token(
        SECRET, sub="staff-7", roles=["therapist", "superuser"], clinics=["c1", "c2"]
    )
    principal = verify_token(token, HS_CONFIG)
    assert principal == Principal(
        staff_id="staff-7", roles=frozenset({Role.THERAPIST}), clinic_ids=frozenset({"c1", "c2"})
    )
    assert principal.can_see_clinic("c2")
    assert not principal.can_see_clinic("c3")


def test_expired_token_is_rejected() -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(SECRET, sub="s", roles=["admin"], clinics=["c"], now=issued)
    with pytest.raises(AuthError, match="token expired"):
        verify_token(token, HS_CONFIG)


def test_expiry_within_leeway_is_tolerated_for_clock_skew() -> None:
    issued = datetime.now(UTC) - timedelta(seconds=70)
    token = issue_token(SECRET, sub="s", roles=["admin"], clinics=["c"], ttl_seconds=60, now=issued)
    assert verify_token(token, HS_CONFIG).staff_id == "s"
    strict = AuthConfig(algorithm="HS256", hs256_secret=SECRET, leeway_seconds=0)
    with pytest.raises(AuthError, match="token expired"):
        verify_token(token, strict)


def test_wrong_secret_is_rejected() -> None:
    token = issue_token(SECRET + "-other", sub="s", roles=["admin"], clinics=["c"])
    with pytest.raises(AuthError, match="bad signature"):
        verify_token(token, HS_CONFIG)


def test_alg_none_is_rejected() -> None:
    token = _hand_made({"alg": "none", "typ": "JWT"}, _claims())
    with pytest.raises(AuthError, match="algorithm not allowed"):
        verify_token(token, HS_CONFIG)


def test_rs256_token_is_rejected_by_hs256_config(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")
    with pytest.raises(AuthError, match="algorithm not allowed"):
        verify_token(token, HS_CONFIG)


def test_hs256_token_keyed_with_the_public_key_is_rejected_by_rs256_config(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    """The key-confusion attack: HMAC-sign with the (public) RSA key as the secret."""
    pem = _public_pem(rsa_key)
    header = {"alg": "HS256", "typ": "JWT"}
    unsigned = _hand_made(header, _claims()).rsplit(".", 1)[0]
    signature = hmac.new(pem.encode(), unsigned.encode(), hashlib.sha256).digest()
    token = f"{unsigned}.{_b64(signature)}"
    with pytest.raises(AuthError, match="algorithm not allowed"):
        verify_token(token, AuthConfig(algorithm="RS256", rs256_public_key=pem))


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud", "roles", "clinics"])
def test_missing_claim_is_rejected(claim: str) -> None:
    claims = _claims()
    del claims[claim]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=f"missing claim: {claim}"):
        verify_token(token, HS_CONFIG)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"roles": "prescriber"}, "claim roles must be a list of strings"),
        ({"clinics": [1, 2]}, "claim clinics must be a list of strings"),
        ({"sub": ""}, "missing claim: sub"),
    ],
)
def test_bad_claims_are_rejected(overrides: dict[str, Any], reason: str) -> None:
    token = jwt.encode(_claims(**overrides), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=reason):
        verify_token(token, HS_CONFIG)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(AuthError):
        verify_token(token, HS_CONFIG)


def test_rs256_with_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    config = AuthConfig(algorithm="RS256", rs256_public_key=_public_pem(rsa_key))
    token = jwt.encode(_claims(roles=["auditor"]), rsa_key, algorithm="RS256")
    assert verify_token(token, config).roles == frozenset({Role.AUDITOR})

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(), other_key, algorithm="RS256")
    with pytest.raises(AuthError, match="bad signature"):
        verify_token(forged, config)


@pytest.fixture()
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def test_rs256_with_jwks(rsa_key: rsa.RSAPrivateKey, jwks_url: str) -> None:
    config = AuthConfig(algorithm="RS256", jwks_url=jwks_url)
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert verify_token(token, config).staff_id == "staff-1"
    unknown_kid = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k9"})
    with pytest.raises(AuthError, match="signing key unavailable"):
        verify_token(unknown_kid, config)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithm": "none"},
        {"algorithm": "HS256"},
        {"algorithm": "RS256"},
        {"algorithm": "RS256", "rs256_public_key": "pem", "jwks_url": "https://idp/jwks"},
    ],
)
def test_config_that_cannot_verify_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AuthConfig(**kwargs)


# --- FastAPI dependencies -------------------------------------------------------------

PATIENT_CLINICS = {"p-1": "clinic-a", "p-2": "clinic-b"}
PrescriberOrCoordinator = Annotated[
    Principal, Depends(require_roles(Role.PRESCRIBER, Role.COORDINATOR))
]


def _app(*, with_authenticator: bool = True) -> FastAPI:
    app = FastAPI()
    if with_authenticator:
        app.state.authenticator = Authenticator(HS_CONFIG)

    @app.get("/patients/{patient_id}")
    async def get_patient(patient_id: str, principal: PrescriberOrCoordinator) -> dict[str, str]:
        scope_to_clinic(principal, PATIENT_CLINICS.get(patient_id))
        return {"patient_id": patient_id, "staff_id": principal.staff_id}

    return app


@pytest.fixture()
def client() -> TestClient:
    return TestClient(_app())


def _bearer(roles: list[str], clinics: list[str] | None = None, **kwargs: Any) -> dict[str, str]:
    token = issue_token(
        SECRET, sub="staff-1", roles=roles, clinics=clinics or ["clinic-a"], **kwargs
    )
    return {"Authorization": f"Bearer {token}"}


def test_missing_token_is_401_with_bearer_challenge(client: TestClient) -> None:
    response = client.get("/patients/p-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_malformed_authorization_header_is_401(client: TestClient, header: str) -> None:
    response = client.get("/patients/p-1", headers={"Authorization": header})
    assert response.status_code == 401


def test_expired_token_is_401_and_not_echoed(client: TestClient) -> None:
    headers = _bearer(["prescriber"], now=datetime.now(UTC) - timedelta(hours=3))
    response = client.get("/patients/p-1", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    token = headers["Authorization"].removeprefix("Bearer ")
    assert token not in response.text
    assert "expired" in response.json()["detail"]


def test_wrong_role_is_403(client: TestClient) -> None:
    response = client.get("/patients/p-1", headers=_bearer(["therapist", "auditor"]))
    assert response.status_code == 403
    assert response.json() == {"detail": "requires one of roles: prescriber, coordinator"}


def test_right_role_is_200(client: TestClient) -> None:
    response = client.get("/patients/p-1", headers=_bearer(["coordinator"]))
    assert response.status_code == 200
    assert response.json() == {"patient_id": "p-1", "staff_id": "staff-1"}


def test_patient_of_another_clinic_looks_absent(client: TestClient) -> None:
    other_clinic = client.get("/patients/p-2", headers=_bearer(["prescriber"]))
    unknown = client.get("/patients/p-404", headers=_bearer(["prescriber"]))
    assert other_clinic.status_code == unknown.status_code == 404
    assert other_clinic.json() == unknown.json() == {"detail": "patient not found"}


def test_app_without_authenticator_fails_closed() -> None:
    client = TestClient(_app(with_authenticator=False), raise_server_exceptions=False)
    response = client.get("/patients/p-1", headers=_bearer(["prescriber"]))
    assert response.status_code == 500


def test_require_roles_needs_a_role() -> None:
    with pytest.raises(ValueError):
        require_roles()


# --- carecoord token ------------------------------------------------------------------


def _run_cli(command_line: str) -> int:
    parser = argparse.ArgumentParser(prog="carecoord")
    add_token_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(command_line.split())
    assert args.func is run_token
    return run_token(args)


@pytest.fixture()
def no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_prints_only_a_verifiable_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_secret: Path
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code = _run_cli("token --role prescriber --role therapist --clinic c1 --clinic c2 --ttl 60")
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1
    principal = verify_token(lines[0], HS_CONFIG)
    assert principal.staff_id == "staff-local"
    assert principal.roles == {Role.PRESCRIBER, Role.THERAPIST}
    assert principal.clinic_ids == {"c1", "c2"}


def test_cli_reads_the_local_stack_secret_file(
    capsys: pytest.CaptureFixture[str], no_secret: Path
) -> None:
    secret_file = no_secret / ".run" / "secrets" / "jwt-secret"
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text(SECRET + "\n")
    assert _run_cli("token --role admin --clinic c1 --sub staff-9") == 0
    assert verify_token(capsys.readouterr().out.strip(), HS_CONFIG).staff_id == "staff-9"


def test_cli_secret_file_flag_wins_over_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_secret: Path
) -> None:
    monkeypatch.setenv(SECRET_ENV, "some-other-secret-of-sufficient-length-000")
    path = no_secret / "secret"
    path.write_text(SECRET)
    assert _run_cli(f"token --role admin --clinic c1 --secret-file {path}") == 0
    verify_token(capsys.readouterr().out.strip(), HS_CONFIG)


def test_cli_without_secret_exits_2_and_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str], no_secret: Path
) -> None:
    assert _run_cli("token --role admin --clinic c1") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "make up" in captured.err
    assert SECRET_ENV in captured.err


def test_cli_rejects_unknown_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_secret: Path
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert _run_cli("token --role wizard --clinic c1") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown role 'wizard'" in captured.err
