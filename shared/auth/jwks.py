"""Signing keys from an identity provider's JWKS URL, kept only as long as the key set says.

PyJWKClient with ``cache_keys=True`` keeps every key it has seen for the life of the process,
so a key the identity provider revoked (removed from its key set) still verifies tokens. Here
the whole key set is replaced when its lifetime ends: the response's ``Cache-Control:
max-age`` when given, never longer than the configured maximum (300 s by default). A token
naming a key id not in the set triggers one early refetch (a key rotated in a moment ago),
at most once per ``refetch_seconds``, so a stream of made-up key ids cannot turn every
request into a request to the identity provider.

Fails closed: once the set has expired and cannot be fetched, no token verifies.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)
_MAX_BODY = 1 << 20  # a key set is a few KiB; a larger answer is not one
# A set marked no-cache is still used for a second, so a burst of requests is one fetch.
_MIN_AGE = 1.0
_RETRY_SECONDS = 1.0


class KeyUnavailable(Exception):
    """No key for the token: unknown key id, or the key set cannot be fetched."""


@dataclass(frozen=True)
class Fetched:
    keys: dict[str | None, Any]
    max_age: float | None  # seconds from Cache-Control, None when the server gave none


def lifetime(cache_control: str | None, maximum: float) -> float | None:
    """How long a key set may be used, from its ``Cache-Control`` header (None: not given)."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    return min(float(match.group(1)), maximum) if match else None


def fetch(url: str, timeout: float, maximum: float, algorithm: str) -> Fetched:
    """GET the key set; keep the signing keys usable with ``algorithm``, by key id."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # the configured URL, http(s) only
        body = response.read(_MAX_BODY + 1)
        cache_control = response.headers.get("Cache-Control")
    if len(body) > _MAX_BODY:
        raise KeyUnavailable("key set too large")
    data = json.loads(body)
    keys: dict[str | None, Any] = {}
    for entry in data.get("keys", []) if isinstance(data, dict) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", algorithm) != algorithm:
            continue
        try:
            jwk = jwt.PyJWK.from_dict(entry, algorithm=algorithm)
        except jwt.PyJWTError:
            continue  # a key type this algorithm cannot use; the others still count
        keys[jwk.key_id] = jwk.key
    return Fetched(keys, lifetime(cache_control, maximum))


class JwksCache:
    """The current key set of one JWKS URL; safe to call from several threads."""

    def __init__(self, url: str, *, algorithm: str = "RS256", max_age: float = 300.0,
                 refetch_seconds: float = 10.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.algorithm = algorithm
        self.max_age = max_age
        self.refetch_seconds = refetch_seconds
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str | None, Any] = {}
        self._expires = float("-inf")
        self._last_attempt = float("-inf")
        self._last_early = float("-inf")
        self.fetches = 0  # read by tests, and worth a glance when debugging an identity provider

    def key(self, kid: str | None) -> Any:
        """The key for ``kid``; refetches an expired set, or once early for an unknown key id."""
        with self._lock:
            now = self._clock()
            if now >= self._expires:
                self._keys = {}  # an expired set verifies nothing, even when the refetch fails
                if now - self._last_attempt >= _RETRY_SECONDS:
                    self._refresh(now)
            elif kid not in self._keys and now - self._last_early >= self.refetch_seconds:
                self._last_early = now  # one early refetch per interval, whatever it finds
                self._refresh(now)
            try:
                return self._keys[kid]
            except KeyError:
                raise KeyUnavailable("no key with this id in the key set") from None

    def _refresh(self, now: float) -> None:
        # Attempts are counted, not successes: an identity provider that is down is asked
        # again once a second, not on every request.
        self._last_attempt = now
        self.fetches += 1
        try:
            fetched = fetch(self.url, self.timeout, self.max_age, self.algorithm)
        except (OSError, ValueError, KeyUnavailable) as exc:
            raise KeyUnavailable("key set unavailable") from exc
        self._keys = fetched.keys
        age = self.max_age if fetched.max_age is None else fetched.max_age
        self._expires = now + max(age, _MIN_AGE)
