"""The web UI in headless Chromium, driven like a person would, against the real stack.

Playwright drives Debian's Chromium (no browser download); the gateway serves the UI and the
API from one origin in front of the real catalog on PostgreSQL and memcached.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from colonnade_tools.devstack.system import CHROMIUM_HINT, find_chromium

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOTS = os.environ.get("COLONNADE_SCREENSHOTS")


@asynccontextmanager
async def browser_page(url: str) -> AsyncIterator[Any]:
    """A headless Chromium page opened at ``url`` (dialogs accepted)."""
    from playwright.async_api import async_playwright

    chromium = find_chromium()
    if chromium is None:
        pytest.fail(CHROMIUM_HINT)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = await browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(url)
        yield page
        await browser.close()


@pytest.fixture
async def page(gateway_port: int) -> AsyncIterator[Any]:
    async with browser_page(f"http://127.0.0.1:{gateway_port}/") as page:
        yield page


async def test_create_edit_search_and_delete_a_product(page: Any, unique: str) -> None:
    editor = page.locator("#editor")
    await editor.locator("[name=productId]").fill(f"ui-{unique}")
    await editor.locator("[name=sku]").fill(f"UI-{unique}")
    await editor.locator("[name=title]").fill("Walnut desk organiser")
    await editor.locator("[name=category]").fill(f"ui-{unique}")
    await editor.locator("[name=price]").fill("34.50")
    await editor.locator("[name=stock]").fill("7")
    await page.click("#save")
    await page.wait_for_selector(f"#status.ok:has-text('Created products/ui-{unique}')")

    await page.fill("#query [name=filter]", f'category = "ui-{unique}"')
    await page.click("#query button")
    row = page.locator(f"tr[data-name='products/ui-{unique}']")
    await row.wait_for()
    assert await row.locator("td").nth(4).inner_text() == "34.50 EUR"
    assert await row.locator("td").nth(5).inner_text() == "7"
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/web-ui.png", full_page=True)

    await row.get_by_role("button", name="Edit").click()
    await editor.locator("[name=title]").fill("Oak desk organiser")
    await page.click("#save")
    await page.wait_for_selector(f"#status.ok:has-text('Saved products/ui-{unique}')")
    await page.wait_for_selector(f"tr[data-name='products/ui-{unique}'] >> text=Oak desk organiser")

    await (
        page.locator(f"tr[data-name='products/ui-{unique}']")
        .get_by_role("button", name="Delete")
        .click()
    )
    await page.wait_for_selector(f"#status.ok:has-text('Deleted products/ui-{unique}')")
    # The status shows before the list reloads: wait for the row to go (fails on timeout).
    await page.locator(f"tr[data-name='products/ui-{unique}']").wait_for(state="detached")


async def test_server_errors_show_the_field_that_was_wrong(page: Any, unique: str) -> None:
    editor = page.locator("#editor")
    await editor.locator("[name=sku]").fill(f"ER-{unique}")
    await editor.locator("[name=title]").fill("Has a bad currency")
    await editor.locator("[name=price]").fill("5")
    await editor.locator("[name=currencyCode]").fill("E1")
    await page.click("#save")
    status = page.locator("#status.error")
    await status.wait_for()
    text = await status.inner_text()
    assert "product.price.currency_code" in text and "ISO 4217" in text


async def test_bad_filter_is_reported(page: Any) -> None:
    await page.fill("#query [name=filter]", "colour = 3")
    await page.click("#query button")
    status = page.locator("#status.error")
    await status.wait_for()
    assert "filter" in await status.inner_text()
