"""Aggregate sales figures: what one minute, one day or one partition adds up to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Totals:
    orders: int = 0  # orders placed; a refund changes money, not the count of orders
    gross_cents: int = 0
    refunds_cents: int = 0

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.refunds_cents

    def merge(self, other: Totals) -> None:
        self.orders += other.orders
        self.gross_cents += other.gross_cents
        self.refunds_cents += other.refunds_cents

    def subtract(self, other: Totals) -> None:
        self.orders -= other.orders
        self.gross_cents -= other.gross_cents
        self.refunds_cents -= other.refunds_cents

    def to_list(self) -> list[int]:
        return [self.orders, self.gross_cents, self.refunds_cents]

    @classmethod
    def from_list(cls, values: list[int]) -> Totals:
        orders, gross, refunds = values
        return cls(orders, gross, refunds)

    def as_dict(self) -> dict[str, Any]:
        return {"orders": self.orders, "gross_cents": self.gross_cents,
                "refunds_cents": self.refunds_cents, "net_cents": self.net_cents}

    def copy(self) -> Totals:
        return Totals(self.orders, self.gross_cents, self.refunds_cents)
