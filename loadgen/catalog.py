"""The shops the traffic comes from: merchants with Zipf popularity, home markets, awkward names and
product lists with prices in every currency. Built from the seed alone, so a seed names the same world."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import NamedTuple

from stream.core.money import CURRENCIES

# (country, weight, currency): big markets first; a buyer pays in the local currency.
COUNTRIES: list[tuple[str, int, str]] = [
    ("US", 40, "USD"), ("GB", 9, "GBP"), ("DE", 8, "EUR"), ("CA", 6, "CAD"), ("FR", 5, "EUR"),
    ("AU", 4, "AUD"), ("JP", 4, "JPY"), ("NL", 3, "EUR"), ("IT", 3, "EUR"), ("ES", 3, "EUR"),
    ("SE", 2, "SEK"), ("CH", 2, "CHF"), ("PL", 2, "PLN"), ("BR", 3, "BRL"), ("MX", 2, "MXN"),
    ("IN", 2, "INR"), ("KR", 1, "KRW"), ("KW", 1, "KWD"),
]
CURRENCY_OF = {country: currency for country, _, currency in COUNTRIES}
CHANNELS: list[tuple[str, int]] = [("online", 55), ("mobile", 30), ("pos", 10), ("social", 5)]
ZIPF_EXPONENT = 1.1  # a few merchants take most orders, as on any marketplace

# Real shop names are messy: quotes, markup-looking text, non-ASCII and astral characters must all
# survive the trip to the page as text. The first ones go to the most popular merchants, to be seen.
FAMOUS = ["Ölberg Outfitters", "Café “Zuckerl”", "<b>Bold</b> Deals", "O'Reilly & Sons", "東京ギア",
          "Łódź Lamps", "Ñandú Sports", 'The "Best" Buy', "Müller Möbel", "São Paulo Surf"]
_FIRST = ["Ölberg", "Zoë's", "Ångström", "Kraków", "Dvořák", "Straße", "Αθήνα", "Москва", "서울", "دبي",
          "Crème", "Piñata", "Façade", "Björk", "O'Neil", '"Prime"', "<i>Indie</i>", "Jack & Jill's",
          "🎁 Gift", "Back\\Slash", "Nordic", "Urban", "Golden", "Blue Fox", "Maple", "Sunrise", "Coastal",
          "Evergreen", "Atlas", "Harbor"]
_SECOND = ["Outfitters", "Deals", "& Sons", "Lamps", "Sports", "Buy", "Möbel", "Surf", "Gear", "Market",
           "Boutique", "Supply Co.", "Emporium", "Trading", "<b>Outlet</b>", '"Express"', "Bazaar", "Atelier",
           "Warenhaus", "商店"]
_SUFFIX = ["", "", "", " GmbH", " Ltd.", " S.A.", " & Co.", " 株式会社", " — since 1987"]
_GOODS = ["Mug", "Hoodie", "Lamp", "Sneaker", "Backpack", "Candle", "Poster", "Scarf", "Headphones", "Tent",
          "Kettle", "Jacket", "Blender", "Watch", "Novel", "Skateboard", "Tea set", "Drone", "Sofa", "Cap"]
_STYLES = ["Classic", "Pro", "Mini", "Deluxe", "Eco", "Retro", "Limited", "Everyday", "Ultra", "Kids'"]


class Product(NamedTuple):
    sku: str
    title: str
    usd_cents: int

    def price_in(self, currency: str) -> int:
        """The shelf price in minor units of `currency`: converted, then rounded the way shops round."""
        exponent = CURRENCIES[currency].exponent
        minor = math.ceil(self.usd_cents * 10**exponent / (100 * _USD_RATE[currency]))
        if exponent == 2 and minor > 100:
            return int(minor - minor % 100 + 99)  # $12.99, not $12.37
        if exponent == 0:
            step = 100 if minor > 10_000 else 10  # ¥1,280 and ₩15,900
            return int(max(step, -(-minor // step) * step))
        return int(max(1, minor))


@dataclass(frozen=True)
class Merchant:
    index: int
    id: str
    name: str
    home: str  # country most of its buyers come from
    seed: int

    @property
    def product_count(self) -> int:
        return _PRODUCT_COUNTS[_mix(self.seed, self.index, -1) % len(_PRODUCT_COUNTS)]

    def product(self, number: int) -> Product:
        """Product `number` of this merchant, from a hash of (seed, merchant, number): any product is
        made directly, in any order, and is the same every time."""
        h = _mix(self.seed, self.index, number)
        title = f"{_KINDS_OF_GOODS[h % len(_KINDS_OF_GOODS)]} {number}"
        return Product(f"{self.id}-p{number:04d}", title, _PRICES[(h >> 16) % len(_PRICES)])


def _mix(*values: int) -> int:
    """splitmix64 over the values: a stable, well-spread 64-bit number."""
    z = 0
    for value in values:
        z = (z ^ value) + 0x9E3779B97F4A7C15 & _MASK64
        z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9 & _MASK64
        z = (z ^ z >> 27) * 0x94D049BB133111EB & _MASK64
        z ^= z >> 31
    return z


def _lognormal_quantiles(mu: float, sigma: float, low: int, high: int) -> list[int]:
    # 1,024 equally likely values: a table lookup instead of a draw from the distribution
    return [min(high, max(low, int(math.exp(mu + sigma * NormalDist().inv_cdf((i + 0.5) / 1024)))))
            for i in range(1024)]


_MASK64 = (1 << 64) - 1
_USD_RATE = {code: float(Decimal(c.usd_rate)) for code, c in CURRENCIES.items()}  # shelf prices only
_KINDS_OF_GOODS = [f"{style} {goods}" for style in _STYLES for goods in _GOODS]
_PRICES = _lognormal_quantiles(7.8, 1.0, 50, 200_000)  # US cents: median $24, 50¢ to $2,000
_PRODUCT_COUNTS = _lognormal_quantiles(3.5, 1.0, 3, 500)  # median 33 products a merchant


class Catalog:
    def __init__(self, seed: int = 1, merchants: int = 2000) -> None:
        if merchants < 1:
            raise ValueError("a catalog needs at least one merchant")
        rng = random.Random(f"{seed}:catalog")
        countries = [c for c, _, _ in COUNTRIES]
        weights = [w for _, w, _ in COUNTRIES]
        self.seed = seed
        self.merchants = [
            Merchant(i, f"m{i:05d}", FAMOUS[i] if i < len(FAMOUS) else _name(rng, i),
                     rng.choices(countries, weights)[0], seed)
            for i in range(merchants)
        ]
        raw = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(merchants)]
        total = sum(raw)
        self.popularity = [w / total for w in raw]  # share of orders, by merchant index (= rank)


def _name(rng: random.Random, index: int) -> str:
    name = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}{rng.choice(_SUFFIX)}"
    return name if rng.random() < 0.7 else f"{name} #{index}"
