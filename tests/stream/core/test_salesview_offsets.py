"""Every pushed day carries, per input partition, the offset its figures cover: the exact "includes this
order" test a freshness measurement needs."""

from stream.core.salesview import SalesView
from tests.stream.core.test_salesview import checkpoints
from tests.support.orders import order_event


def test_the_snapshot_and_deltas_name_the_input_offsets_their_figures_cover() -> None:
    view = SalesView()
    assert view.snapshot("2026-11-27")["offsets"] == {}
    p0 = checkpoints(0, order_event(total_minor=1000), order_event(total_minor=500))
    p3 = checkpoints(3, order_event(total_minor=250))
    view.apply(p0[0])
    view.apply(p3[0])
    assert view.snapshot("2026-11-27")["offsets"] == {"0": 1, "3": 1}
    view.take_changes()
    view.apply(p0[1])
    delta = view.snapshot("2026-11-27", view.take_changes()["2026-11-27"])
    assert delta["offsets"] == {"0": 2, "3": 1}
    assert delta["totals"]["orders"] == 3  # the figures and the offsets describe the same fold
