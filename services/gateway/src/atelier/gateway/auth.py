"""Bearer JWT authentication against the operator's identity provider.

Two ways to trust a token, together or alone (see GatewaySettings):
- **HS256 with shared secrets** (`JWT_SECRET`, Supabase's legacy mode): several may verify
  at once during a rotation (a comma list, and `JWT_SECRET_PREVIOUS`);
- **a JWKS endpoint** (`JWT_JWKS_URL`): RS256, ES256 or EdDSA, the key chosen by `kid`
  (see jwks.py).

The token's header says its algorithm; HS256 is checked against the secrets only, the
others against the provider's keys only, so a token "signed" with a public key as an HMAC
secret, or with `alg: none`, has nothing to be checked against. Then the claims: `exp`
required, `nbf` and `iat` checked, `aud` and (when set) `iss` must match, with a small
leeway for clocks. The user is the `JWT_USER_CLAIM` claim (`sub`): a UUID as it is, any
other string mapped to one by uuid5 within the issuer, the same every time. Signing and
verifying are PyJWT's; nothing here is cryptography.

A client sends the same token with every request, and checking it is most of a small
request's own work (an ES256 signature more so): a token that passed is remembered, by
its exact text, for `VERIFIED_FOR_SECONDS` and never past its `exp` (with the leeway).
A token that failed is never remembered. The cost: a key withdrawn from the provider's
JWKS stops the tokens it signed within that time, not at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jwt
from cachetools import TTLCache

from atelier.contracts.scheduling import DEFAULT_TIER
from atelier.gateway.jwks import ASYMMETRIC, JwksCache, UnknownKey
from atelier.gateway.problems import Problem

HS256 = "HS256"
#: uuid5 namespace of user ids made from a provider's non-UUID subjects (`auth0|42`).
_SUBJECT_NAMESPACE = uuid.UUID("7c1e3d5a-8f2b-4b6e-9a0d-2e4f6a8c1b3d")
VERIFIED_FOR_SECONDS = 30
#: Tokens remembered at most (one or two per active client).
VERIFIED_KEPT = 100_000


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    #: The tier the token names (the default tier when it names none of ours).
    tier: str = DEFAULT_TIER
    admin: bool = False


@dataclass(frozen=True)
class Authenticator:
    secrets: Sequence[str]
    jwks: JwksCache | None
    audience: str
    issuer: str | None = None
    leeway_seconds: float = 30.0
    user_claim: str = "sub"
    tier_claim: str = "tier"
    tier_of: Callable[[object], str] = lambda claimed: DEFAULT_TIER
    role_claim: str = "roles"
    admin_role: str = "atelier-admin"
    #: token → (its user, until when it may be taken without checking it again)
    _verified: TTLCache = field(
        default_factory=lambda: TTLCache(VERIFIED_KEPT, VERIFIED_FOR_SECONDS),
        compare=False,
        repr=False,
    )

    async def authenticate(self, token: str | None) -> User:
        if not token:
            raise _unauthorized("a bearer token is required")
        remembered = self._verified.get(token)
        if remembered is not None and time.time() < remembered[1]:
            return remembered[0]
        user, exp = await self._check(token)
        self._verified[token] = (user, exp + self.leeway_seconds)
        return user

    async def _check(self, token: str) -> tuple[User, float]:
        """The token's user and its `exp`, or 401."""
        try:
            header = jwt.get_unverified_header(token)
            claims = await self._verified_claims(token, header)
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise _unauthorized(f"the token is not valid: {error}") from None
        except UnknownKey as error:
            raise _unauthorized(f"the token is not valid: {error}") from None
        roles = claims.get(self.role_claim)
        user = User(
            id=self._user_id(claims.get(self.user_claim)),
            tier=self.tier_of(claims.get(self.tier_claim)),
            admin=self.admin_role == roles
            or (isinstance(roles, list) and self.admin_role in roles),
        )
        return user, float(claims["exp"])

    async def _verified_claims(self, token: str, header: dict) -> dict:
        algorithm = header.get("alg")
        if algorithm == HS256 and self.secrets:
            return self._with_a_secret(token)
        if algorithm in ASYMMETRIC and self.jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise jwt.InvalidTokenError("the token names no key (kid)")
            return self._decode(token, await self.jwks.key(kid), [algorithm])
        raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted")

    def _with_a_secret(self, token: str) -> dict:
        """Verified with the first secret whose signature matches (old or new)."""
        for secret in self.secrets[:-1]:
            try:
                return self._decode(token, secret, [HS256])
            except jwt.InvalidSignatureError:
                continue
        return self._decode(token, self.secrets[-1], [HS256])

    def _decode(self, token: str, key, algorithms: list[str]) -> dict:
        required = ["exp", "aud", self.user_claim] + (["iss"] if self.issuer else [])
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway_seconds,
            options={"require": required},
        )

    def _user_id(self, subject: object) -> uuid.UUID:
        if not isinstance(subject, str) or not subject.strip():
            raise _unauthorized(f"the token's {self.user_claim} is not a user id")
        try:
            return uuid.UUID(subject)
        except ValueError:
            return uuid.uuid5(_SUBJECT_NAMESPACE, f"{self.issuer or ''}\n{subject}")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="atelier"'}
    )
