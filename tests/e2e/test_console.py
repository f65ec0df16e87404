"""The web console in a real headless browser (Debian's chromium, driven by Playwright),
against the running platform: it generates, shows results as they arrive over
`/v1/events`, saves into a new collection, finds by tag, discards, and refuses a forged
token; the gallery's detail view (keyboard, settings, actions, "use these settings" with
`remix_of`, video playback), live step previews, sharing with a copied link, webhooks, and
a phone's width. The main screens are written to docs/screenshots/ for the README."""

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from playwright.async_api import async_playwright, expect

from tests.e2e.webhook_receiver import Receiver
from tests.helpers import (
    client,
    eventually,
    job_assets,
    library_asset,
    library_items,
    seed_workspace,
)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
# Without the background-networking flags Chromium keeps calling home on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLOW = 120_000  # ms: a generation on a loaded CPU

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]
expect.set_options(timeout=30_000)


@pytest.fixture
async def page():
    """A fresh tab of 1280×800 that accepts confirmations and records script errors and
    Content-Security-Policy violations."""
    errors = []
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        tab = await context.new_page()
        tab.on("pageerror", lambda error: errors.append(error))
        tab.on(  # the console's Content-Security-Policy holds: nothing it does is refused
            "console",
            lambda message: "Content Security Policy" in message.text and errors.append(message),
        )
        tab.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        try:
            yield tab
        finally:
            await browser.close()
    assert errors == [], "the console threw"


async def sign_in(page, gateway_url: str, token: str) -> None:
    await page.goto(gateway_url)
    await page.get_by_label("Access token (JWT)").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # clicks scroll their target into view
    await page.screenshot(path=SCREENSHOTS / f"{name}.png")


async def test_generate_save_find_and_discard(platform, page):
    user = uuid.uuid4()
    await sign_in(page, platform.gateway_url, platform.token(user))
    form = page.locator("#generate")
    await form.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    for field, value in {"Count": "3", "Seed": "7", "Width": "64", "Height": "64"}.items():
        await form.get_by_label(field).fill(value)
    await form.get_by_label("Steps").fill("2")
    await form.get_by_role("button", name="Generate").click()

    job = page.locator("#jobs .job")
    await expect(job).to_have_attribute("data-status", "completed", timeout=SLOW)
    await expect(job.locator(".thumbs img")).to_have_count(3)
    assets = page.locator("#workspace .asset")
    await expect(assets).to_have_count(3)  # no reload: the event stream brought them
    await expect(assets.first.locator("time")).to_contain_text("Expires in")
    await expect(page.locator("#usage-today")).to_contain_text("Today: 1 job · 3 images")
    await screenshot(page, "create")

    kept, doomed = [await assets.nth(i).get_attribute("data-asset-id") for i in (0, 1)]
    saved = page.locator(f'[data-asset-id="{kept}"]')
    await saved.get_by_role("button", name="Save").press("Enter")  # by keyboard
    dialog = page.get_by_role("dialog", name="Save to the library")
    await expect(dialog.get_by_label("Title")).to_be_focused()
    await dialog.get_by_label("Title").fill("Lighthouse")
    await dialog.get_by_label("Tags (comma-separated)").fill("harbour, dusk")
    await dialog.get_by_label("Collection", exact=True).select_option(label="New collection…")
    await dialog.get_by_label("Name of the new collection").fill("Coast")
    await dialog.get_by_label("Name of the new collection").press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(saved).to_be_focused()
    await expect(saved.get_by_text("In library")).to_be_visible()
    await expect(saved.get_by_role("button", name="Discard")).to_be_disabled()

    await page.locator(f'[data-asset-id="{doomed}"]').get_by_role("button", name="Discard").click()
    await expect(page.locator(f'[data-asset-id="{doomed}"]')).to_have_count(0)
    await expect(assets).to_have_count(2)

    await page.get_by_role("navigation").get_by_role("button", name="Library").click()
    await expect(page.locator("#collections")).to_contain_text("Coast (1)")
    await page.get_by_role("search").get_by_label("Tag").fill("harbour")
    await page.get_by_role("search").get_by_label("Tag").press("Enter")
    found = page.locator("#library-grid .asset")
    await expect(found).to_have_count(1)
    await expect(found.locator(".title")).to_have_text("Lighthouse")
    await expect(found.locator(".tags")).to_have_text("#harbour #dusk")
    await screenshot(page, "library")

    async with client(platform, user) as api:  # what the console showed is what the API holds
        collections = (await api.get("/v1/library/collections")).json()["items"]
        assert [(c["name"], c["asset_count"]) for c in collections] == [("Coast", 1)]
        [asset] = await library_items(api, collection_id=collections[0]["id"])
        assert asset["source_workspace_asset_id"] == kept
        workspace = (await api.get("/v1/workspace/assets")).json()["items"]
        assert doomed not in {item["id"] for item in workspace}


async def test_a_forged_token_is_refused(platform, page):
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "exp": int(time.time()) + 600}
    forged = jwt.encode(claims, "not the gateway's secret, 32 bytes+", algorithm="HS256")
    await sign_in(page, platform.gateway_url, forged)
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Unauthorized")
    await expect(alert).to_contain_text("Signature verification failed")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("navigation")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('atelier.token')") is None
    await screenshot(page, "sign-in")


async def test_a_waiting_job_shows_its_place_and_the_header_the_usage_of_today(platform, page):
    """Jobs of three sizes (they cannot share a call): the first runs while the others
    show their place in the fair queue; once they end, the header counts them."""
    user = uuid.uuid4()
    await sign_in(page, platform.gateway_url, platform.token(user, claims={"tier": "pro"}))
    await expect(page.locator("#usage-today")).to_contain_text("Today: 0 jobs")
    async with client(platform, user, tier="pro") as api:
        jobs = []
        for size in (128, 136, 144):
            body = {"model": "sdxl", "prompt": f"a kite {size}", "width": size, "height": size}
            response = await api.post("/v1/generations", json=body | {"steps": 60})
            jobs.append(response.json()["job_id"])
        last = page.locator(f'#jobs .job[data-job-id="{jobs[-1]}"]')
        await expect(last.locator(".status")).to_have_text(re.compile(r"Queued · (next|\d ahead)"))
        for job in jobs:
            await api.post(f"/v1/generations/{job}/cancel")
    await expect(page.locator("#usage-today")).to_contain_text("Today: 3 jobs", timeout=SLOW)


# -- the gallery: grid, detail view, keyboard, "use these settings", phone width --------

HOSTILE = 'a harbour <img src=x onerror="window.pwned=1"> at night'


async def generate(page, prompt: str, **fields: str) -> None:
    """Fill the create form as a person would and press Generate."""
    form = page.locator("#generate")
    await form.get_by_label("Prompt", exact=True).fill(prompt)
    for field, value in fields.items():
        await form.get_by_label(field, exact=True).fill(value)
    await form.get_by_role("button", name="Generate").click()


async def test_the_detail_view_shows_an_asset_full_size_with_its_settings(platform, page):
    """Open a tile by keyboard, walk the results with ←/→, close with Esc (focus goes
    back to the tile shown last), act from the view, and take its settings to the form."""
    user = uuid.uuid4()
    await sign_in(page, platform.gateway_url, platform.token(user))
    fields = {"Count": "3", "Seed": "11", "Width": "64", "Height": "72", "Steps": "2"}
    await generate(page, HOSTILE, **fields)
    tiles = page.locator("#workspace .asset")
    await expect(tiles).to_have_count(3, timeout=SLOW)
    ids = [await tiles.nth(i).get_attribute("data-asset-id") for i in range(3)]

    opener = tiles.first.get_by_role("button", name=f"Open {HOSTILE}")
    await opener.focus()
    await page.keyboard.press("Enter")
    view = page.get_by_role("dialog", name=HOSTILE)  # user text, shown as text
    await expect(view).to_be_visible()
    await expect(view.get_by_role("button", name="Close")).to_be_focused()
    await expect(view.locator(".position")).to_have_text("1 of 3")
    picture = view.locator(".detail-media img")
    async with client(platform, user) as api:
        listed = {a["id"]: a for a in (await api.get("/v1/workspace/assets")).json()["items"]}
    first = listed[ids[0]]
    assert (await picture.get_attribute("src")).split("?")[0] == first["file_url"].split("?")[0]
    settings = view.locator(".settings")
    for name, value in {
        "Prompt": HOSTILE,
        "Model": "sdxl",
        "Steps": "2",
        "Seed": str(first["generation_seed"]),
        "Size": "64 × 72",
    }.items():
        await expect(settings.locator(f'dt:text-is("{name}") + dd')).to_have_text(value)

    await page.keyboard.press("ArrowRight")
    await expect(view.locator(".position")).to_have_text("2 of 3")
    await page.keyboard.press("ArrowRight")
    await expect(view.locator(".position")).to_have_text("3 of 3")
    await expect(view.get_by_role("button", name="Next asset")).to_be_disabled()
    await page.keyboard.press("ArrowRight")  # the last stays the last
    await expect(view.locator(".position")).to_have_text("3 of 3")
    await page.keyboard.press("ArrowLeft")
    await expect(view.locator(".position")).to_have_text("2 of 3")
    await view.get_by_role("button", name="Previous asset").click()  # by pointer too
    await expect(view.locator(".position")).to_have_text("1 of 3")
    await expect(view.get_by_role("button", name="Next asset")).to_be_focused()  # not lost
    await page.keyboard.press("ArrowRight")
    await expect(view.locator(".position")).to_have_text("2 of 3")
    seed = str(listed[ids[1]]["generation_seed"])
    await expect(settings.locator('dt:text-is("Seed") + dd')).to_have_text(seed)
    await page.keyboard.press("Escape")
    await expect(view).to_be_hidden()
    second = page.locator(f'[data-asset-id="{ids[1]}"] .open')
    await expect(second).to_be_focused()
    assert await page.evaluate("window.pwned") is None

    await page.keyboard.press(" ")  # Space opens the focused tile as well
    await expect(view.locator(".position")).to_have_text("2 of 3")
    await view.get_by_role("button", name="Discard").click()  # the view moves on
    await expect(view.locator(".position")).to_have_text("2 of 2")
    await expect(tiles).to_have_count(2)
    await view.get_by_role("button", name="Save").click()
    saving = page.get_by_role("dialog", name="Save to the library")
    await saving.get_by_label("Title").fill("Harbour")
    await saving.get_by_role("button", name="Save").click()
    await expect(saving).to_be_hidden()
    await expect(view.get_by_role("button", name="Saved")).to_be_disabled()
    await expect(view.get_by_role("button", name="Discard")).to_be_disabled()

    await view.get_by_role("button", name="Use these settings").click()
    await expect(view).to_be_hidden()
    form = page.locator("#generate")
    await expect(form.get_by_label("Prompt", exact=True)).to_be_focused()
    await expect(form.get_by_label("Prompt", exact=True)).to_have_value(HOSTILE)
    seed = str(listed[ids[2]]["generation_seed"])
    expected = {"Seed": seed, "Steps": "2", "Width": "64", "Height": "72", "Count": "1"}
    for field, value in expected.items():
        await expect(form.get_by_label(field, exact=True)).to_have_value(value)
    await expect(page.locator("#remix")).to_contain_text(f"Settings of “{HOSTILE}”")
    await form.get_by_label("Prompt", exact=True).fill("a harbour at dawn")
    await form.get_by_role("button", name="Generate").click()  # with remix_of
    again = page.locator("#jobs .job").first
    await expect(again.locator(".prompt")).to_have_text("a harbour at dawn")
    await expect(again).to_have_attribute("data-status", "completed", timeout=SLOW)
    async with client(platform, user) as api:
        job = (await api.get(f"/v1/generations/{await again.get_attribute('data-job-id')}")).json()
    assert job["spec"]["prompt"] == "a harbour at dawn"
    spec = {name: job["spec"][name] for name in ("seed", "steps", "width", "height", "num_images")}
    assert spec == {"seed": int(seed), "steps": 2, "width": 64, "height": 72, "num_images": 1}


async def test_a_running_job_shows_its_steps_and_a_preview(platform, page):
    await sign_in(page, platform.gateway_url, platform.token(uuid.uuid4()))
    await generate(page, "a slow tide", Width="64", Height="64", Steps="60")
    job = page.locator("#jobs .job")
    steps = job.locator(".steps")
    await expect(steps).to_have_text(re.compile(r"^Step [1-9]\d* / 60$"), timeout=SLOW)
    await expect(job.get_by_role("img", name="Preview of the image so far")).to_be_visible()
    assert float(await job.get_by_role("progressbar").get_attribute("value") or 0) > 0
    await screenshot(page, "progress")
    await job.get_by_role("button", name="Cancel").click()
    await expect(job).to_have_attribute("data-status", re.compile("cancelled|completed"))
    await expect(job.get_by_role("progressbar")).to_be_hidden()


async def no_horizontal_scroll(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide at 375 px"


async def test_the_console_fits_a_phone(platform, page):
    """At 375×812 nothing scrolls sideways: the grid shows two tiles a row and the
    detail view fills the screen."""
    await page.set_viewport_size({"width": 375, "height": 812})
    await sign_in(page, platform.gateway_url, platform.token(uuid.uuid4()))
    await no_horizontal_scroll(page)
    await generate(page, "pebbles on a beach", Count="4", Width="64", Height="64", Steps="2")
    tiles = page.locator("#workspace .asset")
    await expect(tiles).to_have_count(4, timeout=SLOW)
    await no_horizontal_scroll(page)
    boxes = [await tiles.nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] == boxes[1]["y"] < boxes[2]["y"], "two tiles a row"
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"]
    assert boxes[1]["x"] + boxes[1]["width"] <= 375
    await page.locator("#workspace").scroll_into_view_if_needed()
    await page.screenshot(path=SCREENSHOTS / "phone.png")

    await tiles.nth(2).locator(".open").click()
    view = page.get_by_role("dialog", name="pebbles on a beach")
    await expect(view).to_be_visible()
    box = await view.bounding_box()
    assert box["width"] == 375
    inner = await view.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert inner, "the detail view scrolls sideways"
    await view.get_by_role("button", name="Close").click()
    for name in ("Library", "Webhooks"):
        await page.get_by_role("navigation").get_by_role("button", name=name).click()
        await no_horizontal_scroll(page)


async def clipboard(page) -> str:
    return await page.evaluate("navigator.clipboard.readText()")


async def test_sharing_a_library_asset_gives_a_link_to_copy(platform, page):
    """The share toggle of the detail view: unlisted gives a link (copied with one
    press) that anyone may open, private ends it."""
    user = uuid.uuid4()
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=platform.gateway_url
    )
    async with client(platform, user) as api:
        body = {"model": "sdxl", "prompt": "a red kite over dunes", "width": 128, "height": 128}
        accepted = await api.post("/v1/generations", json=body | {"steps": 4, "num_images": 4})
        assets = await job_assets(api, accepted.json()["job_id"], 4)
        for asset, title in zip(assets, ("Kite", "Dunes", "Tide", "Gulls"), strict=True):
            options = {"custom_title": title, "tags": ["beach", "wind"]}
            saved = await api.post(f"/v1/workspace/assets/{asset['id']}/save", json=options)
            await library_asset(api, saved.json()["library_asset_id"])
    await sign_in(page, platform.gateway_url, platform.token(user))
    await page.get_by_role("navigation").get_by_role("button", name="Library").click()
    tiles = page.locator("#library-grid .asset")
    await expect(tiles).to_have_count(4)
    await tiles.get_by_role("button", name="Open Kite").click()
    view = page.get_by_role("dialog", name="Kite")
    await expect(view.locator(".settings")).to_contain_text("a red kite over dunes")

    await view.get_by_role("button", name="☆ Favourite").click()
    await expect(view.get_by_role("button", name="★ Favourite")).to_have_attribute(
        "aria-pressed", "true"
    )
    sharing = view.get_by_role("group", name="Sharing")
    await expect(sharing.get_by_role("button", name="Private")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(sharing.get_by_role("textbox", name="Share link")).to_have_count(0)
    await sharing.get_by_role("button", name="Unlisted").click()
    link = sharing.get_by_role("textbox", name="Share link")
    await expect(link).to_have_value(re.compile(r"^http://.+/s/[\w-]{16,}$"))
    url = await link.input_value()
    await sharing.get_by_role("button", name="Copy link").click()
    await expect(sharing.get_by_role("button", name="Copied")).to_be_visible()
    assert await clipboard(page) == url
    async with httpx.AsyncClient() as anonymous:  # no token: the link is the key
        assert (await anonymous.get(url)).status_code == 200
    await expect(
        page.locator('#library-grid [data-asset-id] .badge:text("unlisted")')
    ).to_have_count(1)
    await screenshot(page, "detail")

    await page.keyboard.press("Escape")
    await expect(view).to_be_hidden()
    await expect(tiles.get_by_role("button", name="Open Kite")).to_be_focused()
    await screenshot(page, "gallery")
    await page.keyboard.press("Enter")
    await sharing.get_by_role("button", name="Private").click()
    await expect(link).to_have_count(0)
    async with httpx.AsyncClient() as anonymous:

        async def gone():
            return (await anonymous.get(url)).status_code == 404

        assert await eventually(gone)


async def test_webhooks_are_added_inspected_and_deleted(platform, page):
    """Add a webhook as a person would: its secret is shown once (and copied), the
    receiver's deliveries verify with it and are listed with their answer; delete it."""
    user = uuid.uuid4()
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=platform.gateway_url
    )
    await sign_in(page, platform.gateway_url, platform.token(user))
    await page.get_by_role("navigation").get_by_role("button", name="Webhooks").click()
    await expect(page.get_by_text("No webhooks yet")).to_be_visible()
    form = page.locator("#new-webhook")
    await form.get_by_label("Endpoint URL").fill("ftp://example.com/hook")
    await form.get_by_role("button", name="Add webhook").click()
    await expect(page.get_by_role("alert")).to_contain_text("url")  # the API's problem
    await expect(page.locator("#webhook-list .webhook")).to_have_count(0)
    async with Receiver() as receiver:
        await form.get_by_label("Endpoint URL").fill(receiver.url)
        await form.get_by_label("Description").fill("Render farm notifier")
        await form.get_by_label("Every library change").check()
        await form.get_by_role("button", name="Add webhook").click()
        shown = page.get_by_role("region", name="Signing secret")
        secret_field = shown.get_by_role("textbox", name="Signing secret")
        await expect(secret_field).to_have_value(re.compile(r"^whsec_"))
        secret = await secret_field.input_value()
        await shown.get_by_role("button", name="Copy secret").click()
        await expect(shown.get_by_role("button", name="Copied")).to_be_visible()
        assert await clipboard(page) == secret
        hooks = page.locator("#webhook-list .webhook")
        await expect(hooks).to_have_count(1)
        await expect(hooks.locator(".url")).to_have_text(receiver.url)
        await expect(hooks.locator(".chip")).to_have_text(["generation.completed", "library.*"])
        await expect(hooks.get_by_text("Render farm notifier")).to_be_visible()

        completed = await seed_workspace(platform, user, 1)
        [delivered] = await receiver.wait_for(lambda got: got)
        assert delivered.verify(secret)["type"] == "generation.completed"
        assert delivered.event["data"]["job_id"] == str(completed.data.job_id)

        await hooks.get_by_role("button", name="Deliveries").click()
        row = hooks.locator("tbody tr").first
        deadline = time.monotonic() + 60
        while await row.get_attribute("data-status") != "succeeded":
            assert time.monotonic() < deadline, "the delivery is not shown as succeeded"
            await hooks.get_by_role("button", name="Reload deliveries").click()
            await asyncio.sleep(0.5)
        await expect(row).to_contain_text("generation.completed")
        await expect(row.locator(".response")).to_have_text("HTTP 200")
        await screenshot(page, "webhooks")
        await shown.get_by_role("button", name="Done").click()
        await expect(shown).to_be_hidden()

        await hooks.get_by_role("button", name="Delete").click()
        await expect(hooks).to_have_count(0)
        await expect(page.get_by_text("No webhooks yet")).to_be_visible()
    async with client(platform, user) as api:
        assert (await api.get("/v1/webhooks")).json()["items"] == []


async def test_a_video_plays_in_the_detail_view(platform, page):
    await sign_in(page, platform.gateway_url, platform.token(uuid.uuid4()))
    await page.locator("#generate").get_by_label("Video (Wan 2.1)").check()
    await generate(page, "waves rolling in", Width="64", Height="64", Steps="2")
    tile = page.locator("#workspace .asset")
    await expect(tile).to_have_count(1, timeout=SLOW)
    await expect(tile.locator(".play")).to_have_text("▶")  # the poster says it is a video
    await tile.get_by_role("button", name="Open waves rolling in").click()
    view = page.get_by_role("dialog", name="waves rolling in")
    video = view.locator("video[controls]")
    await expect(video).to_have_attribute("src", re.compile(r"\.mp4"))
    await expect(view.locator(".settings")).to_contain_text("wan")
    # Predicates are functions, not expression strings: Playwright polls a string
    # with eval(), which the console's CSP (no 'unsafe-eval') rightly refuses.
    await page.wait_for_function(
        "() => document.querySelector('#detail video').readyState >= 1", timeout=30_000
    )
    assert await video.evaluate("v => v.duration") > 0
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function("() => document.querySelector('#detail video').currentTime > 0")
    await page.keyboard.press("Escape")
    await expect(view).to_be_hidden()
    assert await page.locator("#detail video").evaluate("v => v.paused")  # closing stops it
