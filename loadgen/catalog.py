"""The shops the traffic comes from: merchants with Zipf popularity, home markets, awkward names and
product lists with prices in every currency. Built from the seed alone, so a seed names the same world."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from stream.money import CURRENCIES

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


@dataclass(frozen=True)
class Product:
    sku: str
    title: str
    usd_cents: int

    def price_in(self, currency: str) -> int:
        """The shelf price in minor units of `currency`: converted, then rounded the way shops round."""
        exponent = CURRENCIES[currency].exponent
        minor = math.ceil(self.usd_cents * 10**exponent / (100 * _USD_RATE[currency]))
        if exponent == 2 and minor > 100:
            return minor - minor % 100 + 99  # $12.99, not $12.37
        if exponent == 0:
            step = 100 if minor > 10_000 else 10  # ¥1,280 and ₩15,900
            return max(step, -(-minor // step) * step)
        return max(1, minor)


@dataclass
class Merchant:
    index: int
    id: str
    name: str
    home: str  # country most of its buyers come from
    seed: int

    @cached_property
    def products(self) -> list[Product]:
        # Made on first sale from the merchant's own seed: the order merchants are visited in is irrelevant.
        rng = random.Random(f"{self.seed}:products:{self.index}")
        count = min(500, max(3, int(rng.lognormvariate(3.5, 1.0))))
        products = []
        draw = rng.random
        for number in range(count):
            title = f"{_STYLES[int(draw() * len(_STYLES))]} {_GOODS[int(draw() * len(_GOODS))]} {number}"
            usd_cents = min(200_000, max(50, int(math.exp(rng.gauss(7.8, 1.0)))))  # log-normal, median $24
            products.append(Product(f"{self.id}-p{number:04d}", title, usd_cents))
        return products


_USD_RATE = {code: float(Decimal(c.usd_rate)) for code, c in CURRENCIES.items()}  # shelf prices only


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
