"""JWKS keys expire with the key set: a key the identity provider removed stops verifying.

A tiny JWKS server on a free port plays the identity provider and rotates its keys.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import AuthConfig, AuthError, verify_token


class IdentityProvider:
    """Serves ``keys`` (kid → private key) as a JWKS with ``cache_control``; counts requests."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.cache_control: str | None = None
        self.requests = 0
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                if provider.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [provider.jwk(kid) for kid in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if provider.cache_control:
                    self.send_header("Cache-Control", provider.cache_control)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"

    def jwk(self, kid: str) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, kid: str, key: rsa.RSAPrivateKey | None = None) -> str:
        now = int(datetime.now(UTC).timestamp())
        claims = {"sub": "staff-1", "roles": ["prescriber"], "clinics": ["clinic-a"], "iss": "carecoord",
                  "aud": "carecoord", "iat": now, "exp": now + 600}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture()
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_revoked_key_is_refused_once_the_key_sets_max_age_passed(idp: IdentityProvider) -> None:
    idp.keys = {"k1": _key()}
    idp.cache_control = "public, max-age=1"
    config = AuthConfig(algorithm="RS256", jwks_url=idp.url)
    old = idp.token("k1")
    assert verify_token(old, config).staff_id == "staff-1"

    idp.keys = {"k2": _key()}  # the provider revokes k1 and signs with k2 from now on
    time.sleep(1.2)
    with pytest.raises(AuthError, match="signing key unavailable"):
        verify_token(old, config)
    assert verify_token(idp.token("k2"), config).staff_id == "staff-1"


def test_the_configured_cache_time_caps_a_long_max_age(idp: IdentityProvider) -> None:
    idp.keys = {"k1": _key()}
    idp.cache_control = "max-age=86400"
    config = AuthConfig(algorithm="RS256", jwks_url=idp.url, jwks_cache_seconds=1)
    old = idp.token("k1")
    verify_token(old, config)
    idp.keys = {"k2": _key()}
    time.sleep(1.2)
    with pytest.raises(AuthError, match="signing key unavailable"):
        verify_token(old, config)


def test_without_cache_control_keys_live_the_configured_time(idp: IdentityProvider) -> None:
    idp.keys = {"k1": _key()}
    config = AuthConfig(algorithm="RS256", jwks_url=idp.url, jwks_cache_seconds=1)
    old = idp.token("k1")
    verify_token(old, config)
    idp.keys = {"k2": _key()}
    verify_token(old, config)  # within the key set's lifetime: still the set we had
    time.sleep(1.2)
    with pytest.raises(AuthError, match="signing key unavailable"):
        verify_token(old, config)


def test_a_new_key_id_is_fetched_at_once_and_made_up_ones_only_once(idp: IdentityProvider) -> None:
    k1 = _key()
    idp.keys = {"k1": k1}
    config = AuthConfig(algorithm="RS256", jwks_url=idp.url)  # 300 s, 10 s between early refetches
    verify_token(idp.token("k1"), config)
    assert idp.requests == 1

    idp.keys = {"k1": k1, "k2": _key()}  # rotation: the new key appears before it is used
    assert verify_token(idp.token("k2"), config).staff_id == "staff-1"
    assert idp.requests == 2

    forger = _key()
    for n in range(20):
        with pytest.raises(AuthError, match="signing key unavailable"):
            verify_token(idp.token(f"made-up-{n}", key=forger), config)
    assert idp.requests == 2, "unknown key ids within the refetch interval must not reach the provider"
    verify_token(idp.token("k1"), config)  # the cached set still serves
    assert idp.requests == 2


def test_an_expired_key_set_that_cannot_be_fetched_verifies_nothing(idp: IdentityProvider) -> None:
    idp.keys = {"k1": _key()}
    idp.cache_control = "max-age=1"
    config = AuthConfig(algorithm="RS256", jwks_url=idp.url)
    token = idp.token("k1")
    verify_token(token, config)
    idp.down = True
    time.sleep(1.2)
    with pytest.raises(AuthError, match="signing key unavailable"):
        verify_token(token, config)
    requests = idp.requests
    for _ in range(10):  # a provider that is down is not asked on every request
        with pytest.raises(AuthError):
            verify_token(token, config)
    assert idp.requests == requests
    idp.down = False
    time.sleep(1.1)
    verify_token(token, config)


def test_a_token_whose_key_the_set_does_not_hold_with_a_bad_signature_is_refused(idp: IdentityProvider) -> None:
    idp.keys = {"k1": _key()}
    config = AuthConfig(algorithm="RS256", jwks_url=idp.url)
    forged = idp.token("k1", key=_key())
    with pytest.raises(AuthError, match="bad signature"):
        verify_token(forged, config)


def test_a_jwks_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        AuthConfig(algorithm="RS256", jwks_url="file:///etc/passwd")
