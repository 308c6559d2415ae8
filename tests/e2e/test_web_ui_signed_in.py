"""The web UI against a gateway and catalog that enforce the contracts' policies (as
`make run` and AWS do): reads work signed out, writes need the token the UI is given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.authkit import AuthKit
from tests.conftest import StartCatalog, serving_gateway
from tests.e2e.test_web_ui import browser_page

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def signed_in(
    start_catalog: StartCatalog, tmp_path: Path
) -> AsyncIterator[tuple[int, str, str]]:
    kit = AuthKit(tmp_path / "auth")
    _, catalog = await start_catalog(**kit.service_env())
    async with serving_gateway(catalog, **kit.gateway_config()) as (port, _app):
        yield port, kit.token("ui-user", "catalog.products.write"), kit.token("old", ttl=-300)


async def fill(page: Any, unique: str) -> None:
    editor = page.locator("#editor")
    await editor.locator("[name=productId]").fill(f"si-{unique}")
    await editor.locator("[name=sku]").fill(f"SI-{unique}")
    await editor.locator("[name=title]").fill("Signed-in lamp")
    await editor.locator("[name=price]").fill("12.00")
    await page.click("#save")


async def test_writes_need_the_token_reads_do_not(
    signed_in: tuple[int, str, str], unique: str
) -> None:
    port, token, expired = signed_in
    async with browser_page(f"http://127.0.0.1:{port}/") as page:
        await page.wait_for_selector("#who:has-text('not signed in')")
        await fill(page, unique)
        await page.wait_for_selector("#status.error:has-text('needs credentials')")
    # The link `make run` prints: the token in the fragment, stored for the tab.
    async with browser_page(f"http://127.0.0.1:{port}/#token={token}") as page:
        await page.wait_for_selector("#who:has-text('signed in as ui-user')")
        assert "#token" not in page.url
        await fill(page, unique)
        await page.wait_for_selector(f"#status.ok:has-text('Created products/si-{unique}')")
        await page.click("#sign-out")
        await page.wait_for_selector("#who:has-text('not signed in')")
    # An expired token is dropped on its first 401: the public list still loads.
    async with browser_page(f"http://127.0.0.1:{port}/#token={expired}") as page:
        await page.wait_for_selector("#who:has-text('not signed in')")
        await page.wait_for_selector("#products tbody tr")  # the public list loaded
