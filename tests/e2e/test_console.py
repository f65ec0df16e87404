"""The web console in a real headless browser (Debian's chromium, driven by Playwright),
against the running platform: it generates, shows results as they arrive over
`/v1/events`, saves into a new collection, finds by tag, discards, and refuses a forged
token. The main screens are written to docs/screenshots/ for the README."""

import asyncio
import re
import time
import uuid
from pathlib import Path

import jwt
import pytest
from playwright.async_api import async_playwright, expect

from tests.helpers import client, library_items

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
    """A fresh tab of 1280×800 that accepts confirmations and records script errors."""
    errors = []
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        tab = await context.new_page()
        tab.on("pageerror", lambda error: errors.append(error))
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
