"""The web pages through the query API's test client, over the recorded history (see tests/api/history.py).

Pages authenticate with the HttpOnly cookie, as a browser does; they are checked for the right role, the key
content, their htmx fragments, and that a wrong id or someone else's order is a 404 page, never a 500.
"""

import dataclasses
import re
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient

from adapters.tokens import TokenIssuer
from tests.api.history import LATE_ETA, History
from web.auth import TOKEN_COOKIE
from web.pages.reads import PageReads
from web.pages.views import delivery_steps, order_view
from web.query_api.app import create_query_api

Headers = dict[str, str]
HTMX = {"HX-Request": "true"}


def cookie(history: History, role: str, subject: str) -> Headers:
    token = TokenIssuer(history.settings.secret).issue(role, subject)
    return {"Cookie": f"{TOKEN_COOKIE}={token}"}


def courier_cookie(history: History, name: str) -> Headers:
    return {"Cookie": f"{TOKEN_COOKIE}={history.couriers[name].token}"}


@pytest.fixture(scope="module")
def demo_client(history: History) -> Iterator[TestClient[Any]]:
    """The same read side, with the demo login switched on."""
    read = dataclasses.replace(history.read, settings=dataclasses.replace(history.settings, demo=True))
    with TestClient(app=create_query_api(read)) as client:
        yield client


def words(html: str) -> str:
    """The page without the line-break hints event names carry (`Order.<wbr>Placed`)."""
    return html.replace("<wbr>", "")


def page(client: TestClient[Any], path: str, headers: Headers, status: int = 200) -> str:
    response = client.get(path, headers=headers, follow_redirects=False)
    assert response.status_code == status, f"{path}: {response.status_code} {response.text[:500]}"
    return response.text


# -- signing in and out -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/shop", "/orders", "/ops", "/ops/products", "/ops/couriers", "/ops/status",
                                  "/ops/audit", "/courier", f"/orders/{uuid4()}"])
def test_pages_send_a_visitor_without_a_token_to_the_login(history_client: TestClient[Any], path: str) -> None:
    response = history_client.get(path, follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login"


def test_an_htmx_request_without_a_token_is_told_to_redirect(history_client: TestClient[Any]) -> None:
    response = history_client.get("/ops", headers=HTMX, follow_redirects=False)
    assert response.headers.get("hx-redirect") == "/login"


def test_root_goes_to_the_login_or_to_the_roles_home(history_client: TestClient[Any], history: History) -> None:
    assert history_client.get("/", follow_redirects=False).headers["location"] == "/login"
    for role, subject, home in (("customer", "alice", "/shop"), ("admin", "ops", "/ops/dashboard"),
                                ("courier", history.couriers["Ani"].id, "/courier")):
        response = history_client.get("/", headers=cookie(history, role, subject), follow_redirects=False)
        assert response.headers["location"] == home
    forged = {"Cookie": f"{TOKEN_COOKIE}={TokenIssuer('another-secret-that-is-long-enough-xx').issue('admin', 'x')}"}
    assert history_client.get("/", headers=forged, follow_redirects=False).headers["location"] == "/login"


def test_demo_login_offers_identities_and_sets_a_strict_httponly_cookie(demo_client: TestClient[Any],
                                                                         history: History) -> None:
    text = page(demo_client, "/login", {})
    assert "demo-customer-1" in text
    assert "Operator" in text
    assert "Ani" in text
    assert "Budi" in text
    response = demo_client.post("/login", data={"role": "customer", "subject": "demo-customer-2"},
                                follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/shop"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{TOKEN_COOKIE}=")
    assert "HttpOnly" in set_cookie
    assert "samesite=strict" in set_cookie.lower()
    assert "Path=/" in set_cookie
    token = set_cookie.split(";")[0].split("=", 1)[1]
    shop = page(demo_client, "/shop", {"Cookie": f"{TOKEN_COOKIE}={token}"})
    assert "demo-customer-2" in shop

    courier = demo_client.post("/login", data={"role": "courier", "subject": history.couriers["Budi"].id},
                               follow_redirects=False)
    assert courier.headers["location"] == "/courier"


def test_demo_login_refuses_made_up_identities(demo_client: TestClient[Any]) -> None:
    for form in ({"role": "admin", "subject": "root"}, {"role": "courier", "subject": str(uuid4())},
                 {"role": "customer", "subject": "mallory"}, {"role": "wizard", "subject": "x"}, {}):
        response = demo_client.post("/login", data=form, follow_redirects=False)
        assert response.status_code == 400, form
        assert "set-cookie" not in response.headers


def test_login_from_another_site_is_refused(demo_client: TestClient[Any]) -> None:
    response = demo_client.post("/login", data={"role": "admin", "subject": "ops"},
                                headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_without_demo_mode_the_login_takes_a_valid_token_only(history_client: TestClient[Any],
                                                              history: History) -> None:
    text = page(history_client, "/login", {})
    assert 'name="token"' in text
    assert "demo-customer-1" not in text
    assert history_client.post("/login", data={"role": "admin", "subject": "ops"},
                               follow_redirects=False).status_code == 400
    bad = history_client.post("/login", data={"token": "not.a.token"}, follow_redirects=False)
    assert bad.status_code == 400
    assert "not valid" in bad.text
    token = TokenIssuer(history.settings.secret).issue("admin", "ops")
    good = history_client.post("/login", data={"token": token}, follow_redirects=False)
    assert good.status_code == 303
    assert good.headers["location"] == "/ops/dashboard"
    assert "HttpOnly" in good.headers["set-cookie"]


def test_logout_clears_the_cookie(history_client: TestClient[Any], history: History) -> None:
    response = history_client.post("/logout", headers=cookie(history, "customer", "alice"), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f"{TOKEN_COOKIE}=")
    assert ("Max-Age=0" in cleared or "expires" in cleared.lower())


# -- roles ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "path"), [
    ("customer", "/ops"), ("customer", "/ops/audit"), ("customer", "/courier"),
    ("admin", "/shop"), ("admin", "/courier"), ("courier", "/ops/products"), ("courier", "/shop"),
])
def test_a_page_of_another_role_is_forbidden(history_client: TestClient[Any], history: History, role: str,
                                             path: str) -> None:
    subject = history.couriers["Ani"].id if role == "courier" else "alice"
    text = page(history_client, path, cookie(history, role, subject), status=403)
    assert "Not for your role" in text
    assert "<html" in text


# -- customer ---------------------------------------------------------------------------------------------------


def test_shop_lists_orderable_products_and_the_order_form(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/shop", cookie(history, "customer", "alice"))
    assert "Teh Botol" in text
    assert "Roti Bakar" in text
    assert "13.00" in text
    assert "Nasi Goreng" not in text  # discontinued
    assert "100% Arabica" in text
    for token in ("tok_ok", "tok_decline", "tok_timeout"):
        assert f'value="{token}"' in text
    assert 'action="/api/orders"' in text
    assert 'name="delivery.lat"' in text
    assert f'data-item="{history.products["TEH-1"]}"' in text
    lat = float(re.search(r'name="delivery.lat" value="([-0-9.]+)"', text).group(1))  # type: ignore[union-attr]
    assert -6.3 < lat < -6.1  # around Jakarta


def test_my_orders_are_mine_only(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/orders", cookie(history, "customer", "alice"))
    assert history.orders["o1"] in text
    assert history.orders["o2"] in text
    assert history.orders["o4"] not in text  # bob's
    # The list refreshes itself with its (here empty) filters in the URL.
    rows = page(history_client, "/orders?status=&cursor=", {**cookie(history, "customer", "alice"), **HTMX})
    assert "<html" not in rows
    assert history.orders["o1"] in rows


def test_order_page_shows_status_timeline_and_map(history_client: TestClient[Any], history: History) -> None:
    order_id = history.orders["o1"]
    text = page(history_client, f"/orders/{order_id}", cookie(history, "customer", "alice"))
    assert 'id="order-status"' in text
    assert "RECEIVED" in text
    assert f'data-live-order="{order_id}"' in text
    # The customer reads the timeline in words, and the status as a label (the code stays in an attribute).
    for event in ("Order placed", "Order confirmed", "Order in transit", "Order delivered", "Order received"):
        assert event in text
    assert 'data-status="RECEIVED"' in text
    assert ">Received</span>" in text
    assert 'id="order-map"' in text
    assert 'id="courier-marker"' in text
    assert 'id="courier-route"' in text
    assert "Teh Botol" in text
    assert "7.00" in text
    assert 'id="cancel-order"' not in text
    assert 'id="confirm-receipt"' not in text


def test_order_page_tells_the_delivery_steps_the_eta_and_the_promise(history_client: TestClient[Any],
                                                                    history: History) -> None:
    delivered = page(history_client, f"/orders/{history.orders['o1']}", cookie(history, "customer", "alice"))
    assert [step for step in ("assigned", "picked_up", "delivered") if f'data-delivery-step="{step}"' in delivered] \
        == ["assigned", "picked_up", "delivered"]
    assert 'class="delivery-step todo"' not in delivered
    assert 'id="order-eta" hidden' in delivered  # delivered: nobody is on the way

    on_the_way = page(history_client, f"/orders/{history.orders['o6']}", cookie(history, "customer", "dave"))
    # o6 waited, then Ani took it and picked it up; her last checkpoint estimates an arrival past the promise.
    assert "Courier assigned" in on_the_way
    assert "Picked up" in on_the_way
    assert 'data-delivery-step="delivered"' in on_the_way
    assert 'class="delivery-step todo" data-delivery-step="delivered"' in on_the_way
    assert f'datetime="{LATE_ETA.isoformat()}">{LATE_ETA:%H:%M}</time>' in on_the_way
    assert 'id="order-late"' in on_the_way
    assert "Promised by" in on_the_way
    assert f'data-courier-id="{history.couriers["Ani"].id}" data-on-the-way' in on_the_way
    for attribute in ("data-centre-lat", "data-centre-lng", "data-px-per-km"):
        assert attribute in on_the_way  # the browser projects live positions as the server does


def test_a_reassignment_is_a_delivery_step_with_its_reason() -> None:
    order = {"status": "CONFIRMED", "timeline": [
        {"event": "Shipment.CourierAssigned", "at": "2026-01-01T09:00:00+00:00"},
        {"event": "Shipment.CourierUnassigned", "at": "2026-01-01T09:05:00+00:00", "reason": "shift_ended",
         "note": "reassigned: the courier's shift ended"},
        {"event": "Shipment.CourierAssigned", "at": "2026-01-01T09:05:00+00:00"},
    ]}
    assert [(step.kind, step.label, step.at is not None) for step in delivery_steps(order)] == [
        ("assigned", "Courier assigned", True),
        ("reassigned", "Reassigned: the courier's shift ended", True),
        ("assigned", "Courier assigned", True),
        ("picked_up", "Picked up", False),
        ("delivered", "Delivered", False),
    ]
    cancelled = delivery_steps({**order, "status": "CANCELLED"})
    assert [step.kind for step in cancelled] == ["assigned", "reassigned", "assigned"]


def test_the_late_deliveries_page(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    text = page(history_client, "/ops/late", ops)
    assert f'data-late-order="{history.orders["o6"]}"' in text
    assert history.orders["o1"] not in text
    assert 'hx-get="/ops/late"' in text
    fragment = page(history_client, "/ops/late", {**ops, **HTMX})
    assert "<html" not in fragment
    assert "dave" in fragment
    assert "Not for your role" in page(history_client, "/ops/late", cookie(history, "customer", "dave"), status=403)


def test_order_page_fragment_for_htmx(history_client: TestClient[Any], history: History) -> None:
    response = history_client.get(f"/orders/{history.orders['o6']}",
                                  headers={**cookie(history, "customer", "dave"), **HTMX})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="order-live"')
    assert "<html" not in response.text
    assert "IN_TRANSIT" in response.text
    assert response.headers.get("hx-push-url") == "false"


def test_cancel_and_receipt_buttons_follow_the_status(history: History) -> None:
    pages = PageReads.of(history.read)
    order = pages.orders.get(UUID(history.orders["o6"]))
    assert order is not None
    assert not order_view(pages, order).cancellable  # in transit
    assert order_view(pages, {**order, "status": "CONFIRMED"}).cancellable
    assert order_view(pages, {**order, "status": "DELIVERED"}).receivable
    assert not order_view(pages, {**order, "status": "RECEIVED"}).receivable


def test_another_customers_order_or_a_bad_id_is_a_404_page(history_client: TestClient[Any],
                                                           history: History) -> None:
    alice = cookie(history, "customer", "alice")
    for order_id in (history.orders["o4"], str(uuid4()), "not-an-id", "1%27%20OR%201=1"):
        text = page(history_client, f"/orders/{order_id}", alice, status=404)
        assert "Order not found" in text
        assert "<html" in text


def test_an_operator_may_open_any_order(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, f"/orders/{history.orders['o4']}", cookie(history, "admin", "ops"))
    assert "Full trace" in text


# -- operator ---------------------------------------------------------------------------------------------------


def test_board_lists_every_customers_orders_and_filters(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    text = page(history_client, "/ops", ops)
    for key in ("o1", "o2", "o3", "o4", "o5", "o6"):
        assert history.orders[key] in text
    assert 'hx-trigger="every 2s"' in text
    cancelled = page(history_client, "/ops?status=CANCELLED&customer=&cursor=", {**ops, **HTMX})
    assert "<html" not in cancelled
    assert history.orders["o5"] in cancelled
    assert history.orders["o1"] not in cancelled


def test_products_page_has_stock_and_the_command_forms(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/ops/products", cookie(history, "admin", "ops"))
    assert "Nasi Goreng" in text
    assert "discontinued" in text
    roti = history.products["ROTI-1"]
    assert f'action="/api/products/{roti}/restock"' in text
    assert f'action="/api/products/{roti}" method="post" data-method="PATCH"' in text
    assert 'data-method="DELETE"' in text
    assert 'action="/api/products"' in text


def test_couriers_map_shows_each_courier_busy_or_free(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/ops/couriers", cookie(history, "admin", "ops"))
    assert 'id="couriers-map"' in text
    assert "Ani" in text
    assert "Budi" in text
    assert f'data-courier-id="{history.couriers["Ani"].id}"' in text
    assert "pin-busy" in text
    assert "pin-free" in text
    assert "data-fleet-live" in text  # markers follow /ws/fleet
    assert "0 off duty" in text


def test_dashboard_shows_the_operators_figures(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    text = page(history_client, "/ops/dashboard", ops)
    for card in ("stat-rate", "stat-confirmed", "stat-delivered", "stat-waiting", "stat-couriers", "stat-lag"):
        assert f'id="{card}"' in text
    assert text.count('class="spark-bar"') == 30
    fragment = page(history_client, "/ops/dashboard", {**ops, **HTMX})
    assert "<html" not in fragment
    assert 'id="stat-rate"' in fragment
    assert "Not for your role" in page(history_client, "/ops/dashboard", cookie(history, "customer", "alice"),
                                       status=403)


def test_an_operators_orders_list_is_the_board(history_client: TestClient[Any], history: History) -> None:
    response = history_client.get("/orders", headers=cookie(history, "admin", "ops"), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ops"


def test_status_page_shows_every_follower(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/ops/status", cookie(history, "admin", "ops"))
    assert "read model orders" in text
    assert "saga: Inventory" in text
    assert "Outbox relay" in text


def test_audit_log_filters_and_pages(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    text = words(page(history_client, "/ops/audit?context=payments", ops))
    assert ">Payment.Requested<" in text
    assert ">Order.Placed<" not in text
    placed = words(page(history_client, "/ops/audit?type=Order.Placed", ops))
    assert placed.count(">Order.Placed<") == 6
    one = page(history_client, f"/ops/audit?aggregate_id={history.orders['o1']}&limit=3", ops)
    assert "Load more" in one
    more = re.search(r'hx-get="(/ops/audit\?[^"]+)"', one)
    assert more is not None
    rows = page(history_client, more.group(1).replace("&amp;", "&"), {**ops, **HTMX})
    assert "<html" not in rows
    assert ">Order.Placed<" not in rows
    assert "?version=4" in rows
    window = page(history_client, "/ops/audit?since=2000-01-01T00:00&until=2000-01-02T00:00", ops)
    assert "No events match" in window


def test_audit_log_refuses_bad_filters_with_a_400_page(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    for query in ("aggregate_id=nope", "since=yesterday", "context=billing", "cursor=garbage"):
        assert "Bad request" in page(history_client, f"/ops/audit?{query}", ops, status=400)


def test_audit_escapes_what_it_echoes(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/ops/audit?type=%3Cscript%3Ealert(1)%3C/script%3E", cookie(history, "admin", "ops"))
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_stream_page_steps_through_versions(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    order_id = history.orders["o1"]
    text = page(history_client, f"/ops/audit/streams/{order_id}", ops)
    assert 'id="version-slider"' in text
    assert 'min="1"' in text
    latest = int(re.search(r'id="version-slider"[^>]*max="(\d+)"', text).group(1))  # type: ignore[union-attr]
    assert latest >= 5
    first = words(page(history_client, f"/ops/audit/streams/{order_id}/state?version=1", {**ops, **HTMX}))
    assert "<html" not in first
    assert "Version 1</strong>" in first
    assert "PENDING" in first
    assert "Order.Placed" in first
    full = page(history_client, f"/ops/audit/streams/{order_id}/state?version=2", ops)
    assert "<html" in full
    assert "Version 2</strong>" in full
    assert "Bad request" in page(history_client, f"/ops/audit/streams/{order_id}/state?version={latest + 1}",
                                 ops, status=400)
    for bad in (str(uuid4()), "nope"):
        assert "Stream not found" in page(history_client, f"/ops/audit/streams/{bad}", ops, status=404)


def test_trace_follows_an_order_across_contexts(history_client: TestClient[Any], history: History) -> None:
    ops = cookie(history, "admin", "ops")
    text = words(page(history_client, f"/ops/audit/trace/{history.orders['o1']}", ops))
    for context in ("orders", "inventory", "payments", "shipping"):
        assert f"lane-head ctx-{context}" in text
    assert "Order.Placed" in text
    assert "Payment." in text
    assert "Shipment." in text
    assert "← <span class=\"event-name\">Order.Placed" in text  # the saga's reactions point at what caused them
    assert "Trace not found" in page(history_client, f"/ops/audit/trace/{uuid4()}", ops, status=404)


def test_route_checkpoints_are_one_collapsed_line_in_a_trace_and_a_stream(history_client: TestClient[Any],
                                                                         history: History) -> None:
    ops = cookie(history, "admin", "ops")
    trace = page(history_client, f"/ops/audit/trace/{history.orders['o1']}", ops)
    # Ani's two checkpoints on the way to alice: one line, the events inside it.
    assert trace.count('class="checkpoint-run-row"') == 1
    assert 'data-checkpoints="2"' in trace
    assert "<summary>2 route checkpoints" in trace
    assert trace.count("Shipment.<wbr>RouteCheckpoint") == 0  # not listed one by one
    shipment = history.shipments["o1"]
    stream = page(history_client, f"/ops/audit/streams/{shipment}", ops)
    assert "v4\u2013v5</span> 2 route checkpoints" in stream
    assert '<details open>' not in stream  # the version shown (the newest) is not a checkpoint
    at_checkpoint = page(history_client, f"/ops/audit/streams/{shipment}?version=4", ops)
    assert '<details open>' in at_checkpoint


# -- courier ----------------------------------------------------------------------------------------------------


def test_courier_sees_the_current_assignment(history_client: TestClient[Any], history: History) -> None:
    text = page(history_client, "/courier", courier_cookie(history, "Ani"))
    assert "Ani" in text
    assert "Jl. Dave 1, Jakarta" in text
    assert history.orders["o6"] in text
    assert 'id="courier-marker"' in text
    idle = page(history_client, "/courier", courier_cookie(history, "Budi"))
    assert 'id="no-assignment"' in idle
    stranger = cookie(history, "courier", str(uuid4()))
    assert "Courier not found" in page(history_client, "/courier", stranger, status=404)


def test_static_assets_are_served_without_a_token(history_client: TestClient[Any]) -> None:
    for path in ("/static/vendor/htmx.min.js", "/static/js/app.js", "/static/css/app.css"):
        response = history_client.get(path)
        assert response.status_code == 200, path
    assert "htmx" in history_client.get("/static/vendor/htmx.min.js").text[:200]
