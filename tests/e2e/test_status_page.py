"""The gateway's /status page in headless Chromium: it renders every component and refreshes
itself (a request made after the page loaded shows up without a reload)."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from colonnade_tools.devstack.system import CHROMIUM_HINT, find_chromium

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_status_page_renders_and_refreshes_itself(gateway_port: int, unique: str) -> None:
    from playwright.async_api import async_playwright

    chromium = find_chromium()
    if chromium is None:
        pytest.fail(CHROMIUM_HINT)
    base = f"http://127.0.0.1:{gateway_port}"
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/status")
            await page.wait_for_selector("text=backends (gRPC health)")
            catalog = page.locator("tr", has_text="colonnade.catalog.v1.CatalogService")
            assert await catalog.locator(".ok").inner_text() == "SERVING"
            route = "GET /v1/{name=products/*}"
            assert await page.locator("tr", has_text=route).count() == 0

            def get() -> int:
                try:
                    with urllib.request.urlopen(f"{base}/v1/products/none-{unique}"):
                        return 200
                except urllib.error.HTTPError as exc:
                    with exc:  # its response holds the socket until closed
                        return exc.code

            assert await asyncio.to_thread(get) == 404
            row = page.locator("tr", has_text=route)
            await row.wait_for(timeout=5000)  # the next refresh (every 2 s) shows it
            cells = await row.locator("td").all_inner_texts()
            assert cells[:3] == [route, "1", "0"]  # one request, no server error
        finally:
            await browser.close()
    assert errors == []
