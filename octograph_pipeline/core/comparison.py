"""What the same half-hours would have cost on other Octopus products: "should I switch?", answered per day.

Each meter's readings are priced on a candidate product's tariff exactly as `priced_consumption` prices them on
the actual one (`frames.rate_points` and `frames.priced_points`: rates in force per interval, Economy 7 windows,
the day's standing charge spread over its 46/48/50 intervals), so the actual product compared with itself costs
exactly the actual cost. The candidate's tariff is the one the product offers in the meter's region, with the
meter's registers if offered (else single-register). Pure: products and rates are looked up through callables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd

from octograph_pipeline.core import days, frames
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.models import Product
from octograph_pipeline.core.settings import ComparisonSettings, PointTags, PriceRules
from octograph_pipeline.core.tariffs import parse_tariff_code

# product code -> the product's tariffs for the configured payment method, or None if there is no such product
ProductLookup = Callable[[str], Product | None]
POINT = [s.FUEL, s.METER_POINT, s.IS_EXPORT]  # a comparison point's meter point
INTELLIGENT_PRODUCTS = "INTELLI-"  # Intelligent Octopus products: smart charges at the off-peak rate


@dataclass(frozen=True)
class Candidate:
    product_code: str
    fuel: str
    is_export: bool

    @property
    def meters(self) -> str:
        return "export" if self.is_export else self.fuel


def candidates(comparison: ComparisonSettings) -> list[Candidate]:
    """The configured products, each for the meters it applies to."""
    return (
        [Candidate(code, "electricity", False) for code in comparison.products]
        + [Candidate(code, "electricity", True) for code in comparison.export_products]
        + [Candidate(code, "gas", False) for code in comparison.gas_products]
    )


def compare(
    consumption: pd.DataFrame,
    prices: pd.DataFrame,
    segments: pd.DataFrame,
    products: ComparisonSettings,
    rules: PriceRules,
    tags: PointTags,
    product: ProductLookup,
    rates: frames.RatesLookup,
    smart_slots: pd.Series | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Points of `tariff_comparison`: per meter point and interval, the cost on the tariffs in force (product
    `actual`) and on each candidate, with what the candidate would save; and a warning for each candidate, meter
    point or day that cannot be compared (no such product, none in the region, prices missing on a day).
    Intelligent Octopus smart-charge half-hours (`smart_slots`) cost the off-peak rate on the actual tariffs, as
    in `priced_consumption`, and on candidate Intelligent products (`INTELLI-...`), not on others."""
    product = functools.cache(product)  # a product asked for import and gas (Tracker) is fetched once
    actual = _per_point(frames.priced_points(consumption, prices, segments, rules, tags, smart_slots)[1])
    actual = actual[actual[s.TOTAL_COST["exc"]].notna()]
    parts, warnings = [actual.assign(**{s.PRODUCT_CODE: s.ACTUAL})], []
    actual_totals = actual.groupby([*POINT, s.TIME])[[*s.TOTAL_COST.values()]].sum()
    for candidate in candidates(products):
        meter_segments = segments[
            (segments[s.FUEL] == candidate.fuel) & (segments[s.IS_EXPORT].astype(bool) == candidate.is_export)
        ]
        if meter_segments.empty:
            continue  # no such meter in this window
        offer = product(candidate.product_code)
        if offer is None:
            warnings.append(f"{candidate.product_code}: Octopus has no such product; not compared")
            continue
        candidate_segments, missing = _on_candidate(meter_segments, offer)
        warnings += [
            f"{candidate.product_code}: no {candidate.meters} tariff in region {region} (meter point {point}); "
            "not compared there"
            for point, region in missing
        ]
        if candidate_segments.empty:
            continue
        candidate_prices, _ = frames.rate_points(candidate_segments, rates, rules, tags)
        slots = smart_slots if candidate.product_code.startswith(INTELLIGENT_PRODUCTS) else None
        details = frames.priced_points(consumption, candidate_prices, candidate_segments, rules, tags, slots)[1]
        points, unpriced = _complete_days(_per_point(details), rules.tz)
        warnings += [
            f"{candidate.product_code}: no prices for {meter} on {days.listing(day_keys)}; not compared there"
            for meter, day_keys in unpriced.items()
        ]
        parts.append(points.assign(**{s.PRODUCT_CODE: candidate.product_code}))
    compared = pd.concat(parts, ignore_index=True)
    saving = actual_totals.reindex(pd.MultiIndex.from_frame(compared[[*POINT, s.TIME]])).to_numpy()
    for column, vat in zip(saving.T, s.VAT, strict=True):
        compared[s.SAVING[vat]] = column - compared[s.TOTAL_COST[vat]].to_numpy()
    compared = compared.assign(**{s.MEASUREMENT: s.TARIFF_COMPARISON.name}, **tags.additional)
    return compared.reset_index(drop=True), warnings


def _on_candidate(meter_segments: pd.DataFrame, offer: Product) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The meters' agreement segments with the candidate's tariff in place of the actual one, and the (meter
    point, region) pairs the product has no tariff for."""
    tariffs = [parse_tariff_code(code) for code in meter_segments[s.TARIFF_CODE_TAG]]
    codes = [offer.tariff_for(t.fuel, t.registers, t.region) for t in tariffs]
    offered = pd.Series([code is not None for code in codes], index=meter_segments.index)
    missing = {
        (point, tariff.region)
        for point, tariff, code in zip(meter_segments[s.METER_POINT], tariffs, codes, strict=True)
        if code is None
    }
    on_candidate = meter_segments.assign(**{s.TARIFF_CODE_TAG: codes})[offered]
    return on_candidate, sorted(missing)


def _per_point(details: pd.DataFrame) -> pd.DataFrame:
    """Costs per meter point, tariff and interval (a replaced meter's serials on one point add up)."""
    columns = list(s.COST_COLUMNS)
    if details.empty:
        return pd.DataFrame(columns=[*POINT, s.TARIFF_CODE_TAG, s.TIME, *columns])
    grouped = details.groupby([*POINT, s.TARIFF_CODE_TAG, s.TIME], sort=False)[columns]
    return grouped.sum(min_count=1).reset_index()


def _complete_days(points: pd.DataFrame, tz: ZoneInfo) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """A candidate's points on the days it priced every interval of a meter point; the other days, by meter.
    (A partly priced day would look cheaper than it is.)"""
    day = days.keys(points[s.TIME], tz)
    unpriced = (
        points[s.TOTAL_COST["exc"]].isna().groupby([points[s.FUEL], points[s.METER_POINT], day]).transform("any")
    )
    skipped = points[unpriced].assign(day=day[unpriced]).drop_duplicates([s.FUEL, s.METER_POINT, "day"])
    by_meter = {
        f"{fuel} {point}": sorted(group["day"])
        for (fuel, point), group in skipped.groupby([s.FUEL, s.METER_POINT])
    }
    return points[~unpriced], by_meter
