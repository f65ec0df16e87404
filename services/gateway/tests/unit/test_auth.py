"""HS256 tokens (shared secrets): every refusal a 401 with its reason, secrets rotated
without a window of 401s, user ids from any subject."""

import base64
import json
import time
import uuid

import jwt
import pytest

from atelier.gateway.auth import Authenticator
from atelier.gateway.config import GatewaySettings
from atelier.gateway.problems import Problem
from atelier.platform.identity import issue_token

SECRET = "s" * 48
USER = uuid.uuid4()
auth = Authenticator(secrets=[SECRET], jwks=None, audience="authenticated")


def token(secret: str = SECRET, algorithm: str = "HS256", **overrides) -> str:
    now = int(time.time())
    claims = {"sub": str(USER), "aud": "authenticated", "exp": now + 60, "iat": now}
    claims = {k: v for k, v in (claims | overrides).items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


def unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_a_supabase_style_token_authenticates_its_subject():
    assert (await auth.authenticate(token())).id == USER
    issued = issue_token(SECRET, USER, audience="authenticated", lifetime_s=60)
    assert (await auth.authenticate(issued)).id == USER


# Tokens are made when the test runs, not when the suite is collected: a whole-suite run
# collects this file many minutes before it gets here, and a token made then has expired.
@pytest.mark.parametrize(
    ("make_bad", "detail"),
    [
        (lambda: None, "required"),
        (lambda: "not-a-jwt", "not valid"),
        (lambda: token(secret="x" * 48), "Signature"),
        (lambda: token(aud="someone-else"), "audience"),
        (lambda: token(exp=int(time.time()) - 60), "expired"),
        (lambda: token(exp=None), "exp"),
        (lambda: token(nbf=int(time.time()) + 600), "not yet valid"),
        (lambda: token(iat=int(time.time()) + 600), "not yet valid"),
        (lambda: token(sub=None), "sub"),
        (lambda: token(sub=""), "not a user id"),
        (lambda: token(secret="s" * 64, algorithm="HS512"), "not accepted"),
        (
            lambda: unsigned({"sub": str(USER), "aud": "authenticated", "exp": 2**40}),
            "not accepted",
        ),
    ],
    ids=[
        "missing",
        "not-a-jwt",
        "signature",
        "audience",
        "expired",
        "no-exp",
        "nbf-future",
        "iat-future",
        "no-sub",
        "empty-sub",
        "hs512",
        "alg-none",
    ],
)
async def test_every_bad_token_is_a_401_with_a_reason(make_bad, detail):
    with pytest.raises(Problem) as refused:
        await auth.authenticate(make_bad())
    assert refused.value.status == 401
    assert detail.lower() in refused.value.detail.lower()
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")


async def test_clocks_a_little_apart_are_forgiven():
    now = int(time.time())
    assert await auth.authenticate(token(exp=now - 5, nbf=now + 5))


async def test_during_a_rotation_the_new_and_the_previous_secret_both_verify():
    settings = GatewaySettings(jwt_secret="new-secret-" + "n" * 40, jwt_secret_previous="o" * 48)
    rotating = Authenticator(secrets=settings.hs256_secrets(), jwks=None, audience="authenticated")
    for secret in settings.hs256_secrets():
        assert (await rotating.authenticate(token(secret=secret))).id == USER
    with pytest.raises(Problem, match="Signature"):
        await rotating.authenticate(token(secret="x" * 48))


def test_secrets_come_as_a_comma_list_too():
    settings = GatewaySettings(jwt_secret=" a-secret , b-secret ,")
    assert settings.hs256_secrets() == ["a-secret", "b-secret"]


def test_no_way_to_verify_a_token_is_refused_at_start():
    with pytest.raises(ValueError, match="JWT_SECRET or JWT_JWKS_URL"):
        GatewaySettings(jwt_secret=None)


async def test_the_issuer_is_checked_when_configured():
    checking = Authenticator(secrets=[SECRET], jwks=None, audience="authenticated", issuer="me")
    assert await checking.authenticate(token(iss="me"))
    for wrong in (token(iss="someone-else"), token()):
        with pytest.raises(Problem):
            await checking.authenticate(wrong)


async def test_any_subject_becomes_a_user_id_the_same_every_time():
    """Auth0's `auth0|42`, Clerk's `user_2abc`: one UUID per subject and issuer."""
    first = await auth.authenticate(token(sub="auth0|42"))
    assert first == await auth.authenticate(token(sub="auth0|42"))
    assert first != await auth.authenticate(token(sub="auth0|43"))
    elsewhere = Authenticator(secrets=[SECRET], jwks=None, audience="authenticated", issuer="b")
    assert first != await elsewhere.authenticate(token(sub="auth0|42", iss="b"))


async def test_the_user_may_be_named_by_another_claim():
    by_email = Authenticator(
        secrets=[SECRET], jwks=None, audience="authenticated", user_claim="user_id"
    )
    assert (await by_email.authenticate(token(user_id=str(USER), sub="x"))).id == USER
    with pytest.raises(Problem, match="user_id"):
        await by_email.authenticate(token())


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    """The tokens the authenticator really checks (signature and claims)."""
    checked: list[str] = []
    check = Authenticator._check

    async def counting(self, token):
        checked.append(token)
        return await check(self, token)

    monkeypatch.setattr(Authenticator, "_check", counting)
    return checked


async def test_a_token_that_passed_is_not_checked_again_until_its_exp(checks, monkeypatch):
    remembering = Authenticator(secrets=[SECRET], jwks=None, audience="authenticated")
    valid = token()
    first = await remembering.authenticate(valid)
    assert await remembering.authenticate(valid) == first
    assert checks == [valid]
    exp = jwt.decode(valid, options={"verify_signature": False})["exp"]
    # past its exp (and the leeway) by this module's clock: checked again (PyJWT, on its
    # own clock, still finds it valid, so the check passes)
    monkeypatch.setattr(time, "time", lambda: exp + remembering.leeway_seconds + 1)
    assert await remembering.authenticate(valid) == first
    assert checks == [valid, valid]


async def test_a_token_that_failed_is_checked_every_time(checks):
    remembering = Authenticator(secrets=[SECRET], jwks=None, audience="authenticated")
    forged = token(secret="x" * 48)
    for _ in range(2):
        with pytest.raises(Problem):
            await remembering.authenticate(forged)
    assert checks == [forged, forged]
