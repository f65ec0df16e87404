"""Presigned URLs signed without a client are the very URLs botocore's client makes."""

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
