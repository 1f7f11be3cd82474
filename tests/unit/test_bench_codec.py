"""`logistics bench codec` runs on a small mix and reports every figure (its speed is for people, not asserted)."""

from io import StringIO

from rich.console import Console

from scripts.bench_codec import realistic_events, report, run


def test_the_mix_holds_every_context_and_the_bench_reports_each_figure() -> None:
    contexts = {type(event).__qualname__.split(".")[0] for event in realistic_events(300)}
    assert {"Order", "Stock", "StockReservation", "Payment", "Shipment", "Courier"} <= contexts

    figures = run(events=300, rounds=1)  # run() also checks that both formats decode to the very events

    assert [figure.name for figure in figures] == [
        "encode tagged (library)", "encode typed (msgspec)", "decode tagged (library)", "decode typed (msgspec)",
        "decode tagged (msgspec mapper: old history)"]
    assert all(figure.events >= 300 and figure.seconds > 0 for figure in figures)
    out = StringIO()
    report(figures, 1, Console(file=out, width=120))
    assert "decode typed (msgspec)" in out.getvalue()
