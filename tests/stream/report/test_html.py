"""The self-contained day report: every printed figure equals the snapshot's to the cent, names stay text,
and the file opens in a browser with the network cut off and draws every chart, the world map included."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import time
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from stream.report import render, write
from stream.report.countries import ISO3
from stream.report.html import plotly_js, topojson_path

DAY = "2025-11-28"
DAY_MS = 1764288000000  # 2025-11-28T00:00:00Z
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_TITLE = "<script>alert(2)</script>"
NAMES = ["Ölberg Outfitters", "東京ギア", XSS_NAME, "O'Reilly & Sons", 'The "Best" Buy', "<b>Bold</b> Deals",
         "Café “Zuckerl”", "Łódź Lamps", "🎁 Gift Supply Co.", "Müller Möbel"]
TITLES = ["Mug 4", "Hoodie Pro", XSS_TITLE, "Lamp & Shade", "東京 Tea set", 'Sneaker "Ultra"', "Candle",
          "Poster <i>Retro</i>", "Scarf", "Drone"]
# 40 buyer countries, by net descending; SG and HK are real countries too small for the 1:110m map.
COUNTRIES = ["US", "GB", "DE", "CA", "FR", "AU", "JP", "NL", "IT", "ES", "SE", "CH", "PL", "BR", "MX", "IN",
             "KR", "KW", "AT", "BE", "DK", "FI", "IE", "NO", "PT", "NZ", "CN", "AR", "CL", "CO", "ZA", "TR",
             "AE", "SA", "IL", "SG", "HK", "TH", "VN", "GR"]
OFF_MAP = {"SG", "HK"}


def split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` cut into `parts` descending pieces that add up exactly."""
    weights = sorted((rng.random() ** 3 + 0.01 for _ in range(parts)), reverse=True)
    pieces = [int(total * w / sum(weights)) for w in weights]
    pieces[0] += total - sum(pieces)
    return pieces


def make_day(seed: int = 7) -> dict[str, Any]:
    """A Black Friday in the /api/snapshot shape: 1,440 minutes shaped by the hour, breakdowns that add
    up to the totals, a minute with more refunds than sales, three minutes still open."""
    rng = random.Random(seed)
    minutes = []
    for i in range(1440):
        hour = i // 60
        orders = int((40 + 35 * (1 + (hour - 4) / 20) ** 2) * rng.uniform(0.8, 1.2)) + (900 if i == 0 else 0)
        gross = sum(rng.randint(500, 12_000) for _ in range(orders))
        refunds = rng.randint(0, gross // 25)
        minutes.append({"start_ms": DAY_MS + i * 60_000, "orders": orders, "gross_cents": gross,
                        "refunds_cents": refunds, "final": i < 1437})
    minutes[300]["refunds_cents"] = minutes[300]["gross_cents"] + 123_45  # a net-negative minute
    orders = sum(m["orders"] for m in minutes)
    gross = sum(m["gross_cents"] for m in minutes)
    refunds = sum(m["refunds_cents"] for m in minutes)
    net = gross - refunds
    q, r = divmod(gross, orders)
    aov = q + (1 if 2 * r > orders or (2 * r == orders and q % 2) else 0)
    country_orders = split(orders, len(COUNTRIES), rng)
    countries = [{"country": c, "orders": o, "net_cents": n}
                 for c, o, n in zip(COUNTRIES, country_orders, split(net, len(COUNTRIES), rng), strict=True)]
    channel_net = split(net, 4, rng)
    channels = [{"channel": c, "orders": o, "net_cents": n} for c, o, n in
                zip(["online", "mobile", "pos", "social"], split(orders, 4, rng), channel_net, strict=True)]
    merchants = [{"merchant_id": f"m{i:05d}", "name": name, "orders": o, "net_cents": n}
                 for i, (name, o, n) in enumerate(zip(NAMES, split(orders // 3, 10, rng),
                                                      split(net // 3, 10, rng), strict=True))]
    products = [{"sku": f"m{i:05d}-p{i % 3:03d}", "title": title, "merchant_id": f"m{i:05d}", "qty": qty,
                 "net_cents": n}
                for i, (title, qty, n) in enumerate(zip(TITLES, split(orders // 5, 10, rng),
                                                        split(net // 6, 10, rng), strict=True))]
    return {
        "day": DAY, "as_of_ms": DAY_MS + 86_400_000 + 3_600_000,
        "totals": {"orders": orders, "gross_cents": gross, "refunds_cents": refunds, "net_cents": net,
                   "aov_cents": aov, "unique_customers": orders * 87 // 100},
        "minutes": minutes, "countries": countries, "channels": channels, "top_merchants": merchants,
        "top_products": products,
        "dead_letters": {"invalid_json": 41, "missing_field": 17, "too_late": 5, "<b>odd</b>": 1},
        "late_events": 1234,
    }


def make_seconds(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = [{"start_ms": DAY_MS + s * 1000, "orders": rng.randint(40, 300),
             "net_cents": rng.randint(10**5, 10**7)} for s in rng.sample(range(86_400), 20)]
    return sorted(rows, key=lambda r: -r["net_cents"])


META = {"commit": "a3f959f0c0ffee1234567890abcdef1234567890", "generated_ms": DAY_MS + 86_400_000 + 7_200_000,
        "topic": "orders", "offsets": {str(p): [0, 150_000 + p] for p in range(8)}}
VERDICT = {"ok": True,
           "line": "verified: 1,440 minutes, every figure equal to the cent (offsets 0:0–150000, …)",
           "offsets": {str(p): [0, 150_000 + p] for p in range(8)}}


@pytest.fixture(scope="module")
def day() -> dict[str, Any]:
    return make_day()


@pytest.fixture(scope="module")
def report(day: dict[str, Any]) -> str:
    return render(day, seconds=make_seconds(), verdict=VERDICT, meta=META)


# ---- reading the HTML back, independently of how it was written ----

class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> list[Node]:
        found = [self]
        for c in self.children:
            if isinstance(c, Node):
                found += c.walk()
        return found

    def find(self, node_id: str) -> Node:
        matches = [n for n in self.walk() if n.attrs.get("id") == node_id]
        assert len(matches) == 1, f"{len(matches)} elements with id {node_id}"
        return matches[0]

    def all(self, tag: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag]

    def cls(self, name: str) -> Node:
        matches = [n for n in self.walk() if name in (n.attrs.get("class") or "").split()]
        assert len(matches) == 1, f"{len(matches)} elements of class {name}"
        return matches[0]


class Tree(HTMLParser):
    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("#root", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.node)
        self.node.children.append(node)
        if tag not in self.VOID:
            self.node = node

    def handle_endtag(self, tag: str) -> None:
        assert self.node.tag == tag, f"</{tag}> closes <{self.node.tag}>"
        assert self.node.parent is not None
        self.node = self.node.parent

    def handle_data(self, data: str) -> None:
        self.node.children.append(data)


def parse(html: str) -> Node:
    tree = Tree()
    tree.feed(html)
    tree.close()
    assert tree.node is tree.root, "unclosed elements"
    return tree.root


def dollars(cents: int) -> str:
    """$1,234,567.89 from cents, by string slicing (independent of the code under test)."""
    digits = str(abs(cents)).rjust(3, "0")
    whole, frac = digits[:-2], digits[-2:]
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return ("-" if cents < 0 else "") + "$" + ",".join(groups) + "." + frac


def grouped(n: int) -> str:
    return re.sub(r"\B(?=(\d{3})+(?!\d))", ",", str(n))


def newplot(html: str, div_id: str) -> list[Any]:
    """The data, layout and config handed to Plotly.newPlot for one chart."""
    match = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + '",', html)
    assert match is not None, div_id
    decoder = json.JSONDecoder()
    args, pos = [], match.end()
    for _ in range(3):
        while html[pos] in " ,\n":
            pos += 1
        value, pos = decoder.raw_decode(html, pos)
        args.append(value)
    return args


# ---- pure ----

def test_the_formatter_in_the_test_is_right() -> None:
    assert dollars(12345678) == "$123,456.78"
    assert dollars(5) == "$0.05"
    assert dollars(-100) == "-$1.00"
    assert dollars(123456789012345) == "$1,234,567,890,123.45"
    assert grouped(1234567) == "1,234,567"


def test_the_headline_figures_are_the_snapshots_to_the_cent(day: dict[str, Any], report: str) -> None:
    doc = parse(report)
    t = day["totals"]
    for node_id, key in [("net-sales", "net_cents"), ("gross", "gross_cents"), ("refunds", "refunds_cents"),
                         ("aov", "aov_cents")]:
        node = doc.find(node_id)
        assert node.text() == dollars(t[key]), node_id
        assert node.attrs["data-cents"] == str(t[key])
    for node_id, key in [("orders", "orders"), ("shoppers", "unique_customers")]:
        node = doc.find(node_id)
        assert node.text() == grouped(t[key])
        assert node.attrs["data-value"] == str(t[key])
    assert doc.find("late").text() == "1,234"
    assert doc.find("dead-letters").text() == grouped(sum(day["dead_letters"].values()))
    assert t["net_cents"] > 1_000_000_00  # a big day: over a million dollars, so grouping is exercised


def test_rankings_show_every_row_exactly(day: dict[str, Any], report: str) -> None:
    doc = parse(report)
    rows = doc.find("top-merchants").all("tr")
    assert [(r.attrs["data-merchant-id"], r.cls("name").text(), r.attrs["data-orders"], r.attrs["data-cents"])
            for r in rows] == [(m["merchant_id"], m["name"], str(m["orders"]), str(m["net_cents"]))
                               for m in day["top_merchants"]]
    assert [[td.text() for td in r.all("td")][2:] for r in rows] == \
        [[grouped(m["orders"]), dollars(m["net_cents"])] for m in day["top_merchants"]]
    products = doc.find("top-products").all("tr")
    assert [(r.attrs["data-sku"], r.cls("name").text(), r.attrs["data-qty"], r.all("td")[3].text())
            for r in products] == \
        [(p["sku"], f"{p['title']} {p['sku']}", str(p["qty"]), dollars(p["net_cents"]))
         for p in day["top_products"]]
    total = sum(c["net_cents"] for c in day["channels"])
    shares = [int(Fraction(100 * c["net_cents"], total) + Fraction(1, 2)) for c in day["channels"]]
    channels = doc.find("channels").all("li")
    assert [(li.attrs["data-channel"], li.attrs["data-orders"], li.attrs["data-cents"],
             [span.text() for span in li.children if isinstance(span, Node)]) for li in channels] == \
        [(c["channel"], str(c["orders"]), str(c["net_cents"]),
          [c["channel"], "", f"{share}%", grouped(c["orders"]), dollars(c["net_cents"])])
         for c, share in zip(day["channels"], shares, strict=True)]
    countries = doc.find("top-countries").all("tr") + doc.find("more-countries").all("tr")
    assert [(r.attrs["data-country"], [td.text() for td in r.all("td")]) for r in countries] == \
        [(c["country"], [str(i), c["country"], grouped(c["orders"]), dollars(c["net_cents"])])
         for i, c in enumerate(day["countries"], 1)]
    reasons = doc.find("dead-letter-reasons").all("tr")
    assert {r.attrs["data-reason"]: int(r.attrs["data-count"] or "") for r in reasons} == day["dead_letters"]


def test_the_busiest_seconds_are_listed_and_drawn(report: str) -> None:
    seconds = make_seconds()
    rows = parse(report).find("busiest-seconds").all("tr")
    expect = [[str(i), time.strftime("%H:%M:%S", time.gmtime(s["start_ms"] // 1000)), grouped(s["orders"]),
               dollars(s["net_cents"])] for i, s in enumerate(seconds, 1)]
    assert [[td.text() for td in r.all("td")] for r in rows] == expect
    data, _, _ = newplot(report, "chart-seconds")
    assert data[0]["y"] == [e[1] for e in expect]
    assert data[0]["text"] == [e[3] for e in expect]


def test_the_minute_chart_has_every_minute_of_the_day(day: dict[str, Any], report: str) -> None:
    data, layout, config = newplot(report, "chart-minutes")
    bars = data[0]
    assert bars["type"] == "bar" and len(bars["x"]) == 1440
    assert bars["x"][0] == "2025-11-28 00:00:00" and bars["x"][-1] == "2025-11-28 23:59:00"
    nets = [m["gross_cents"] - m["refunds_cents"] for m in day["minutes"]]
    assert [round(y * 100) for y in bars["y"]] == nets
    orders = grouped(day["minutes"][300]["orders"])
    assert bars["customdata"][300] == f"{dollars(nets[300])} net · {orders} orders"
    assert bars["customdata"][300].startswith("-$")
    assert bars["marker"]["opacity"][-3:] == [0.6, 0.6, 0.6] and bars["marker"]["opacity"][0] == 1
    assert layout["xaxis"]["range"] == ["2025-11-28 00:00:00", "2025-11-29 00:00:00"]
    assert config == {"displayModeBar": False, "responsive": True}


def test_the_map_places_countries_by_iso3_and_names_those_it_cannot(day: dict[str, Any], report: str) -> None:
    data, layout, config = newplot(report, "chart-map")
    on_map = [c for c in day["countries"] if c["country"] not in OFF_MAP]
    assert data[0]["locations"] == [ISO3[c["country"]] for c in on_map]
    assert [round(z * 100) for z in data[0]["z"]] == [c["net_cents"] for c in on_map]
    assert layout["geo"]["scope"] == "world" and layout["geo"]["resolution"] == 110
    assert "topojsonURL" not in config
    assert parse(report).find("off-map").text().endswith(": SG, HK")
    assert ISO3["US"] == "USA" and ISO3["KW"] == "KWT" and ISO3["GB"] == "GBR" and len(ISO3) == 249
    topology = json.loads(topojson_path().read_text())
    drawn = {g["id"] for g in topology["objects"]["countries"]["geometries"] if g.get("id")}
    assert len(drawn) == 174 and drawn <= set(ISO3.values())


def test_names_with_markup_are_escaped(report: str) -> None:
    assert XSS_NAME not in report and "&lt;img src=x onerror=alert(1)&gt;" in report
    assert XSS_TITLE not in report and "&lt;script&gt;alert(2)&lt;/script&gt;" in report
    assert "<b>Bold</b>" not in report and "<b>odd</b>" not in report
    assert "東京ギア" in report  # text, not entities: the file is UTF-8
    assert not parse(report).all("img") and not parse(report).all("b")


def test_one_plotly_bundle_and_no_url_a_browser_would_fetch(report: str) -> None:
    bundle = plotly_js()
    assert report.count(bundle) == 1 and report.count("plotly.js v") == 1
    rest = report.replace(bundle, "")
    for needle in ("http://", "https://", "//cdn", "url(", "@import"):
        assert needle not in rest, needle
    doc = parse(rest)
    for node in doc.walk():
        for name in ("src", "href", "action", "data", "poster"):
            value = node.attrs.get(name)
            assert value is None or value.startswith("data:"), (node.tag, name, value)
    scripts = doc.all("script")
    assert len(scripts) == 5 and all(not s.attrs for s in scripts)  # bundle, topojson, three charts


def test_the_content_security_policy_allows_exactly_the_files_own_scripts(report: str) -> None:
    doc = parse(report)
    csp = next(m.attrs["content"] for m in doc.all("meta")
               if m.attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and csp.startswith("default-src 'none'; ")
    allowed = set(re.findall(r"'sha256-([^']+)'", csp))
    scripts = [s.text() for s in doc.all("script")]
    assert {base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts} == allowed
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_no_audit_and_no_seconds_say_so() -> None:
    day = make_day(3)
    doc = parse(render(day, seconds=None, verdict=None, meta={}))
    assert doc.find("verdict").text() == "not audited" and doc.find("verdict").attrs["data-ok"] == "none"
    assert "not given" in doc.find("seconds-missing").text()
    failed = {"ok": False, "line": "MISMATCH: minute 12:03 differs by $0.01 <b>", "offsets": {"0": [0, 9]}}
    doc = parse(render(day, seconds=[], verdict=failed, meta=META))
    assert doc.find("verdict").text() == "audit failed" and doc.find("verdict").attrs["data-ok"] == "false"
    assert doc.find("verdict-line").text() == failed["line"]
    assert doc.find("offsets-differ")  # the audit read other offsets than the report says it did


def test_the_footer_shows_the_verdict_offsets_and_commit(report: str) -> None:
    doc = parse(report)
    assert doc.find("verdict").text() == "verified" and doc.find("verdict").attrs["data-ok"] == "true"
    assert doc.find("verdict-line").text() == VERDICT["line"]
    assert doc.find("commit").text() == META["commit"]
    assert doc.find("topic").text() == "orders"
    assert doc.find("generated").text() == "2025-11-29 02:00:00 UTC"
    assert [[td.text() for td in r.all("td")] for r in doc.find("offsets").all("tr")] == \
        [[str(p), "0", grouped(150_000 + p)] for p in range(8)]
    assert "offsets-differ" not in report


def test_missing_figures_show_a_dash() -> None:
    doc = parse(render({"day": DAY, "totals": {"orders": 3}}, seconds=None, verdict=None, meta={}))
    assert doc.find("orders").text() == "3"
    assert doc.find("net-sales").text() == "–" and "data-cents" not in doc.find("net-sales").attrs
    assert doc.find("top-merchants").all("tr")[0].text() == "–"


def test_write_replaces_the_file_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "day.html"
    write(target, "<p>old</p>")
    assert target.read_text() == "<p>old</p>"
    with pytest.raises(UnicodeEncodeError):
        write(target, "<p>new" + "x" * 100_000 + "\ud800</p>")  # fails half-way through writing
    assert target.read_text() == "<p>old</p>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.html"]


# ---- in a browser, offline ----

SHOWN = """() => {
  const q = (s) => document.querySelector(s);
  return {
    totals: {net_cents: Number(q('#net-sales').dataset.cents),
             gross_cents: Number(q('#gross').dataset.cents),
             refunds_cents: Number(q('#refunds').dataset.cents),
             aov_cents: Number(q('#aov').dataset.cents),
             orders: Number(q('#orders').dataset.value),
             unique_customers: Number(q('#shoppers').dataset.value)},
    text: ['#net-sales', '#gross', '#refunds', '#aov', '#orders', '#shoppers'].map((s) => q(s).textContent),
    plots: document.querySelectorAll('.js-plotly-plot').length,
    bars: document.querySelectorAll('#chart-minutes .bars .point').length,
    seconds: document.querySelectorAll('#chart-seconds .bars .point').length,
    countries: document.querySelectorAll('#chart-map path.choroplethlocation').length,
    borders: (q('#chart-map .countries path') || {getAttribute: () => ''}).getAttribute('d').length,
    merchants: Array.from(document.querySelectorAll('#top-merchants tr .name')).map((td) => td.textContent),
    titles: Array.from(document.querySelectorAll('#top-products tr .name'))
      .map((td) => td.firstChild.textContent),
    markup: document.querySelectorAll('img, b, i').length,
    scripts: document.scripts.length,
  };
}"""


def open_offline(tab: Page, path: Path) -> tuple[list[str], list[str]]:
    """Open the file with every request that is not the file itself refused; what was asked, what failed."""
    asked: list[str] = []
    failed: list[str] = []

    def route(r: Route) -> None:
        asked.append(r.request.url)
        if r.request.url == path.as_uri():
            r.continue_()
        else:
            r.abort()

    tab.context.route("**/*", route)
    tab.context.set_offline(True)
    tab.on("requestfailed", lambda request: failed.append(request.url))
    tab.goto(path.as_uri())
    tab.wait_for_function("document.querySelectorAll('#chart-map path.choroplethlocation').length > 0",
                          timeout=20_000)
    return asked, failed


@pytest.mark.browser
def test_the_report_opens_offline_and_draws_every_chart(
    day: dict[str, Any], report: str, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    path = write(tmp_path / "report.html", report)
    asked, failed = open_offline(tab, path)
    tab.wait_for_timeout(500)  # anything late to fail would do so now
    shown = tab.evaluate(SHOWN)
    assert errors == []
    assert asked == [path.as_uri()] and failed == []
    keys = ("net_cents", "gross_cents", "refunds_cents", "aov_cents", "orders", "unique_customers")
    assert shown["totals"] == {k: day["totals"][k] for k in keys}
    t = day["totals"]
    assert shown["text"] == [dollars(t["net_cents"]), dollars(t["gross_cents"]), dollars(t["refunds_cents"]),
                             dollars(t["aov_cents"]), grouped(t["orders"]), grouped(t["unique_customers"])]
    assert shown["plots"] == 3
    assert shown["bars"] == 1440 and shown["seconds"] == 20
    assert shown["countries"] == len(COUNTRIES) - len(OFF_MAP)  # a map without its topojson draws none
    assert shown["borders"] > 10_000  # and the borders of the world's countries are drawn
    tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)


@pytest.mark.browser
def test_names_with_markup_show_as_text_in_the_browser(
    day: dict[str, Any], report: str, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    opened: list[str] = []
    tab.on("dialog", lambda dialog: opened.append(dialog.message))
    path = write(tmp_path / "report.html", report)
    open_offline(tab, path)
    tab.wait_for_timeout(500)
    shown = tab.evaluate(SHOWN)
    assert shown["merchants"] == [m["name"] for m in day["top_merchants"]]
    assert XSS_NAME in shown["merchants"] and "東京ギア" in shown["merchants"]
    assert shown["titles"] == [p["title"] + " " for p in day["top_products"]]
    assert shown["markup"] == 0 and shown["scripts"] == 5  # the bundle, the topojson, three charts
    assert opened == [] and errors == []
