"""S3 access (aioboto3): one long-lived client for traffic; presigned URLs signed here.

Presigned URLs are signed for the endpoint clients can reach
(`S3_PUBLIC_ENDPOINT_URL`), which may differ from the internal one, with botocore's own
SigV4 query signer but without a client's request pipeline (endpoint rules, event hooks,
parameter validation): the same URL as `generate_presigned_url`, a third of the time, and
a page of the workspace signs a hundred.

They are signed as of the start of the current window (`SIGNED_URL_WINDOW_SECONDS`), with
the window added to their lifetime, and remembered: within a window an object has one URL
(cached by browsers and CDNs, identical across replicas), signed once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

import aioboto3
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from atelier.contracts.assets import AssetSnapshot
from atelier.runtime.settings import RuntimeSettings
from atelier.runtime.tracing import s3_span


class ObjectMissing(Exception):
    """The object to read or copy is not there."""


#: SigV4's longest lifetime (seven days).
MAX_URL_SECONDS = 7 * 24 * 3600
#: Signed URLs an ObjectStore remembers (a page of 50 assets signs 100).
SIGNED_URLS_KEPT = 50_000


class RangeNotSatisfiable(Exception):
    """The byte range asked for lies beyond the object."""


@dataclass(frozen=True)
class ObjectRead:
    """An object being read: 200 or 206 (a range), its HTTP headers, its bytes."""

    status: int
    headers: dict[str, str]
    chunks: AsyncIterator[bytes]


#: get_object's answer → the HTTP headers a server passes on.
_READ_HEADERS = {
    "ContentType": "Content-Type",
    "ContentLength": "Content-Length",
    "ContentRange": "Content-Range",
    "ETag": "ETag",
    "AcceptRanges": "Accept-Ranges",
}
#: Bytes per chunk when an object is streamed on.
STREAM_CHUNK_BYTES = 64 * 1024


async def _chunks(body) -> AsyncIterator[bytes]:
    async with body:
        async for chunk in body.iter_chunks(STREAM_CHUNK_BYTES):
            yield chunk


class _SignedAt(S3SigV4QueryAuth):
    """botocore's S3 query signer, as of a given time instead of now. botocore's `add_auth`
    takes the time from its clock; the rest is its own steps, in its order."""

    def __init__(self, credentials, region: str, expires: int, at: datetime) -> None:
        super().__init__(credentials, "s3", region, expires=expires)
        self._at = at

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._at.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        string_to_sign = self.string_to_sign(request, self.canonical_request(request))
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


class ObjectStore:
    def __init__(self, settings: RuntimeSettings, clock: Callable[[], float] = time.time) -> None:
        """`clock`: the time presigned URLs are signed by (a test's own)."""
        self._settings = settings
        self._clock = clock
        self._signed = lru_cache(maxsize=SIGNED_URLS_KEPT)(self._sign)
        self._stack = contextlib.AsyncExitStack()
        self._client = None
        self._credentials = Credentials(
            settings.s3_access_key_id, settings.s3_secret_access_key.get_secret_value()
        )
        self._public_root = settings.presign_endpoint_url.rstrip("/")

    async def __aenter__(self) -> ObjectStore:
        session = aioboto3.Session()
        self._client = await self._stack.enter_async_context(
            session.client("s3", endpoint_url=self._settings.s3_endpoint_url, **self._options())
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def _options(self) -> dict:
        return {
            "aws_access_key_id": self._settings.s3_access_key_id,
            "aws_secret_access_key": self._settings.s3_secret_access_key.get_secret_value(),
            "region_name": self._settings.s3_region,
            "config": Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }

    async def ensure_bucket(self, bucket: str) -> None:
        try:
            await self._client.head_bucket(Bucket=bucket)
        except ClientError:
            with contextlib.suppress(
                self._client.exceptions.BucketAlreadyOwnedByYou,
                self._client.exceptions.BucketAlreadyExists,
            ):
                await self._client.create_bucket(Bucket=bucket)

    async def head_bucket(self, bucket: str) -> None:
        await self._client.head_bucket(Bucket=bucket)

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        with s3_span("PutObject", bucket, key):
            await self._client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type
            )

    async def get(self, bucket: str, key: str) -> bytes:
        with s3_span("GetObject", bucket, key):
            response = await self._client.get_object(Bucket=bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()

    async def open(self, bucket: str, key: str, byte_range: str | None = None) -> ObjectRead:
        """The object (or the bytes of `byte_range`, an HTTP `Range` value) as a stream, for
        serving it on: ObjectMissing if it is not there, RangeNotSatisfiable if the range
        lies beyond it. The caller iterates `chunks` to the end or closes it."""
        params = {"Bucket": bucket, "Key": key} | ({"Range": byte_range} if byte_range else {})
        with s3_span("GetObject", bucket, key):
            try:
                response = await self._client.get_object(**params)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code in {"404", "NoSuchKey", "NotFound"}:
                    raise ObjectMissing(f"{bucket}/{key}") from error
                if code == "InvalidRange":
                    raise RangeNotSatisfiable(f"{bucket}/{key}: {byte_range}") from error
                raise
        headers = {
            name: str(response[field])
            for field, name in _READ_HEADERS.items()
            if response.get(field) is not None
        }
        status = 206 if "Content-Range" in headers else 200
        return ObjectRead(status, headers, _chunks(response["Body"]))

    async def exists(self, bucket: str, key: str) -> bool:
        with s3_span("HeadObject", bucket, key):
            try:
                await self._client.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise
            return True

    async def delete(self, bucket: str, key: str) -> None:
        with s3_span("DeleteObject", bucket, key):
            await self._client.delete_object(Bucket=bucket, Key=key)

    async def copy(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        with s3_span("CopyObject", bucket, key) as span:
            span.set_attribute("aws.s3.copy_source", f"{source_bucket}/{source_key}")
            try:
                await self._client.copy_object(
                    Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key}
                )
            except self._client.exceptions.NoSuchKey as error:
                raise ObjectMissing(f"{source_bucket}/{source_key}") from error

    async def delete_all(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            await self.delete(bucket, key)

    async def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under `prefix`; how many there were."""
        keys = [key for key, _ in await self.listing(bucket, prefix)]
        await self.delete_all(bucket, keys)
        return len(keys)

    async def listing(self, bucket: str, prefix: str) -> list[tuple[str, datetime]]:
        """(key, last modified) of every object under `prefix`."""
        return [
            (item["Key"], item["LastModified"])
            for page in await self._pages(bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        ]

    async def folders(self, bucket: str, prefix: str = "") -> list[str]:
        """The "folders" right under `prefix` (common prefixes up to the next `/`)."""
        return [
            common["Prefix"]
            for page in await self._pages(bucket, Prefix=prefix, Delimiter="/")
            for common in page.get("CommonPrefixes", ())
        ]

    async def _pages(self, bucket: str, **params) -> list[dict]:
        with s3_span("ListObjectsV2", bucket, params.get("Prefix")):
            paginator = self._client.get_paginator("list_objects_v2")
            return [page async for page in paginator.paginate(Bucket=bucket, **params)]

    async def copy_asset(
        self, asset: AssetSnapshot, source_bucket: str, bucket: str, key: str, thumbnail_key: str
    ) -> AssetSnapshot:
        """Copy an asset's file and thumbnail to new keys; the snapshot of the copy."""
        await self.copy(source_bucket, asset.storage_key, bucket, key)
        await self.copy(source_bucket, asset.thumbnail_key, bucket, thumbnail_key)
        return asset.model_copy(update={"storage_key": key, "thumbnail_key": thumbnail_key})

    async def presign_get(self, bucket: str, key: str, expires_seconds: int) -> str:
        """A GET URL for `bucket`/`key`, path style, valid for at least `expires_seconds`
        (at most one signing window more); the same URL all through the window."""
        window = self._settings.signed_url_window_seconds
        now = int(self._clock())
        if window:
            start = now - now % window
            expires_seconds = min(expires_seconds + window, MAX_URL_SECONDS)
        else:
            start = now
        return self._signed(bucket, key, expires_seconds, start)

    def _sign(self, bucket: str, key: str, expires_seconds: int, at: int) -> str:
        request = AWSRequest(
            method="GET", url=f"{self._public_root}/{bucket}/{quote(key, safe='/~')}"
        )
        signed_at = datetime.fromtimestamp(at, UTC)
        _SignedAt(self._credentials, self._settings.s3_region, expires_seconds, signed_at).add_auth(
            request
        )
        return request.url
