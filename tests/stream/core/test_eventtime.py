import pytest

from stream.core.eventtime import DAY_MS, day_of, minute_start, parse_day

BLACK_FRIDAY = 1_795_737_600_000  # 2026-11-27T00:00:00Z


@pytest.mark.parametrize(
    ("ts", "minute"),
    [
        (BLACK_FRIDAY, BLACK_FRIDAY),  # the first ms of a minute starts it
        (BLACK_FRIDAY + 59_999, BLACK_FRIDAY),  # the last ms of a minute stays in it
        (BLACK_FRIDAY + 60_000, BLACK_FRIDAY + 60_000),  # the next ms is the next minute
        (BLACK_FRIDAY - 1, BLACK_FRIDAY - 60_000),  # 23:59:59.999 belongs to the day before
        (-1, -60_000),  # floor, not truncation, before the epoch
    ],
)
def test_minute_start(ts: int, minute: int) -> None:
    assert minute_start(ts) == minute


def test_day_of_splits_at_utc_midnight() -> None:
    assert day_of(BLACK_FRIDAY - 1) == "2026-11-26"
    assert day_of(BLACK_FRIDAY) == "2026-11-27"
    assert day_of(BLACK_FRIDAY + DAY_MS - 1) == "2026-11-27"


def test_parse_day_gives_the_half_open_range() -> None:
    assert parse_day("2026-11-27") == (BLACK_FRIDAY, BLACK_FRIDAY + DAY_MS)


@pytest.mark.parametrize(
    "text", ["", "2026-11-31", "2026-13-01", "27.11.2026", "2026-11-27T00:00", "20261127"]
)
def test_parse_day_refuses_what_is_not_a_day(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day(text)
