"""Rendering pages: the Jinja environment (autoescaped), its filters, and full-page vs fragment answers."""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from markupsafe import Markup

from domain.identity import Actor

NOTHING: Final = "\u2013"  # an en dash: "no value" in tables
TEMPLATES_DIR: Final = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR: Final = Path(__file__).resolve().parents[1] / "static"

STATUS_TONE: Final = {
    "PENDING": "wait", "CONFIRMED": "info", "IN_TRANSIT": "move", "DELIVERED": "good", "RECEIVED": "done",
    "CANCELLED": "bad", "AVAILABLE": "good", "BUSY": "move", "WAITING_FOR_COURIER": "wait",
    "AUTHORIZED": "info", "CAPTURED": "good", "DECLINED": "bad", "TIMED_OUT": "bad", "VOIDED": "bad",
    "REQUESTED": "wait", "RESERVED": "info", "REJECTED": "bad", "RELEASED": "bad", "COMMITTED": "good",
    "ASSIGNED": "info", "OFF_DUTY": "plain",
}


def money(value: Any) -> str:
    """Amounts arrive as decimal strings; shown with thousands separators and their two places."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value) if value is not None else NOTHING
    return f"{amount:,.2f}"


def when(value: Any, style: str = "datetime") -> str:
    """An ISO timestamp as a short local-looking text; the page says the zone once (UTC)."""
    if value is None or value == "":
        return NOTHING
    moment = value if isinstance(value, datetime) else _parse(str(value))
    if moment is None:
        return str(value)
    if style == "time":
        return moment.strftime("%H:%M:%S")
    if style == "minute":
        return moment.astimezone(UTC).strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def tone(status: Any) -> str:
    return STATUS_TONE.get(str(status), "plain")


def humanize(value: Any) -> str:
    return str(value).replace("_", " ").lower() if value else NOTHING


def label(value: Any) -> str:
    """A status or reason as a person reads it, the same on badges, steps, chips and lists: `In transit`."""
    text = humanize(value)
    return text[:1].upper() + text[1:] if value else NOTHING


def coordinate(value: Any) -> str:
    """Five decimals of a degree are about a metre: as precise as a courier's position means anything."""
    try:
        return f"{float(value):.5f}"
    except (TypeError, ValueError):
        return NOTHING


def event_label(value: Any) -> str:
    """An event's name as a sentence for customers' and couriers' eyes: `Stock reservation requested`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(value or "").replace(".", " ")).split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:] if text else NOTHING


def event_name(value: Any) -> Markup:
    """`StockReservation.Requested` may break after the dot or between words, never inside one."""
    text = str(value or "")
    parts = re.split(r"(?<=\.)|(?<=[a-z])(?=[A-Z])", text)
    return Markup('<span class="event-name">{}</span>').format(Markup("<wbr>").join(parts))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def scalar(value: Any) -> str:
    """A state value as JSON writes it (`true`, `null`), except that text is shown without quotes."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def short_id(value: Any) -> str:
    text = str(value or "")
    return text[:8] if len(text) > 8 else text


def short_ref(value: Any) -> str:
    """A correlation as a short text that still says what it is: `request:3f2a91c0`, or an order's `9c1e44b2`."""
    text = str(value or "")
    kind, colon, rest = text.partition(":")
    if colon and rest:
        return f"{kind}:{short_id(rest)}"
    return short_id(text)


def template_engine() -> JinjaTemplateEngine:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Every value from a read model or a query string is data, never markup.
        autoescape=select_autoescape(default=True, default_for_string=True),
        # Read-model documents grow fields over time; a missing one renders empty rather than failing the page.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(money=money, when=when, tone=tone, humanize=humanize, pretty_json=pretty_json,
                               short_id=short_id, scalar=scalar, label=label, coordinate=coordinate,
                               event_name=event_name, event_label=event_label,
                               short_ref=short_ref)
    # An aggregate's `_private` attributes are its own bookkeeping, not state a person asked to see.
    environment.tests["internal"] = lambda key: str(key).startswith("_")
    return JinjaTemplateEngine.from_environment(environment)


def render(request: HTMXRequest, template: str, *, fragment: str | None = None, status_code: int = 200,
           **context: Any) -> Template:
    """The whole page, or only `fragment` when htmx asks (it swaps that part in place and keeps the URL)."""
    user = request.scope.get("user")  # absent on public pages such as the login
    context.setdefault("actor", user if isinstance(user, Actor) else None)
    context.setdefault("path", request.url.path)
    if fragment is not None and request.htmx:
        return HTMXTemplate(template_name=fragment, context=context, push_url=False, status_code=status_code)
    return Template(template_name=template, context=context, status_code=status_code)
