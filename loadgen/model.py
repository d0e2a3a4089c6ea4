"""The shoppers: a deterministic stream of order events (placed and refunded), rendered straight to the
JSON bytes that go on the wire.

Speed matters here (hundreds of thousands of events a second from one process), so the slow part — what
a basket holds — is made once per *slot*: a table of baskets (16,384, or 8 per merchant if more) shared
out among merchants by popularity, each rendered from its own seed before the run. An event then only
picks a slot and stamps ids, customer and time into a byte template. Over a long run every basket
recurs, as best-sellers do. The table is kept small on purpose: it must stay in the CPU cache.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from array import array
from collections.abc import Callable
from typing import Any

import orjson

from loadgen.catalog import CHANNELS, COUNTRIES, CURRENCY_OF, Catalog, Merchant
from loadgen.producer import Outgoing
from loadgen.shares import apportion
from stream.core.money import to_usd_cents

MIN_SLOTS = 1 << 14
SLOTS_PER_MERCHANT = 8  # so a merchant's share is not mostly the one slot everyone gets
RING = 1 << 14  # orders a refund may come back for: the last 16,384 whose number is a multiple of 8
RING_MASK = RING - 1
REFUNDABLE = 8  # only every 8th order is remembered for a refund: a store per event costs 15% of its time
CUSTOMERS = 2_000_000  # < 2**21: a customer number fits beside the slot in one ring entry
REFUND_RATE = 0.02

# A basket's body runs from merchant_id to `"customer_id":"c`; the customer number closes the event.
_PLACED = b'{"event_id":"%s%012x","type":"order_placed","order_id":"%s%012x","occurred_at":%d%s%07d"}'
_REFUNDED = b'{"event_id":"%s%012x","type":"order_refunded","order_id":"%s%012x","occurred_at":%d%s%07d"}'
_DOMESTIC = 0.75  # share of a merchant's buyers from its home market


class Model:
    """Events in a fixed order for a seed; `run_tag` makes the ids of one run differ from another's."""

    def __init__(self, catalog: Catalog, seed: int = 1, run_tag: str = "", refund_rate: float = REFUND_RATE
                 ) -> None:
        self.catalog = catalog
        self.refund_rate = refund_rate
        self.rng = random.Random(f"{seed}:traffic")
        self._random = self.rng.random
        self._seed = seed
        ids = random.Random(f"{seed}:ids:{run_tag}")
        self._event_prefix = _uuid_prefix(ids)
        self._order_prefix = _uuid_prefix(ids)
        self._stray_prefix = _uuid_prefix(ids)
        self.slots = max(MIN_SLOTS, SLOTS_PER_MERCHANT * len(catalog.merchants))
        owner, self.slot_ranges = _share_slots(catalog.popularity, self.slots)
        keys = [merchant.id.encode() for merchant in catalog.merchants]
        self._slot_merchant = owner
        self._keys = [keys[m] for m in owner]
        # One flat list or array per field, not an object per slot: a random slot costs one cache miss.
        self._bodies: list[bytes | None] = [None] * self.slots
        self._cents = array("q", bytes(8 * self.slots))
        self._partials: list[tuple[bytes, int] | None] = [None] * self.slots  # first line refunded alone
        # order number // REFUNDABLE -> slot << 21 | customer; -1: nothing to refund there
        self._ring = array("q", [-1]) * RING
        self.count = 0  # events made so far: the next event number
        self.refunds = 0
        self._next_refund = self._refund_after(0)
        self._focus: tuple[int, int, float] | None = None

    def focus(self, sale: tuple[int, float] | None) -> None:
        """A flash sale: (merchant, share of the orders it takes from now on); None ends it."""
        if sale is None:
            self._focus = None
        else:
            merchant, share = sale
            start, count = self.slot_ranges[merchant]
            self._focus = (start, count, share)

    def events(self, times: list[int], details: list[tuple[int, bool]] | None = None) -> list[Outgoing]:
        """One event for each occurred_at in `times`, ready to send: (value, key, occurred_at). With
        `details`, each event's (US cents, is a refund) is appended to it too."""
        rng, focus, slots, ring = self._random, self._focus, self.slots, self._ring
        bodies, cents, keys = self._bodies, self._cents, self._keys
        event_prefix, order_prefix, placed = self._event_prefix, self._order_prefix, _PLACED
        n = self.count
        out: list[Outgoing] = []
        add = out.append
        for at in times:
            if n == self._next_refund:
                self._next_refund = self._refund_after(n)
                refund = self._refund(n, at)
                if refund is not None:
                    n += 1
                    add((refund[0], refund[1], at))
                    if details is not None:
                        details.append((refund[2], True))
                    continue
            if focus is not None and rng() < focus[2]:
                u = rng() * focus[1]
                slot = focus[0] + int(u)
            else:
                u = rng() * slots
                slot = int(u)
            body = bodies[slot] or self._fill(slot)
            u -= int(u)  # the draw's unused low bits: uniform again, and independent of the slot
            u *= u
            customer = int(u * u * CUSTOMERS)  # skewed to low numbers: a loyal few come back again and again
            if not n % REFUNDABLE:
                ring[n // REFUNDABLE & RING_MASK] = slot << 21 | customer
            add((placed % (event_prefix, n, order_prefix, n, at, body, customer), keys[slot], at))
            if details is not None:
                details.append((cents[slot], False))
            n += 1
        self.count = n
        return out

    def sample(self, occurred_at: int) -> tuple[bytes, bytes]:
        """A placed order outside the sequence (its own ids), for faults to corrupt: value and key."""
        slot = int(self._random() * self.slots)
        body = self._bodies[slot] or self._fill(slot)
        n = self.rng.getrandbits(47)
        value = _PLACED % (self._stray_prefix, n, self._stray_prefix, n, occurred_at, body, 1)
        return value, self._keys[slot]

    def _refund_after(self, n: int) -> int:
        """The number of the next event to be a refund: geometric gaps, one draw per refund, not per event."""
        if self.refund_rate <= 0:
            return -1
        return n + 1 + int(math.log(1.0 - self._random()) / math.log(1.0 - self.refund_rate))

    def _refund(self, n: int, occurred_at: int) -> tuple[bytes, bytes, int] | None:
        """Event n refunds an earlier order, whole or its first line: value, key, US cents."""
        if not n % REFUNDABLE:
            self._ring[n // REFUNDABLE & RING_MASK] = -1  # a refund is not an order to refund later
        remembered = (n - 1) // REFUNDABLE + 1  # orders 0, 8, 16, ... before n
        for _ in range(8):  # an order already refunded (or a refund itself) is passed over
            index = remembered - 1 - int(self._random() * min(remembered, RING))
            entry = self._ring[index & RING_MASK]
            if entry >= 0:
                break
        else:
            return None
        self._ring[index & RING_MASK] = -1
        order = index * REFUNDABLE
        slot, customer = entry >> 21, entry & (1 << 21) - 1
        self.refunds += 1
        body, cents = self._bodies[slot] or b"", self._cents[slot]
        partial = self._partials[slot]
        if partial is not None and self._random() < 0.3:
            body, cents = partial
        value = _REFUNDED % (self._event_prefix, n, self._order_prefix, order, occurred_at, body, customer)
        return value, self._keys[slot], cents

    def prepare(self, most: int = 1 << 16) -> None:
        """Make every basket now (about 16 µs each) if there are at most `most`; else each on first use."""
        if self.slots <= most:
            for slot in range(self.slots):
                self._bodies[slot] or self._fill(slot)

    def _fill(self, slot: int) -> bytes:
        merchant = self.catalog.merchants[self._slot_merchant[slot]]
        whole, partial = _basket(merchant, random.Random((self._seed << 20) + slot))
        self._bodies[slot], self._cents[slot] = whole
        self._partials[slot] = partial
        return whole[0]


def _basket(merchant: Merchant, rng: random.Random) -> tuple[tuple[bytes, int], tuple[bytes, int] | None]:
    """The body and US cents of an order, and of a refund of just its first line (None for one line)."""
    draw = rng.random
    if draw() < _DOMESTIC:
        country, channel = merchant.home, _pick(draw, _CHANNELS)
    else:
        country, channel = _pick(draw, _COUNTRIES), _pick(draw, _REMOTE_CHANNELS)
    currency = CURRENCY_OF[country]
    count = merchant.product_count
    lines = []
    for _ in range(min(20, max(1, round(math.exp(rng.gauss(0.4, 0.6)))))):  # log-normal basket size
        product = merchant.product(int(count * draw() ** 2.5))  # best-sellers first
        lines.append({"sku": product.sku, "title": product.title, "qty": _pick(draw, _QUANTITIES),
                      "price_minor": product.price_in(currency)})

    def render(part: list[dict[str, Any]]) -> tuple[bytes, int]:
        total = sum(line["qty"] * line["price_minor"] for line in part)
        doc = orjson.dumps({"merchant_id": merchant.id, "merchant_name": merchant.name, "country": country,
                            "channel": channel, "currency": currency, "total_minor": total, "lines": part})
        return b"," + doc[1:-1] + b',"customer_id":"c', to_usd_cents(total, currency)

    return render(lines), render(lines[:1]) if len(lines) > 1 else None


def _table(pairs: list[tuple[Any, int]]) -> tuple[list[Any], list[float]]:
    values, weights = zip(*pairs, strict=True)
    return list(values), [w / sum(weights) for w in itertools.accumulate(weights)]


def _pick(draw: Callable[[], float], table: tuple[list[Any], list[float]]) -> Any:
    values, cumulative = table
    return values[bisect.bisect(cumulative, draw() * cumulative[-1])]


_CHANNELS = _table(CHANNELS)
_REMOTE_CHANNELS = _table([(c, w) for c, w in CHANNELS if c != "pos"])  # no till across a border
_COUNTRIES = _table([(country, weight) for country, weight, _ in COUNTRIES])
_QUANTITIES = _table([(1, 75), (2, 17), (3, 5), (4, 2), (6, 1)])


def _share_slots(popularity: list[float], slots: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Give every merchant at least one slot and the rest in proportion to popularity (largest remainder)."""
    counts = [1 + extra for extra in apportion(popularity, slots - len(popularity))]
    owner: list[int] = []
    ranges = []
    for merchant, count in enumerate(counts):
        ranges.append((len(owner), count))
        owner.extend([merchant] * count)
    return owner, ranges


def _uuid_prefix(rng: random.Random) -> bytes:
    # Looks like a UUIDv4 whose last group is the event number: unique without hashing per event.
    text = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-" \
           f"{8 + rng.getrandbits(2):x}{rng.getrandbits(12):03x}-"
    return text.encode()
