import base64
import json
import time
import uuid

import jwt
import pytest

from atelier.gateway.auth import Authenticator, issue_token
from atelier.gateway.problems import Problem

SECRET = "s" * 48
USER = uuid.uuid4()
auth = Authenticator(SECRET, "authenticated")


def token(secret: str = SECRET, algorithm: str = "HS256", **overrides) -> str:
    now = int(time.time())
    claims = {"sub": str(USER), "aud": "authenticated", "exp": now + 60, "iat": now}
    claims = {k: v for k, v in (claims | overrides).items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_a_supabase_style_token_authenticates_its_subject():
    assert auth.authenticate(token()).id == USER
    assert auth.authenticate(issue_token(SECRET, USER, audience="authenticated", lifetime_s=60))


def unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        (None, "required"),
        ("not-a-jwt", "not valid"),
        (token(secret="x" * 48), "Signature"),
        (token(aud="someone-else"), "audience"),
        (token(exp=int(time.time()) - 10), "expired"),
        (token(exp=None), "exp"),
        (token(nbf=int(time.time()) + 600), "not yet valid"),
        (token(sub="admin"), "not a user id"),
        (unsigned({"sub": str(USER), "aud": "authenticated", "exp": 2**40}), "not valid"),
    ],
)
def test_every_bad_token_is_a_401_with_a_reason(bad, detail):
    with pytest.raises(Problem) as refused:
        auth.authenticate(bad)
    assert refused.value.status == 401
    assert detail.lower() in refused.value.detail.lower()
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
