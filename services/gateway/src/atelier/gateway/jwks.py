"""The identity provider's public keys (a JWKS endpoint), fetched and kept in memory.

- Kept as long as the response says (`Cache-Control: max-age`, within 1 minute to 1 day;
  5 minutes when it says nothing), then fetched again.
- A token signed with a key we do not know (the provider rotated) fetches the set again at
  once: a few such fetches may come in a row (`refresh_burst`), then one every
  `min_refresh_seconds`, however many made-up `kid`s arrive: a flood of forged tokens
  cannot hammer the provider, and a real new key is learnt at its first token.
- While the provider cannot be reached, the keys we have keep serving (for up to a day
  past their lifetime): a provider down for a moment costs no user a 401.
- Concurrent callers share one fetch.

Keys are parsed by PyJWT (`PyJWKSet`); only the asymmetric ones count (RS256, ES256,
EdDSA): a symmetric key published in a JWKS would let anyone who reads it sign.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

log = logging.getLogger(__name__)

#: The algorithms a JWKS key may serve.
ASYMMETRIC = frozenset({"RS256", "ES256", "EdDSA"})

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class UnknownKey(Exception):
    """No key of the provider has this `kid` (now, or when it was last asked)."""


class JwksCache:
    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        min_refresh_seconds: float = 30.0,
        refresh_burst: int = 3,
        default_max_age: float = 300.0,
        max_age_bounds: tuple[float, float] = (60.0, 86400.0),
        serve_stale_seconds: float = 86400.0,
    ) -> None:
        self.url = url
        self.client = client
        self.min_refresh_seconds = min_refresh_seconds
        self.refresh_burst = refresh_burst
        self.default_max_age = default_max_age
        self.max_age_bounds = max_age_bounds
        self.serve_stale_seconds = serve_stale_seconds
        self._keys: dict[str, PyJWK] = {}
        self._expires = 0.0  # monotonic
        self._attempted = -float("inf")  # monotonic
        #: Fetches an unknown `kid` may still cause now (refilled one per min_refresh_seconds).
        self._allowance, self._counted_at = float(refresh_burst), time.monotonic()
        self._fetching = asyncio.Lock()
        #: Fetches so far (answered or not): what the provider saw of us.
        self.fetches = 0

    async def key(self, kid: str) -> PyJWK:
        """The provider's key with this id; UnknownKey if it has none."""
        now = time.monotonic()
        if kid in self._keys and now < self._expires:
            return self._keys[kid]
        if now >= self._expires or self._may_look_for_a_new_key(now):
            await self._refresh(now)
        if kid in self._keys and time.monotonic() < self._expires + self.serve_stale_seconds:
            return self._keys[kid]
        raise UnknownKey(f"no key {kid!r} at the identity provider")

    def _may_look_for_a_new_key(self, now: float) -> bool:
        refilled = (now - self._counted_at) / self.min_refresh_seconds
        self._allowance = min(float(self.refresh_burst), self._allowance + refilled)
        self._counted_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    async def warm(self) -> None:
        """Fetch the keys ahead of the first token (a failure is only logged)."""
        await self._refresh(time.monotonic())

    async def _refresh(self, asked_at: float) -> None:
        async with self._fetching:
            if self._attempted >= asked_at:
                return  # another caller fetched while we waited
            self._attempted = time.monotonic()
            self.fetches += 1
            try:
                response = await self.client.get(self.url, timeout=5.0)
                response.raise_for_status()
                keys = PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, PyJWKSetError) as error:
                log.warning(
                    "identity provider's keys not fetched; keeping those we have",
                    extra={"url": self.url, "error": repr(error), "keys": len(self._keys)},
                )
                return
            self._keys = {
                key.key_id: key for key in keys if key.key_id and key.algorithm_name in ASYMMETRIC
            }
            self._expires = self._attempted + self._max_age(response.headers)

    def _max_age(self, headers: httpx.Headers) -> float:
        found = _MAX_AGE.search(headers.get("cache-control", ""))
        seconds = float(found.group(1)) if found else self.default_max_age
        low, high = self.max_age_bounds
        return min(max(seconds, low), high)
