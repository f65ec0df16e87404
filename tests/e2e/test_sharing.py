"""Share links and the public gallery through HTTP, against the running platform: an
anonymous client (no token, an address of its own on loopback) reads what its link shows,
never the owner or their other assets, and a link made private or deleted is gone."""

import asyncio
import re
import secrets
import uuid
from html.parser import HTMLParser

import pytest

from atelier.contracts.storage import LIBRARY_BUCKET
from tests.helpers import (
    anonymous,
    client,
    eventually,
    library_asset,
    library_keys,
    rebuild,
    saved_asset,
    settled,
    store,
    user_rows,
)

pytestmark = pytest.mark.e2e

#: A share link's page, and the token in it.
SHARE_URL = re.compile(r"^(http://[^/]+)/s/([A-Za-z0-9_-]{22,64})$")
#: A link made private or deleted stops answering within this (the projection's lag,
#: milliseconds, plus a loaded machine's slack).
GONE_WITHIN = 5.0


async def share(api, library_id: str, visibility: str) -> dict:
    response = await api.patch(f"/v1/library/assets/{library_id}", json={"visibility": visibility})
    assert response.status_code == 200, response.text
    return response.json()


def token_of(asset: dict) -> str:
    match = SHARE_URL.match(asset["share_url"] or "")
    assert match, asset["share_url"]
    return match.group(2)


async def public_tokens(http) -> list[str]:
    """Every token of the public gallery, in its order, page by page."""
    tokens, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await http.get("/v1/public/assets", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        tokens += [item["token"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            return tokens


async def gone(http, token: str) -> None:
    """Every anonymous route of the link answers 404, within GONE_WITHIN."""
    paths = (f"/v1/shared/{token}", f"/s/{token}", f"/s/{token}/file", f"/s/{token}/thumbnail")

    async def all_404() -> bool:
        return all([(await http.get(path)).status_code == 404 for path in paths])

    await eventually(all_404, timeout=GONE_WITHIN, interval=0.1)


class Meta(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (name := attrs.get("property") or attrs.get("name")):
            self.meta[name] = attrs.get("content")


async def test_an_unlisted_asset_is_seen_by_its_link_only(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        shown, library_id = await saved_asset(platform, api, user)
        other_shown, other_id = await saved_asset(platform, api, user)
        assert (await library_asset(api, library_id))["share_url"] is None  # private

        title = "<script>alert(\"x\")</script> & 'fox'"
        await api.patch(f"/v1/library/assets/{library_id}", json={"custom_title": title})
        asset = await share(api, library_id, "unlisted")
        assert asset["visibility"] == "unlisted"
        assert asset["share_url"].startswith(f"{platform.gateway_url}/s/")
        token = token_of(asset)
        assert (await library_asset(api, library_id))["share_url"] == asset["share_url"]

    (file_key, thumbnail_key) = await library_keys(platform, user, library_id)
    async with store(platform) as s3:
        original = await s3.get(LIBRARY_BUCKET, file_key)
        thumbnail = await s3.get(LIBRARY_BUCKET, thumbnail_key)

    async with anonymous(platform) as http:
        response = await http.get(f"/v1/shared/{token}")
        assert response.status_code == 200, response.text
        shared = response.json()
        assert set(shared) == {
            "token", "share_url", "visibility", "title", "asset_type", "mime_type", "width",
            "height", "duration_seconds", "settings", "file_url", "thumbnail_url", "shared_at",
        }  # fmt: skip
        assert (shared["token"], shared["share_url"], shared["title"]) == (
            token,
            asset["share_url"],
            title,
        )
        assert shared["settings"]["prompt"] == asset["original_prompt"]
        assert shared["settings"]["reference"] is None
        assert response.headers["x-robots-tag"] == "noindex"
        assert "max-age" in response.headers["cache-control"]

        downloaded = await http.get(shared["file_url"])
        assert downloaded.status_code == 200
        assert downloaded.content == original
        assert downloaded.headers["content-type"] == shared["mime_type"]
        ranged = await http.get(shared["file_url"], headers={"Range": "bytes=0-9"})
        assert (ranged.status_code, ranged.content) == (206, original[:10])
        assert (await http.get(shared["thumbnail_url"])).content == thumbnail

        page = await http.get(f"/s/{token}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-robots-tag"] == "noindex"
        assert "<script>alert" not in page.text  # the title is text, not markup
        meta = Meta(page.text).meta
        assert (meta["og:title"], meta["og:url"], meta["og:image"]) == (
            title,
            shared["share_url"],
            shared["file_url"],
        )
        assert meta["og:type"] == "website"

        # Nothing of the owner, nor of their other asset, in anything anyone may read.
        secrets_of_owner = [
            str(user), library_id, other_id, shown["id"], other_shown["id"], shown["job_id"],
            file_key, thumbnail_key,
        ]  # fmt: skip
        for text in (response.text, page.text):
            for secret in secrets_of_owner:
                assert secret not in text, secret

        assert token not in await public_tokens(http)  # unlisted: not in the gallery
        assert (await http.get(f"/v1/shared/{token.swapcase()}")).status_code == 404


async def test_public_assets_are_listed_newest_first_in_pages(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        ids = [(await saved_asset(platform, api, user))[1] for _ in range(3)]
        tokens = [token_of(await share(api, library_id, "public")) for library_id in ids]

    async with anonymous(platform) as http:
        listed = await public_tokens(http)
        assert listed[0] == tokens[-1]  # the latest made public comes first
        mine = [token for token in listed if token in tokens]
        assert mine == tokens[::-1]
        first = (await http.get("/v1/public/assets", params={"limit": 1})).json()["items"][0]
        assert first["visibility"] == "public"
        assert first["share_url"].endswith(first["token"])
        response = await http.get(f"/v1/shared/{tokens[0]}")
        assert "x-robots-tag" not in response.headers  # public: may be indexed
        bad = await http.get("/v1/public/assets", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"


async def test_a_link_made_private_or_deleted_is_gone_within_seconds(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api, anonymous(platform) as http:
        _, library_id = await saved_asset(platform, api, user)
        first = token_of(await share(api, library_id, "unlisted"))
        assert (await http.get(f"/v1/shared/{first}")).status_code == 200
        kept = token_of(await share(api, library_id, "public"))
        assert kept == first  # unlisted → public keeps the link
        assert first in await public_tokens(http)

        private = await share(api, library_id, "private")
        assert private["share_url"] is None
        await gone(http, first)
        assert first not in await public_tokens(http)

        second = token_of(await share(api, library_id, "public"))
        assert second != first  # sharing again makes a new link; the old one stays dead
        assert (await http.get(f"/v1/shared/{second}")).status_code == 200
        assert (await http.get(f"/v1/shared/{first}")).status_code == 404

        assert (await api.delete(f"/v1/library/assets/{library_id}")).status_code == 200
        await gone(http, second)
        assert second not in await public_tokens(http)


async def test_a_rebuild_restores_every_link_from_the_log(platform):
    """The tokens are on the log: rebuilt tables hold the same links (and the same dead
    ones), with the same `shared_at`."""
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (_, ended_id), (_, kept_id) = [await saved_asset(platform, api, user) for _ in range(2)]
        ended = token_of(await share(api, ended_id, "unlisted"))
        await share(api, ended_id, "private")
        again = token_of(await share(api, ended_id, "unlisted"))
        kept = token_of(await share(api, kept_id, "unlisted"))
        await share(api, kept_id, "public")
        await api.patch(f"/v1/library/assets/{kept_id}", json={"is_favorite": True})
    await settled(platform)
    before = await user_rows(platform, user)
    assert {row["share_token"] for row in before["library.user_library"]} == {again, kept}

    await asyncio.to_thread(rebuild, platform, "library", 2)
    assert await user_rows(platform, user) == before
    async with anonymous(platform) as http:
        for token, status in ((again, 200), (kept, 200), (ended, 404)):
            assert (await http.get(f"/v1/shared/{token}")).status_code == status


async def test_another_users_patch_cannot_share_or_unshare(platform):
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    async with client(platform, owner) as api, client(platform, intruder) as other:
        _, library_id = await saved_asset(platform, api, owner)
        for visibility in ("public", "unlisted"):
            response = await other.patch(
                f"/v1/library/assets/{library_id}", json={"visibility": visibility}
            )
            assert response.status_code == 404
        assert (await library_asset(api, library_id))["share_url"] is None

        token = token_of(await share(api, library_id, "unlisted"))
        response = await other.patch(
            f"/v1/library/assets/{library_id}", json={"visibility": "private"}
        )
        assert response.status_code == 404
    async with anonymous(platform) as http:
        assert (await http.get(f"/v1/shared/{token}")).status_code == 200


async def test_anonymous_requests_are_limited_per_address(platform):
    """ANONYMOUS_REQUESTS_PER_MINUTE (120) from one address, then 429 with Retry-After,
    whatever X-Forwarded-For it claims (it is no proxy the gateway trusts); another address
    is served meanwhile."""
    async with anonymous(platform) as http:
        refused = None
        for _ in range(2 * 120 + 2):  # a minute may end midway: the next one fills too
            response = await http.get(f"/v1/shared/{secrets.token_urlsafe(24)}")
            if response.status_code == 429:
                refused = response
                break
            assert response.status_code == 404, response.text
        assert refused is not None, "no request was refused"
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        spoofed = await http.get("/v1/public/assets", headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429
        assert (await http.get("/s/whatever")).status_code == 429  # pages count too
    async with anonymous(platform) as elsewhere:
        assert (await elsewhere.get("/v1/public/assets")).status_code == 200
