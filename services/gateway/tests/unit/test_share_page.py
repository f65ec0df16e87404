"""The page of a share link, with no servers: OpenGraph tags, and a hostile title or prompt
shown as text, never as markup."""

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from atelier.contracts.assets import AssetSettings
from atelier.contracts.library import SharedAsset
from atelier.gateway import share_page

HOSTILE = "\"><script>alert(1)</script><img src=x onerror=alert(2)> 'quoted' & more"
BASE = "https://atelier.example.com/s/" + "T" * 32


def asset(**changes) -> SharedAsset:
    fields = {
        "token": "T" * 32,
        "share_url": BASE,
        "visibility": "unlisted",
        "title": HOSTILE,
        "asset_type": "image",
        "mime_type": "image/png",
        "width": 64,
        "height": 48,
        "duration_seconds": None,
        "settings": AssetSettings(prompt=HOSTILE, model="sdxl", steps=4, seed=7),
        "file_url": f"{BASE}/file",
        "thumbnail_url": f"{BASE}/thumbnail",
        "shared_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    return SharedAsset(**fields | changes)


class Page(HTMLParser):
    """The tags a parser finds, and the text it reads."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def meta(self) -> dict[str, str]:
        return {
            attrs.get("property") or attrs.get("name"): attrs.get("content")
            for tag, attrs in self.tags
            if tag == "meta" and (attrs.get("property") or attrs.get("name"))
        }


def test_a_hostile_title_is_text_in_the_page_and_in_its_attributes():
    html = share_page.render(asset())
    assert "<script" not in html
    assert "<img src=x" not in html
    assert '"><' not in html
    page = Page(html)
    assert [tag for tag, _ in page.tags if tag in ("script", "iframe", "object")] == []
    assert [tag for tag, attrs in page.tags if tag == "img"] == ["img"]  # only the picture
    meta = page.meta()
    assert meta["og:title"] == meta["twitter:title"] == HOSTILE  # escaped, read back whole
    (image,) = [attrs for tag, attrs in page.tags if tag == "img"]
    assert image["alt"] == HOSTILE
    assert image["src"] == f"{BASE}/file"
    assert HOSTILE in "".join(page.text)


def test_an_image_page_has_the_opengraph_tags():
    meta = Page(share_page.render(asset())).meta()
    assert meta["og:type"] == "website"
    assert meta["og:url"] == BASE
    assert meta["og:image"] == f"{BASE}/file"
    assert (meta["og:image:width"], meta["og:image:height"]) == ("64", "48")
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["robots"] == "noindex"  # unlisted


def test_a_video_page_plays_the_video_and_shows_its_thumbnail_as_the_image():
    video = asset(asset_type="video", mime_type="video/mp4", visibility="public")
    page = Page(share_page.render(video))
    meta = page.meta()
    assert (meta["og:type"], meta["og:video"], meta["og:image"]) == (
        "video.other",
        f"{BASE}/file",
        f"{BASE}/thumbnail",
    )
    assert "robots" not in meta  # public: it may be indexed
    (player,) = [attrs for tag, attrs in page.tags if tag == "video"]
    assert "controls" in player
    assert player["src"] == f"{BASE}/file"


@pytest.mark.parametrize("kind", ["image", "video"])
def test_the_policy_allows_no_script_and_only_the_pages_own_style(kind):
    shown = asset(asset_type=kind)
    policy = share_page.content_security_policy(shown)
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "img-src 'self' https://atelier.example.com" in policy
    assert "frame-ancestors 'none'" in policy
    html = share_page.render(shown)
    assert f"<style>{share_page.STYLE}</style>" in html
