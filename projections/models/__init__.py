"""The read models the query API serves."""

from projections.models.audit import AUDIT_EVENTS
from projections.models.couriers import COURIERS
from projections.models.orders import ORDERS
from projections.models.payments import PAYMENTS
from projections.models.products import PRODUCTS
from projections.models.shipments import SHIPMENTS
from projections.read_model import ReadModel

ALL_MODELS: dict[str, ReadModel] = {
    model.name: model for model in (ORDERS, PRODUCTS, PAYMENTS, SHIPMENTS, COURIERS, AUDIT_EVENTS)
}
