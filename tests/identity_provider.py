"""An identity provider on loopback, as Supabase, Auth0 or Keycloak look to the gateway: it
signs users' tokens with its private keys and publishes the public ones as a JWKS over
HTTP (with a Cache-Control lifetime). Tests rotate its keys, take it down for a moment,
and count how often the gateway asked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

HOST = "127.0.0.1"
ISSUER = "https://idp.test/auth/v1"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: object

    @classmethod
    def new(cls, algorithm: str) -> SigningKey:
        private = {
            "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "EdDSA": ed25519.Ed25519PrivateKey.generate,
        }[algorithm]()
        return cls(f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}", algorithm, private)

    def jwk(self) -> dict:
        to_jwk = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}
        public = to_jwk[self.algorithm].to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class IdentityProvider:
    def __init__(self, *, max_age: int = 300, algorithms=("RS256", "ES256", "EdDSA")) -> None:
        self.keys = [SigningKey.new(algorithm) for algorithm in algorithms]
        self.max_age = max_age
        #: False: every request for the keys gets a 503 (the provider is down).
        self.up = True
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def jwks_url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}/auth/v1/.well-known/jwks.json"

    def start(self) -> IdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self, algorithm: str = "RS256") -> SigningKey:
        """Publish a new key beside the others (the overlap); `retire` drops an old one."""
        key = SigningKey.new(algorithm)
        with self._lock:
            self.keys = [*self.keys, key]
        return key

    def retire(self, key: SigningKey) -> None:
        with self._lock:
            self.keys = [k for k in self.keys if k.kid != key.kid]

    def token(
        self,
        user_id: uuid.UUID | str,
        *,
        key: SigningKey | None = None,
        lifetime_s: int = 300,
        **claims,
    ) -> str:
        """A token as the provider issues it (`claims` override or, as None, drop any)."""
        key = key or self.keys[0]
        now = int(time.time())
        body = {"sub": str(user_id), "aud": "authenticated", "iss": ISSUER, "iat": now}
        body |= {"exp": now + lifetime_s, "role": "authenticated", **claims}
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, key.private, algorithm=key.algorithm, headers={"kid": key.kid})

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with provider._lock:
                    provider.requests += 1
                    keys = [key.jwk() for key in provider.keys]
                if not provider.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"public, max-age={provider.max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler


def forgeries(provider: IdentityProvider, user_id: uuid.UUID) -> dict[str, tuple[str | None, str]]:
    """Every token the gateway must refuse (with 401), by what is wrong with it, and a
    word its refusal must name."""
    rsa_key, es_key = provider.keys[0], provider.keys[1]
    stranger = SigningKey.new("RS256")
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"sub": str(user_id), "aud": "authenticated", "iss": ISSUER, "exp": now + 60}
    return {
        "no token": (None, "required"),
        "garbage": ("garbage", "not valid"),
        "another key under a known kid": (
            jwt.encode(claims, stranger.private, "RS256", headers={"kid": rsa_key.kid}),
            "signature",
        ),
        "a kid nobody has": (provider.token(user_id, key=stranger), "no key"),
        "no kid": (jwt.encode(claims, rsa_key.private, "RS256"), "kid"),
        "alg none": (jwt.encode(claims, None, algorithm="none"), "not accepted"),
        "HS256 with the public key as its secret": (
            _hs256_by_hand(claims, public_pem, kid=rsa_key.kid),
            "not accepted",
        ),
        "RS256 under an ES256 key's kid": (
            jwt.encode(claims, stranger.private, "RS256", headers={"kid": es_key.kid}),
            "does not match",
        ),
        "wrong issuer": (provider.token(user_id, iss="https://evil.test"), "issuer"),
        "no issuer": (provider.token(user_id, iss=None), "iss"),
        "wrong audience": (provider.token(user_id, aud="service_role"), "audience"),
        "expired": (provider.token(user_id, exp=now - 120), "expired"),
        "not yet valid": (provider.token(user_id, nbf=now + 600), "not yet valid"),
    }


def _hs256_by_hand(claims: dict, secret: bytes, **header) -> str:
    """The algorithm-confusion forgery: HMAC with the provider's public key as the secret
    (PyJWT refuses to sign it; an attacker's own code would not)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    head = part(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
    signing_input = f"{head}.{part(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"
