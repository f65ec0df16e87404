"""Share links and the public gallery: the routes anyone may call, without a token.

`GET /s/{token}` (a page), `/s/{token}/file` and `/s/{token}/thumbnail` (the files),
`GET /v1/shared/{token}` (its JSON) and `GET /v1/public/assets` (the public gallery). The
library answers from its table (a link made private or deleted is gone as soon as the
projection shows it, milliseconds); the gateway serves the files itself, from the key the
library locates, because a signed S3 URL would carry the key, which names the owner.
Each request counts against its client address's rate (`ANONYMOUS_REQUESTS_PER_MINUTE`,
over every replica) before anything else, and a token that cannot be one is 404 like an
unknown one: guessing learns nothing.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from atelier.contracts import library as api
from atelier.gateway import share_page
from atelier.gateway.entrypoints.dependencies import Cursor, GatewayDep
from atelier.gateway.entrypoints.paging import PageLimit
from atelier.gateway.problems import Problem, responses
from atelier.runtime.limits import LimitExceeded
from atelier.runtime.objects import ObjectMissing, RangeNotSatisfiable

#: How long a page, an answer or a file may be cached (browsers and CDNs alike): a link
#: made private stops answering within this, even behind a cache.
CACHE_SECONDS = 10
CACHE_CONTROL = f"public, max-age={CACHE_SECONDS}"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,64}")
#: One byte range (`bytes=0-`, `bytes=100-199`, `bytes=-500`): what video players send.
_RANGE = re.compile(r"bytes=(\d{1,15})?-(\d{1,15})?")
#: For OpenAPI: these operations need no credentials.
ANONYMOUS = {"security": []}


async def count_request(request: Request, gw: GatewayDep) -> None:
    """One request of the client's address, or 429 beyond its rate."""
    address = request.client.host if request.client else "unknown"
    try:
        await gw.anonymous.admit(address)
    except LimitExceeded as exc:
        raise Problem(
            429, "Too Many Requests", exc.detail, headers={"Retry-After": str(exc.retry_after)}
        ) from exc


router = APIRouter(
    tags=["shared"],
    dependencies=[Depends(count_request)],
    responses=responses(429, 500, 503),
)


def _binary(description: str, *media_types: str) -> dict:
    schema = {"type": "string", "format": "binary"}
    return {"description": description, "content": {t: {"schema": schema} for t in media_types}}


def valid_token(
    token: Annotated[
        str,
        Path(
            description="The share link's token (any other string is 404, like an unknown token)",
            # documented, not validated by FastAPI (which would answer 422)
            json_schema_extra={"pattern": f"^{_TOKEN.pattern}$"},
        ),
    ],
) -> str:
    if not _TOKEN.fullmatch(token):
        raise Problem(404, "Not Found", "no such shared asset")
    return token


Token = Annotated[str, Depends(valid_token)]


def base_url(request: Request, gw: GatewayDep) -> str:
    """Where people reach this API: PUBLIC_URL when set, else the request's own base."""
    return (gw.settings.public_url or str(request.base_url)).rstrip("/")


BaseUrl = Annotated[str, Depends(base_url)]


def absolute(asset: api.SharedAsset, base: str) -> api.SharedAsset:
    return asset.model_copy(
        update={
            name: base + getattr(asset, name) for name in ("share_url", "file_url", "thumbnail_url")
        }
    )


async def shared(gw: GatewayDep, token: str, base: str) -> api.SharedAsset:
    query = api.SharedAssetRef(token=token)
    return absolute(await gw.call(api.SHARED_ASSET, query, api.SharedAsset), base)


@router.get(
    "/v1/shared/{token}",
    response_model=api.SharedAsset,
    responses=responses(404),
    openapi_extra=ANONYMOUS,
)
async def shared_asset(
    token: Token, gw: GatewayDep, base: BaseUrl, response: Response
) -> api.SharedAsset:
    """A shared library asset (unlisted or public), with the URLs of its page and files;
    404 once it is private again or deleted. No token needed."""
    asset = await shared(gw, token, base)
    _cacheable(response, asset)
    return asset


@router.get(
    "/v1/public/assets",
    response_model=api.SharedAssetPage,
    responses=responses(400, 422),
    openapi_extra=ANONYMOUS,
)
async def public_assets(
    gw: GatewayDep, base: BaseUrl, response: Response, limit: PageLimit = 50, cursor: Cursor = None
) -> api.SharedAssetPage:
    """The public gallery: every public asset, the most recently made public first, in
    cursor pages. No token needed."""
    query = api.PublicAssetsQuery(limit=limit, cursor=cursor)
    page = await gw.call(api.PUBLIC_ASSETS, query, api.SharedAssetPage)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return page.model_copy(update={"items": [absolute(item, base) for item in page.items]})


@router.get(
    "/s/{token}",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The page"}} | responses(404),
    openapi_extra=ANONYMOUS,
)
async def share_page_html(token: Token, gw: GatewayDep, base: BaseUrl) -> HTMLResponse:
    """The page of a share link: the picture or the video, its title and settings, with
    OpenGraph and Twitter tags. No token needed."""
    asset = await shared(gw, token, base)
    page = HTMLResponse(share_page.render(asset))
    page.headers["Content-Security-Policy"] = share_page.content_security_policy(asset)
    _cacheable(page, asset)
    return page


@router.get(
    "/s/{token}/file",
    response_class=StreamingResponse,
    responses={200: _binary("The file", "image/png", "video/mp4")} | responses(404, 416),
    openapi_extra=ANONYMOUS,
)
async def shared_file(token: Token, gw: GatewayDep, request: Request) -> StreamingResponse:
    """The shared file (byte ranges too, for video players). No token needed."""
    return await _serve(gw, token, "file", request)


@router.get(
    "/s/{token}/thumbnail",
    response_class=StreamingResponse,
    responses={200: _binary("The thumbnail", "image/webp")} | responses(404, 416),
    openapi_extra=ANONYMOUS,
)
async def shared_thumbnail(token: Token, gw: GatewayDep, request: Request) -> StreamingResponse:
    """The shared file's thumbnail. No token needed."""
    return await _serve(gw, token, "thumbnail", request)


async def _serve(gw, token: str, part: str, request: Request) -> StreamingResponse:
    where = await gw.call(
        api.LOCATE_SHARED_FILE, api.LocateSharedFile(token=token, part=part), api.SharedFile
    )
    wanted = request.headers.get("range")
    byte_range = wanted if wanted and _RANGE.fullmatch(wanted) and wanted != "bytes=-" else None
    try:
        read = await gw.objects.open(where.bucket, where.key, byte_range)
    except ObjectMissing as exc:  # deleted a moment ago
        raise Problem(404, "Not Found", "no such shared asset") from exc
    except RangeNotSatisfiable as exc:
        raise Problem(416, "Range Not Satisfiable", "the range lies beyond the file") from exc
    headers = read.headers | {
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Accept-Ranges": "bytes",
    }
    return StreamingResponse(read.chunks, status_code=read.status, headers=headers)


def _cacheable(response: Response, asset: api.SharedAsset) -> None:
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if asset.visibility != "public":
        response.headers["X-Robots-Tag"] = "noindex"
