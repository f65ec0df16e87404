"""Presigned URLs signed without a client are the very URLs botocore's client makes; within
a signing window an object keeps one URL, which lives its lifetime past the window."""

from urllib.parse import parse_qs, urlsplit

import aioboto3
from botocore.config import Config

from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings

SETTINGS = RuntimeSettings(
    nats_url="nats://127.0.0.1:1",
    database_url="postgresql://x@127.0.0.1:1/x",
    s3_endpoint_url="http://internal:9000",
    s3_public_endpoint_url="https://files.example.com/",
    s3_access_key_id="AKEXAMPLE",
    s3_secret_access_key="secret",
    s3_region="eu-west-1",
    signed_url_window_seconds=0,
)


async def test_a_presigned_url_is_the_one_botocore_signs():
    client = aioboto3.Session().client(
        "s3",
        endpoint_url="https://files.example.com",
        aws_access_key_id="AKEXAMPLE",
        aws_secret_access_key="secret",
        region_name="eu-west-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = "user/job/0 a+b~c.thumb.webp"
    async with client as s3:
        for _ in range(3):  # both within the same second (the date is signed)
            ours = await ObjectStore(SETTINGS).presign_get("workspace-temp", key, 900)
            theirs = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": "workspace-temp", "Key": key}, ExpiresIn=900
            )
            if ours == theirs:
                break
    assert ours == theirs
    assert ours.startswith("https://files.example.com/workspace-temp/user/job/0%20a%2Bb~c")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signed(url: str) -> tuple[str, int]:
    query = parse_qs(urlsplit(url).query)
    return query["X-Amz-Date"][0], int(query["X-Amz-Expires"][0])


async def test_within_a_window_an_object_keeps_one_url_and_it_lives_its_lifetime_past_it():
    clock = Clock(1_800_000_000 + 10)  # 10 s into a 300 s window
    store = ObjectStore(SETTINGS.model_copy(update={"signed_url_window_seconds": 300}), clock)
    first = await store.presign_get("workspace-temp", "u/a.png", 900)
    clock.now += 280
    assert await store.presign_get("workspace-temp", "u/a.png", 900) == first
    assert await store.presign_get("workspace-temp", "u/b.png", 900) != first
    assert signed(first) == ("20270115T080000Z", 1200)  # the window's start; 900 + 300 s
    clock.now += 20  # the next window
    later = await store.presign_get("workspace-temp", "u/a.png", 900)
    assert later != first
    assert signed(later) == ("20270115T080500Z", 1200)


async def test_a_url_never_outlives_what_sigv4_allows():
    store = ObjectStore(
        SETTINGS.model_copy(update={"signed_url_window_seconds": 3600}), Clock(1_800_000_000)
    )
    url = await store.presign_get("user-library", "u/a.png", 7 * 24 * 3600)
    assert signed(url)[1] == 7 * 24 * 3600
