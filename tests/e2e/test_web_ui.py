"""The web UI in headless Chromium, driven like a person would, against the real stack.

Playwright drives Debian's Chromium (no browser download); the gateway serves the UI and the
API from one origin in front of the real catalog and orders on PostgreSQL and memcached.
The shop scenario saves a screenshot of a placed order as a test artifact (in the test's
temporary folder, and in ``$COLONNADE_SCREENSHOTS`` when set: ``make screenshots`` refreshes
the README's that way).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.system import CHROMIUM_HINT, find_chromium
from colonnade_tools.rehearsal import API_BASE_META
from tests.conftest import running_gateway

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOTS = os.environ.get("COLONNADE_SCREENSHOTS")
WEB_ROOT = Path(__file__).resolve().parents[2] / "services" / "colonnade" / "web"


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
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        page.on("dialog", lambda dialog: dialog.accept())
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url)
        yield page
        await browser.close()
        assert errors == []  # no uncaught script error along the way


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


def rest(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One call to the gateway: (status, parsed JSON)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:  # its response holds the socket until closed
            return exc.code, json.loads(exc.read() or b"null")


async def shop_product(port: int, unique: str, stock: int) -> str:
    """A product in a category of its own (so a search finds it alone); its name."""
    product = {
        "sku": f"SHOP-{unique}",
        "title": f"Teapot {unique}",
        "category": f"shop-{unique}",
        "price": {"currencyCode": "EUR", "units": "35", "nanos": 500_000_000},
        "stock": str(stock),
    }
    status, created = await asyncio.to_thread(
        rest, port, "POST", f"v1/products?productId=shop-{unique}", product
    )
    assert status == 201, created
    return str(created["name"])


async def find_and_add(page: Any, unique: str, times: int) -> None:
    """Search for the test's product and add it to the cart ``times`` times."""
    await page.fill("#query [name=filter]", f'category = "shop-{unique}"')
    await page.click("#query button")
    row = page.locator(f"tr[data-name='products/shop-{unique}']")
    await row.wait_for()
    for _ in range(times):
        await row.get_by_role("button", name="Add to cart").click()
    await page.wait_for_selector(f"#cart-count:text-is('{times}')")


async def test_shop_order_confirmed_live_cancelled_and_the_stock_returns(
    page: Any, gateway_port: int, unique: str, tmp_path: Path
) -> None:
    name = await shop_product(gateway_port, unique, stock=5)
    await find_and_add(page, unique, times=2)
    await page.get_by_role("link", name="Cart").click()
    await page.wait_for_selector("#cart-total:text-is('71.00 EUR')")

    # A quantity out of range: the message names the field and the product in plain words.
    await page.get_by_label(f"Quantity of Teapot {unique}").fill("2000000")
    await page.get_by_label(f"Quantity of Teapot {unique}").press("Enter")
    await page.click("#place-order")
    error = page.locator("#status.error")
    await error.wait_for()
    text = await error.inner_text()
    assert "Please correct the following" in text, text
    assert f"quantity of line 1 (Teapot {unique})" in text, text
    assert "order.line_items[0].quantity" in text, text
    await page.get_by_label(f"Quantity of Teapot {unique}").fill("2")
    await page.get_by_label(f"Quantity of Teapot {unique}").press("Enter")

    # A double click sends the order twice with one request id: one order.
    await page.dblclick("#place-order")
    await page.wait_for_function("location.hash.startsWith('#/orders/')")
    order = "orders/" + page.url.rsplit("/", 1)[1]
    await page.wait_for_selector("#order-state:text-is('Confirmed')")
    await page.wait_for_selector("#order-live:has-text('live: changes show up')")
    status, listed = await asyncio.to_thread(rest, gateway_port, "GET", "v1/orders?pageSize=100")
    assert status == 200, listed
    mine = [o for o in listed["orders"] if o["lineItems"][0]["product"] == name]
    assert [o["name"] for o in mine] == [order]
    status, product = await asyncio.to_thread(rest, gateway_port, "GET", f"v1/{name}")
    assert product["stock"] == "3"
    assert await page.inner_text("#cart-count") == "0"
    assert await page.locator("#view-products").is_hidden()  # one view at a time
    shot = tmp_path / "shop.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if SCREENSHOTS:
        shutil.copyfile(shot, Path(SCREENSHOTS) / "shop.png")

    # Cancelling: the stream delivers the final state and ends; the stock comes back.
    await page.click("#order-cancel")
    await page.wait_for_selector("#order-state:text-is('Cancelled')")
    await page.wait_for_selector("#order-live:has-text('final')")
    assert await page.locator("#order-cancel").is_hidden()
    await page.get_by_role("link", name="Orders", exact=True).click()
    row = page.locator(f"#orders tr[data-name='{order}']")
    assert await row.locator(".state").inner_text() == "CANCELLED"
    await page.goto(f"http://127.0.0.1:{gateway_port}/#/{name}")
    await page.wait_for_selector("#product-stock:text-is('5')")


async def test_an_order_changed_elsewhere_shows_up_live(
    page: Any, gateway_port: int, unique: str
) -> None:
    name = await shop_product(gateway_port, unique, stock=2)
    await find_and_add(page, unique, times=1)
    await page.goto(f"http://127.0.0.1:{gateway_port}/#/cart")
    await page.click("#place-order")
    await page.wait_for_selector("#order-live:has-text('live: changes show up')")
    order = "orders/" + page.url.rsplit("/", 1)[1]
    # Shipped by the warehouse, not by this page: only the stream can tell the page.
    status, shipped = await asyncio.to_thread(rest, gateway_port, "POST", f"v1/{order}:ship", {})
    assert status in (200, 201), shipped
    await page.wait_for_selector("#order-state:text-is('Shipped')")
    await page.wait_for_selector("#order-live:has-text('final')")
    assert await page.locator("#order-cancel").is_hidden()

    # The orders list follows its open orders too: one cancelled elsewhere changes its row.
    await page.goto(f"http://127.0.0.1:{gateway_port}/#/{name}")
    await page.click("#product-add")
    await page.goto(f"http://127.0.0.1:{gateway_port}/#/cart")
    await page.click("#place-order")
    await page.wait_for_selector("#order-state:text-is('Confirmed')")
    second = "orders/" + page.url.rsplit("/", 1)[1]
    await page.get_by_role("link", name="Orders", exact=True).click()
    row = page.locator(f"#orders tr[data-name='{second}'] .state")
    await row.wait_for()
    assert await row.inner_text() == "CONFIRMED"
    await asyncio.sleep(0.5)  # the row's stream is open (its first event is the same state)
    status, cancelled = await asyncio.to_thread(
        rest, gateway_port, "POST", f"v1/{second}:cancel", {}
    )
    assert status == 200, cancelled
    await page.wait_for_selector(f"#orders tr[data-name='{second}'] .state:text-is('CANCELLED')")
    shipped_row = page.locator(f"#orders tr[data-name='{order}'] .state")
    assert await shipped_row.inner_text() == "SHIPPED"


async def test_a_backend_that_is_down_is_reported_in_plain_words(
    catalog_target: str, unique: str
) -> None:
    # A gateway whose orders backend does not answer: placing an order fails with UNAVAILABLE.
    async with running_gateway(catalog_target, orders=f"127.0.0.1:{free_port()}") as port:
        await shop_product(port, unique, stock=1)
        async with browser_page(f"http://127.0.0.1:{port}/") as page:
            await find_and_add(page, unique, times=1)
            await page.goto(f"http://127.0.0.1:{port}/#/cart")
            await page.click("#place-order")
            error = page.locator("#status.error")
            await error.wait_for()
            text = await error.inner_text()
            assert text.startswith("The service is unavailable right now"), text
            assert "#/cart" in page.url  # nothing was placed: the cart is still there
            assert await page.inner_text("#cart-count") == "1"


async def test_served_from_a_sub_path_as_cloudfront_does(gateway_port: int, unique: str) -> None:
    """The files as the cdn module publishes them (index.html with the API base) under /shop/,
    the API under /shop/api/ routed to the gateway: CloudFront's layout, in the browser."""
    await shop_product(gateway_port, unique, stock=3)
    origin = f"http://127.0.0.1:{gateway_port}"
    api_calls: list[str] = []

    async def site(route: Any) -> None:
        path = route.request.url.split("/shop/", 1)[1].split("#")[0].split("?")[0]
        if path.startswith("api/"):
            api_calls.append(path)
            await route.continue_(url=f"{origin}/{route.request.url.split('/shop/api/', 1)[1]}")
            return
        file = WEB_ROOT / (path or "index.html")
        body = file.read_bytes()
        if file.name == "index.html":
            body = body.replace(b"<head>", b"<head>\n  " + API_BASE_META.encode(), 1)
        kind = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}[file.suffix]
        await route.fulfill(status=200, body=body, content_type=kind)

    async with browser_page("about:blank") as page:
        await page.route(f"{origin}/shop/**", site)
        await page.goto(f"{origin}/shop/")
        await find_and_add(page, unique, times=1)
        await page.click(f"tr[data-name='products/shop-{unique}'] a")
        await page.wait_for_selector("#product-stock:text-is('3')")
        assert page.url == f"{origin}/shop/#/products/shop-{unique}"
    assert "api/v1/products" in " ".join(api_calls)


# Visible form controls without an accessible name (a label, aria-label, or a button's text).
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, button')]
  .filter((el) => el.offsetParent)
  .filter((el) => !(el.labels?.length || el.getAttribute('aria-label')
                    || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map((el) => el.outerHTML.slice(0, 80))"""

# Visible text below WCAG AA contrast (4.5:1, 3:1 for large text) against the first opaque
# background behind it.
LOW_CONTRAST = """() => {
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const parse = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    const [a, b] = [luminance(parse(style.color)), luminance(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < (large ? 3 : 4.5)) low.push(`${el.tagName} "${text}" ${ratio.toFixed(2)}`);
  }
  return low;
}"""


async def tab_to(page: Any, accessible_name: str, backwards: bool = False) -> None:
    """Press Tab (Shift+Tab) until the focused element's name starts with ``accessible_name``."""
    for _ in range(60):
        await page.keyboard.press("Shift+Tab" if backwards else "Tab")
        name = await page.evaluate(
            "() => document.activeElement.getAttribute('aria-label')"
            " || document.activeElement.textContent.trim()"
        )
        if name.startswith(accessible_name):
            return
    pytest.fail(f"the keyboard never reaches {accessible_name!r}")


async def test_accessible_labels_keyboard_and_contrast(
    page: Any, gateway_port: int, unique: str
) -> None:
    await shop_product(gateway_port, unique, stock=4)

    async def check_view() -> None:
        assert await page.evaluate(UNLABELLED) == []
        assert await page.evaluate(LOW_CONTRAST) == []

    # The whole purchase with the keyboard alone.
    await page.focus("#query [name=filter]")
    await page.keyboard.type(f'category = "shop-{unique}"')
    await page.keyboard.press("Enter")
    await page.locator(f"tr[data-name='products/shop-{unique}']").wait_for()
    await check_view()
    await tab_to(page, f"Add to cart: Teapot {unique}", backwards=True)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#cart-count:text-is('1')")
    await tab_to(page, "Cart", backwards=True)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#view-cart:visible")
    # focus moved to the new view's heading, so the next Tab goes into the view
    assert await page.evaluate("() => document.activeElement.id") == "cart-title"
    await check_view()
    await tab_to(page, "Place order")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#order-state:text-is('Confirmed')")
    await check_view()
    await tab_to(page, "Cancel this order")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#order-state:text-is('Cancelled')")
    # Watchers see CANCELLED before the stock is back; the stream ends once it is.
    await page.wait_for_selector("#order-live:has-text('final')")
    await check_view()
    await page.goto(f"http://127.0.0.1:{gateway_port}/#/products/shop-{unique}")
    await page.wait_for_selector("#product-stock:text-is('4')")
    await check_view()
    await page.goto(f"http://127.0.0.1:{gateway_port}/#/orders")
    await page.locator("#orders tbody tr").first.wait_for()
    await check_view()
