"""The public page of a share link (`GET /s/{token}`): server-rendered HTML with OpenGraph
and Twitter tags, so a link pasted anywhere unfurls into the picture or the video.

Rendered by Jinja2 with autoescaping on: every value (the title and the prompt are the
owner's text) is escaped in text and in attributes. The page runs no script; its
Content-Security-Policy allows its own inline style (by hash) and the files of this
gateway, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from importlib.resources import files
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from atelier.contracts.library import SharedAsset

_TEMPLATES = Environment(
    loader=FileSystemLoader(str(files("atelier.gateway") / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_PAGE = _TEMPLATES.get_template("share.html")
STYLE = (files("atelier.gateway") / "templates" / "share.css").read_text().strip()
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def render(asset: SharedAsset) -> str:
    """The page of `asset`, whose URLs are absolute already."""
    return _PAGE.render(asset=asset, video=asset.asset_type == "video", style=STYLE)


def content_security_policy(asset: SharedAsset) -> str:
    """No script, no frame, no form; images and media from where the files are served
    (this gateway, or its PUBLIC_URL); the page's own style only."""
    parts = urlsplit(asset.file_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return "; ".join(
        (
            "default-src 'none'",
            f"img-src 'self' {origin}",
            f"media-src 'self' {origin}",
            f"style-src 'sha256-{_STYLE_HASH}'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
