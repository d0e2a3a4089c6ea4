"""The page with Black Friday figures, in a real headless Chromium against the real app: 8-digit counts and
9-digit money on one line inside their cards at 1200, 1600 and 1920 px; chart tick labels inside their
charts; a CJK merchant name and an emoji drawn with real glyphs, not boxes; a replay's per-second chart
showing the 15 minutes before its clock, at the end of the day too; and the README's screenshot.

Where the figures come from: money through the whole pipeline (a thousand orders of $999,999.99 each,
near the per-order limit, make $999,999,990.00 and a billion-dollar minute), and the counts that only a
real Black Friday reaches (99,999,999 orders and shoppers) from a snapshot that the test hands the real
page on its websocket (Playwright's route_web_socket), in the README's message shape: the page, its
styles and its modules are the ones the app serves; counting 10^8 orders through the worker is not a
test's time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Page, WebSocketRoute

from stream.core.eventtime import MINUTE_MS, parse_day
from tests.conftest import App, Processes, picture, settled, wait_until
from tests.e2e.test_replay import DAY, backfill
from tests.e2e.test_replay_page import close_the_day, start_replay
from tests.support.web import orders_now, produce

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

WIDTHS = [(1200, 800), (1600, 1000), (1920, 1080)]
TOKYO = "東京ギア"
GIFT = "🎁"
START, END = parse_day(DAY)
NOON = START + 12 * 60 * MINUTE_MS
WINDOW_MS = 15 * 60 * 1000

# Every figure: one line, no wider than its box, inside its card, at a readable size. Returns the problems.
FITS = """() => {
  const problems = [];
  const sizes = {};
  const edges = (r) => [r.left, r.right, r.top, r.bottom].map(Math.round);
  const selectors = '.value, .hero-detail, .tile .label, .ranking .num, .bars .pct';
  for (const el of document.querySelectorAll(selectors)) {
    const what = (el.id || el.className) + ' "' + el.textContent.trim() + '"';
    const card = el.closest('.card').getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth) {
      problems.push(what + ' overflows its box: ' + el.scrollWidth + ' > ' + el.clientWidth);
    }
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const lines = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
      if (rects.length !== 1) {
        problems.push(what + ' wraps: "' + node.textContent + '" is ' + rects.length + ' boxes');
      }
      for (const r of rects) {
        lines.push(r);
        if (r.left < card.left - 0.5 || r.right > card.right + 0.5 || r.top < card.top - 0.5 ||
            r.bottom > card.bottom + 0.5) {
          problems.push(what + ' sticks out of its card: text ' + edges(r) + ', card ' + edges(card));
        }
      }
    }
    // pieces of one figure (the gross and refunds line) stand side by side on one line
    const middles = lines.map((r) => (r.top + r.bottom) / 2);
    const lowest = Math.min(...lines.map((r) => r.height));
    if (lines.length > 1 && Math.max(...middles) - Math.min(...middles) > 0.5 * lowest) {
      problems.push(what + ' is on more than one line');
    }
    if (el.id) sizes[el.id] = parseFloat(getComputedStyle(el).fontSize);
  }
  return {problems, sizes};
}"""

# Every tick label of the two bar/line charts inside the chart's SVG. Returns the problems and the labels.
AXES = """() => {
  const problems = [];
  const labels = {};
  const edges = (r) => [r.left, r.right, r.top, r.bottom].map(Math.round);
  for (const id of ['chart-minutes', 'chart-seconds']) {
    const node = document.getElementById(id);
    const svg = node.querySelector('svg.main-svg');
    if (!svg) { problems.push(id + ' has no chart'); continue; }
    const box = svg.getBoundingClientRect();
    labels[id] = [];
    for (const text of node.querySelectorAll('.xtick text, .ytick text')) {
      const r = text.getBoundingClientRect();
      if (r.width === 0) continue; // a label Plotly hid
      labels[id].push(text.textContent);
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
          r.bottom > box.bottom + 0.5) {
        problems.push(id + ' label "' + text.textContent + '" is cut at the chart edge: ' + edges(r)
          + ' vs ' + edges(box));
      }
    }
  }
  return {problems, labels};
}"""

# Each character drawn the way the element is styled: pixels, and how many of them are coloured.
GLYPHS = """([selector, chars]) => {
  const style = getComputedStyle(document.querySelector(selector));
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  return chars.map((ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = style.fontWeight + ' 40px ' + style.fontFamily;
    ctx.fillStyle = '#ffffff';
    ctx.textBaseline = 'top';
    ctx.fillText(ch, 8, 8);
    const data = ctx.getImageData(0, 0, 64, 64).data;
    let inked = 0, coloured = 0, hash = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) continue;
      inked++;
      const rgb = [data[i], data[i + 1], data[i + 2]];
      if (Math.max(...rgb) - Math.min(...rgb) > 40) coloured++;
      hash = (hash * 31 + i * 7 + data[i + 3]) % 1000000007;
    }
    return {ch, inked, coloured, hash, width: ctx.measureText(ch).width};
  });
}"""

# The per-second chart as drawn: its x range and its points.
SECONDS = """() => {
  const node = document.getElementById('chart-seconds');
  if (!node.layout || !node.data) return null;
  return {range: node.layout.xaxis.range || null, x: node.data[0].x, y: node.data[0].y,
          clock: Number(document.querySelector('#replay-bar').dataset.clockMs || 0),
          state: document.querySelector('#replay-state').textContent};
}"""


def fits(tab: Page) -> dict[str, Any]:
    """Waits (resizes and redraws settle) until every figure and tick label fits; fails with what does not."""
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen.update(tab.evaluate(FITS))
        axes = tab.evaluate(AXES)
        seen["axes"] = axes
        return not seen["problems"] and not axes["problems"]

    try:
        wait_until(check, 10, interval=0.3, message="every figure and tick label to fit")
    except AssertionError:
        raise AssertionError(f"does not fit: {seen['problems'] + seen['axes']['problems']}") from None
    return seen


def at_every_width(tab: Page) -> dict[tuple[int, int], dict[str, Any]]:
    found = {}
    for width, height in WIDTHS:
        tab.set_viewport_size({"width": width, "height": height})
        found[(width, height)] = fits(tab)
    return found


def no_tofu(tab: Page, selector: str) -> None:
    """The CJK name and the emoji in `selector` are drawn with real fonts: four different glyphs, none the
    box an unassigned code point gets, and a colour emoji."""
    drawn = tab.evaluate(GLYPHS, [selector, [*TOKYO, GIFT, "\u0378"]])
    glyphs, box = drawn[:4], drawn[5]
    assert all(g["inked"] > 0 for g in glyphs), drawn
    assert len({g["hash"] for g in glyphs}) == 4, f"{TOKYO} is drawn as one repeated box: {drawn}"
    assert all(g["hash"] != box["hash"] for g in glyphs), f"{TOKYO} is drawn as the no-glyph box: {drawn}"
    assert drawn[4]["coloured"] > 20, f"{GIFT} is not drawn by a colour emoji font: {drawn[4]}"


# ---- extreme counts: the real page, fed a Black Friday's snapshot on its websocket ----------------------


def black_friday_snapshot() -> dict[str, Any]:
    """Today with the largest figures the page promises to show: 99,999,999 orders and shoppers, money up
    to $999,999,999.99, a $999,999,999.99 minute and $999,999.99 seconds."""
    now = int(time.time() * 1000)
    today = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%d")
    start, _ = parse_day(today)
    newest = now - now % 1000
    big = 99_999_999_999
    minutes = [{"start_ms": m, "orders": 99_999, "gross_cents": big - (m - start) // 1000, "refunds_cents": 0,
                "final": m + MINUTE_MS < now - 5000} for m in range(start, now, MINUTE_MS)]
    seconds = [{"start_ms": s, "orders": 9_999, "gross_cents": 99_999_999 - (newest - s) // 1000,
                "refunds_cents": 0} for s in range(newest - WINDOW_MS + 1000, newest + 1, 1000)]
    return {
        "type": "snapshot", "sent_ms": now, "day": today, "as_of_ms": now,
        "totals": {"orders": 99_999_999, "gross_cents": big, "refunds_cents": big - 1, "net_cents": big,
                   "aov_cents": 99_999_999, "unique_customers": 99_999_999},
        "minutes": minutes, "seconds": seconds,
        "countries": [{"country": c, "orders": 99_999_999, "net_cents": big} for c in ("US", "JP", "DE")],
        "channels": [{"channel": c, "orders": 99_999_999, "net_cents": big // 4}
                     for c in ("online", "mobile", "pos", "social")],
        "top_merchants": [{"merchant_id": f"m{i:05d}", "name": f"{TOKYO} {GIFT}" if i == 0 else f"Shop {i}",
                           "orders": 99_999_999 - i, "net_cents": big - i} for i in range(10)],
        "top_products": [{"sku": f"m{i:05d}-p001", "title": f"{TOKYO} {GIFT}" if i == 0 else f"Thing {i}",
                          "merchant_id": f"m{i:05d}", "qty": 99_999_999 - i, "net_cents": big - i}
                         for i in range(10)],
        "dead_letters": {"invalid_json": 99_999_999}, "late_events": 99_999_999, "ingest_rate": 99_999_999,
        "offsets": {},
    }


def test_a_black_friday_of_8_digit_counts_and_9_digit_money_fits_on_one_line_at_every_width(
    stack: App, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    snapshot = black_friday_snapshot()

    def serve(ws: WebSocketRoute) -> None:  # the app's /ws, answered by the test: one snapshot
        ws.send(orjson.dumps(snapshot).decode())

    tab.route_web_socket(re.compile(r"/ws(\?|$)"), serve)
    tab.goto(stack.url)
    tab.wait_for_selector("#orders[data-value='99999999']", timeout=15_000)
    tab.wait_for_selector("#chart-minutes .ytick", timeout=15_000)
    # The net counter counts up to its figure (an animation; slower on a loaded machine): its end value.
    wait_until(lambda: tab.text_content("#net-sales") == "$999,999,999.99", 15,
               message="the net counter to reach $999,999,999.99")
    assert tab.text_content("#shoppers") == "99,999,999"

    for (width, _), seen in at_every_width(tab).items():
        sizes = seen["sizes"]
        # Readable from across a room: scaled to fit, not to a speck.
        assert sizes["net-sales"] >= 30 and min(sizes["orders"], sizes["aov"], sizes["shoppers"]) >= 18, (
            width, sizes)
        longest = max(len(label) for label in seen["axes"]["labels"]["chart-minutes"])
        assert longest >= len("$800,000,000"), seen["axes"]["labels"]  # the big labels were there to check
    no_tofu(tab, "#top-merchants tr[data-merchant-id=m00000] .name")
    assert errors == []


# ---- 9-digit money through the whole pipeline -------------------------------------------------------------


def test_a_billion_dollar_day_counted_by_the_worker_fits_and_its_axis_labels_are_whole(
    stack: App, env: dict[str, str], page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    tab.goto(stack.url)
    tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    huge = 99_999_999  # $999,999.99: an order just under the $1,000,000 limit
    line = {"sku": "m77777-p001", "title": f"{TOKYO} {GIFT}", "qty": 1, "price_minor": huge}
    tokyo = orders_now(500, merchant_id="m77777", merchant_name=TOKYO, total_minor=huge, lines=[line])
    produce(env, [*tokyo, *orders_now(500, total_minor=huge)])
    snapshot = wait_until(lambda: (body := settled(stack)) and body["totals"]["orders"] == 1000 and body, 60,
                          message="the thousand orders counted")
    assert snapshot["totals"]["net_cents"] == 1000 * huge  # $999,999,990.00
    wait_until(lambda: tab.get_attribute("#net-sales", "data-cents") == str(1000 * huge), 15,
               message="the page to show the total")
    wait_until(lambda: tab.text_content("#net-sales") == "$999,999,990.00", 5, message="the counter to land")
    assert tab.text_content("#aov") == "$999,999.99"

    for (width, _), seen in at_every_width(tab).items():
        labels = seen["axes"]["labels"]
        assert any(len(label) >= len("$200,000,000") for label in labels["chart-minutes"]), (width, labels)
    no_tofu(tab, "#top-merchants tr[data-merchant-id=m77777] .name")
    assert errors == []


# ---- a replay's per-second window ends at its clock -------------------------------------------------------


def test_a_replay_shows_per_second_the_15_minutes_before_its_clock_at_noon_and_at_the_end_of_the_day(
    stack: App, processes: Processes, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    truth = backfill(processes, tmp_path / "truth.json")
    # Orders after the day, as a live log has: they close the day in every partition, and move every
    # partition's watermark, the seconds horizon with it, far past the day.
    close_the_day(processes.env)
    want = truth["days"][DAY]
    last_15 = sum(m["gross_cents"] - m["refunds_cents"] for m in want["minutes"]
                  if m["start_ms"] >= END - WINDOW_MS)
    assert last_15 > 0
    started = start_replay(stack, DAY)
    assert started.status_code == 202, started.text
    session = started.json()["session"]

    def at_the_end() -> None:
        wait_until(lambda: tab.text_content("#replay-state") == "ended", 90, message="the replay played out")
        wait_until(lambda: tab.get_attribute("#orders", "data-value") == str(want["totals"]["orders"]), 10,
                   message="the day's orders")
        # The chart is redrawn on its own tick: the draw after the replay's last clock step ends at midnight.
        window = [_utc(END - WINDOW_MS), _utc(END)]
        shown = wait_until(lambda: (s := tab.evaluate(SECONDS)) and s["range"] == window and s, 15,
                           message=f"the per-second chart's window to be {window}")
        assert all(_utc(END - WINDOW_MS) <= x < _utc(END) for x in shown["x"]), shown["x"][::60]
        assert round(sum(shown["y"]) * 100) == last_15  # the day's last 15 minutes, every cent

    tab.goto(f"{stack.url}/?replay={session}&speed=max")
    at_the_end()
    tab.reload()  # a viewer who opens a played-out replay gets it from a snapshot
    at_the_end()

    # Noon at x1: the clock barely moves, the window is the quarter hour before it.
    tab.goto(f"{stack.url}/?replay={session}&speed=1&at={NOON}")
    wait_until(lambda: tab.text_content("#replay-state") == "playing", 60, message="playing from noon")

    def before_the_clock() -> dict[str, Any] | None:
        shown = tab.evaluate(SECONDS)
        if not shown or not shown["range"] or not shown["x"] or not NOON <= shown["clock"] < NOON + 60_000:
            return None
        end = _ms(shown["range"][1])
        at_clock = abs(end - shown["clock"]) <= 1500 and _ms(shown["range"][0]) == end - WINDOW_MS
        return shown if at_clock else None

    shown = wait_until(before_the_clock, 15, message="the per-second window to end at the clock")
    assert _ms(shown["x"][0]) >= _ms(shown["range"][0]) and _ms(shown["x"][-1]) >= NOON - 2 * MINUTE_MS
    assert errors == []


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ms(text: str) -> int:
    return int(datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() * 1000)


# ---- the README's picture ---------------------------------------------------------------------------------


def test_the_readme_screenshot_of_a_black_friday(
    stack: App, processes: Processes, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    """docs/dashboard.png: the page at 1600x1000 on last year's Black Friday as the worker counted it
    (200,000 orders of the bfcm profile, with duplicates, late and malformed events)."""
    tab, errors = page
    truth = backfill(processes, tmp_path / "truth.json", orders=200_000)
    want = truth["days"][DAY]["totals"]
    tab.set_viewport_size({"width": 1600, "height": 1000})
    tab.goto(f"{stack.url}/?day={DAY}")  # at once, while the worker counts: the data is fresh when it lands
    wait_until(lambda: tab.get_attribute("#orders", "data-value") == str(want["orders"]), 90,
               message="the day counted")
    wait_until(lambda: tab.text_content("#net-sales") == _usd(want["net_cents"]), 10,
               message="the counter on the day's net")
    tab.wait_for_selector("#chart-map path.choroplethlocation", timeout=15_000)
    tab.wait_for_selector("#top-merchants tr[data-merchant-id]", timeout=15_000)
    fits(tab)
    time.sleep(1.0)  # the map is redrawn at most once a second
    screenshot = picture("dashboard.png")  # README's picture
    tab.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 50_000
    assert stack.get(f"/api/snapshot?day={DAY}").json()["totals"]["net_cents"] == want["net_cents"]
    assert errors == []


def _usd(cents: int) -> str:
    dollars, rest = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"
