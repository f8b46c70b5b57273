"""Octopus tariff codes: what a code says about fuel, registers and the product it belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass

# E-1R-AGILE-24-10-01-C: fuel letter, register count, product code, region letter.
_TARIFF_CODE = re.compile(r"^(?P<fuel>[EG])-(?P<registers>\d)R-(?P<product>.+)-(?P<region>[A-P])$")

# The rate endpoints of a tariff (`/v1/products/{product}/{fuel}-tariffs/{code}/{component}/`).
STANDARD_UNIT_RATES = "standard-unit-rates"
DAY_UNIT_RATES = "day-unit-rates"
NIGHT_UNIT_RATES = "night-unit-rates"
STANDING_CHARGES = "standing-charges"


@dataclass(frozen=True)
class Tariff:
    code: str
    fuel: str  # "electricity" | "gas"
    registers: int  # 1 = single rate, 2 = day/night (Economy 7)
    product_code: str
    region: str

    @property
    def unit_rate_components(self) -> tuple[str, ...]:
        """Rate endpoints holding unit prices; two-register codes answer 400 on `standard-unit-rates`."""
        if self.registers == 2:
            return (DAY_UNIT_RATES, NIGHT_UNIT_RATES)
        return (STANDARD_UNIT_RATES,)

    @property
    def is_economy7(self) -> bool:
        return self.registers == 2


def parse_tariff_code(code: str) -> Tariff:
    match = _TARIFF_CODE.match(code.strip())
    if not match:
        raise ValueError(f"tariff code {code!r} is not of the form E-1R-PRODUCT-CODE-C")
    return Tariff(
        code=code.strip(),
        fuel="electricity" if match["fuel"] == "E" else "gas",
        registers=int(match["registers"]),
        product_code=match["product"],
        region=match["region"],
    )
