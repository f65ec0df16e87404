"""Whose tokens the dev stack's gateway trusts, and the demo tokens it signs.

The gateway only verifies tokens; issuing them is the identity provider's business, which
for the dev stack and the tests is this module (`issue_token`).

The operator's settings win: `JWT_SECRET` (HS256, a comma list during a rotation, with
`JWT_SECRET_PREVIOUS`) and/or `JWT_JWKS_URL` (their identity provider's keys), with
`JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS` and `JWT_USER_CLAIM` as they set them.
Without either, a secret generated once for the data directory signs the demo token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

#: The gateway's token settings (atelier.gateway.config.GatewaySettings), as variables.
JWT_VARIABLES = (
    "JWT_SECRET",
    "JWT_SECRET_PREVIOUS",
    "JWT_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY_SECONDS",
    "JWT_USER_CLAIM",
)


def issue_token(
    secret: str,
    user_id: uuid.UUID,
    *,
    audience: str,
    lifetime_s: int,
    issuer: str | None = None,
    claims: Mapping[str, object] | None = None,
) -> str:
    """An HS256 token as Supabase would issue it, with `claims` besides (a tier, roles);
    used by the dev stack and the tests."""
    now = int(time.time())
    token: dict[str, object] = {
        "sub": str(user_id),
        "aud": audience,
        "role": "authenticated",
        "iat": now,
        "exp": now + lifetime_s,
    }
    if issuer is not None:
        token["iss"] = issuer
    return jwt.encode(token | dict(claims or {}), secret, algorithm="HS256")


@dataclass(frozen=True)
class TokenTrust:
    #: What the gateway is given.
    env: Mapping[str, str]
    #: One sentence for `make up` to print.
    description: str

    @classmethod
    def of(cls, operator_env: Mapping[str, str], generated_secret: str) -> TokenTrust:
        given = {name: operator_env[name] for name in JWT_VARIABLES if operator_env.get(name)}
        if "JWT_SECRET" in given or "JWT_JWKS_URL" in given:
            return cls(given, _describe(given))
        env = {**given, "JWT_SECRET": generated_secret}
        return cls(env, "HS256, with a secret made for this data directory (secrets.json)")

    @property
    def signing_secret(self) -> str | None:
        """The HS256 secret a demo token can be signed with; None if the provider signs."""
        secrets = [s.strip() for s in self.env.get("JWT_SECRET", "").split(",") if s.strip()]
        return secrets[0] if secrets else None

    def token(
        self, user_id: uuid.UUID, lifetime_s: int, claims: Mapping[str, object] | None = None
    ) -> str:
        secret = self.signing_secret
        if secret is None:
            raise RuntimeError("tokens come from the identity provider (JWT_JWKS_URL) only")
        return issue_token(
            secret,
            user_id,
            audience=self.env.get("JWT_AUDIENCE", "authenticated"),
            issuer=self.env.get("JWT_ISSUER"),
            lifetime_s=lifetime_s,
            claims=claims,
        )


def _describe(given: Mapping[str, str]) -> str:
    ways = []
    if "JWT_SECRET" in given:
        count = len([s for s in given["JWT_SECRET"].split(",") if s.strip()])
        count += 1 if given.get("JWT_SECRET_PREVIOUS") else 0
        ways.append(f"HS256 with your JWT_SECRET ({count} secret{'s' if count > 1 else ''})")
    if "JWT_JWKS_URL" in given:
        ways.append(f"your identity provider's keys at {given['JWT_JWKS_URL']}")
    issuer = f", issuer {given['JWT_ISSUER']}" if "JWT_ISSUER" in given else ""
    return " and ".join(ways) + issuer
