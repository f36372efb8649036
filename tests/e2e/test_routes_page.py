"""`/routes`: the app's routes with a search, a method filter and a count line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from livewatch.testing import LiveServer

from .helpers import choose, expect_live, screenshot

BADGE_COLORS = {"GET": "blue", "POST": "green", "PUT": "yellow", "PATCH": "purple", "DELETE": "red"}


# A user's app with every method: livewatch's own routes change as it grows.
SHOP_APP = '''
from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.get("/items")
def list_items():
    """Every item: the REST listing."""


@app.get("/items/{item_id}")
def get_item(item_id: int):
    """One item."""


@app.post("/items")
def create_item():
    """Add an item."""


@app.put("/items/{item_id}")
def replace_item(item_id: int):
    """Replace an item."""


@app.patch("/items/{item_id}")
def update_item(item_id: int):
    """Change part of an item."""


@app.delete("/items/{item_id}")
def delete_item(item_id: int):
    """Remove an item."""


@app.get("/orders")
def list_orders():
    """Every order: the REST listing."""


@app.websocket("/ws/items")
async def items_socket(websocket: WebSocket):
    """Live items."""
'''


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[LiveServer]:
    """livewatch showing the routes of a small user app."""
    (tmp_path / "agents").mkdir()
    (tmp_path / "shop.py").write_text(SHOP_APP)
    live = LiveServer(tmp_path / "agents", args=["--app", "shop:app"], cwd=tmp_path).start()
    try:
        yield live
    finally:
        live.stop()


def route_rows(page: Page) -> Locator:
    return page.get_by_test_id("route-row")


def test_routes_filter_by_search_and_method(shop: LiveServer, page: Page) -> None:
    server = shop
    listed = server.get("/api/routes").json()
    total = listed["total"]
    page.goto(f"{server.url}/routes")
    expect_live(page)
    count = page.get_by_test_id("routes-count")
    expect(count).to_have_text(f"Showing {total} of {total} routes")
    expect(route_rows(page)).to_have_count(total)

    # The dropdown offers "All Methods" and then exactly the methods present.
    page.get_by_test_id("method-filter").click()
    options = page.get_by_role("option").all_inner_texts()
    assert options[0] == "All Methods"
    assert set(options[1:]) == {r["method"] for r in listed["routes"]}
    page.keyboard.press("Escape")

    page.get_by_test_id("search").fill("list_")  # handler names
    expect(count).to_have_text(f"Showing 2 of {total} routes")
    expect(route_rows(page)).to_have_count(2)
    page.get_by_test_id("search").fill("REST fallback")  # descriptions, any case
    expect(count).to_have_text(f"Showing 2 of {total} routes")
    page.get_by_test_id("search").fill("/orders")  # paths
    expect(count).to_have_text(f"Showing 1 of {total} routes")
    expect(route_rows(page)).to_have_attribute("data-path", "/orders")

    page.get_by_test_id("search").fill("")
    choose(page, "method-filter", "DELETE")
    deletes = sum(r["method"] == "DELETE" for r in listed["routes"])
    expect(count).to_have_text(f"Showing {deletes} of {total} routes")
    expect(route_rows(page)).to_have_count(deletes)
    expect(route_rows(page).first).to_have_attribute("data-method", "DELETE")

    choose(page, "method-filter", "All Methods")
    expect(count).to_have_text(f"Showing {total} of {total} routes")
    screenshot(page, "routes")


def test_method_badges_have_their_colours(shop: LiveServer, page: Page) -> None:
    page.goto(f"{shop.url}/routes")
    for method, color in {**BADGE_COLORS, "WS": "grey"}.items():
        badge = page.locator(f'[data-testid="route-row"][data-method="{method}"]').first
        expect(badge.get_by_test_id("method-badge")).to_have_class(re.compile(rf"bg-{color}\b"))


USER_APP = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/items")
def list_items():
    """Every item."""
'''

ANOTHER_ROUTE = '''

@app.post("/items")
def create_item():
    """Add an item."""
'''


def test_routes_of_a_users_app_follow_its_edits(tmp_path: Path, page: Page) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "shop.py").write_text(USER_APP)
    live = LiveServer(tmp_path / "agents", args=["--app", "shop:app"], cwd=tmp_path).start()
    try:
        page.goto(f"{live.url}/routes")
        expect_live(page)
        count = page.get_by_test_id("routes-count")
        expect(count).to_have_text("Showing 1 of 1 routes")
        choose(page, "method-filter", "GET")

        with (tmp_path / "shop.py").open("a") as source:
            source.write(ANOTHER_ROUTE)
        # No reload: the new route arrives, the GET filter still holds, POST is offered.
        expect(count).to_have_text("Showing 1 of 2 routes", timeout=10_000)
        choose(page, "method-filter", "POST")
        expect(page.get_by_test_id("route-row")).to_have_attribute("data-handler", "create_item")
    finally:
        live.stop()
