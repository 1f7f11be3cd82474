import pytest

from adapters.messaging import topic_matches


@pytest.mark.parametrize(
    ("binding_key", "routing_key", "expected"),
    [
        ("order.created", "order.created", True),
        ("order.created", "order.Created", False),
        ("order.created", "order.created.v2", False),
        ("order.*", "order.created", True),
        ("order.*", "order", False),
        ("order.*", "order.created.v2", False),
        ("*.created", "stock.created", True),
        ("*.created", "created", False),
        ("*", "order", True),
        ("*", "", False),
        ("*.*", "order", False),
        ("order.#", "order", True),
        ("order.#", "order.created", True),
        ("order.#", "order.a.b.c", True),
        ("order.#", "orders.created", False),
        ("#", "", True),
        ("#", "a.b.c", True),
        ("#.delivered", "delivered", True),
        ("#.delivered", "shipment.delivered", True),
        ("#.delivered", "courier.shipment.delivered", True),
        ("#.delivered", "shipment.delivered.late", False),
        ("a.#.b", "a.b", True),
        ("a.#.b", "a.x.y.b", True),
        ("a.#.b", "a.x.y.c", False),
        ("#.a.#", "a", True),
        ("#.a.#", "x.a.y", True),
        ("#.a.#", "b", False),
        ("#.#", "", True),
        ("*.#", "", False),
        ("*.#", "a", True),
        ("#.*", "a", True),
        ("#.*", "", False),
        ("*.b.#", "a.b", True),
        ("", "", True),
        ("", "a", False),
        ("a.", "a.", True),
        ("a.*", "a.", True),
        ("a", "a.", False),
        ("view.order.*", "view.order.updated", True),
    ],
)
def test_topic_matches(binding_key: str, routing_key: str, expected: bool) -> None:
    assert topic_matches(binding_key, routing_key) is expected
