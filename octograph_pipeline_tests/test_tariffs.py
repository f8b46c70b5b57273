import pytest

from octograph_pipeline.core.tariffs import parse_tariff_code


@pytest.mark.parametrize(
    ("code", "fuel", "registers", "product"),
    [
        ("E-1R-AGILE-24-10-01-C", "electricity", 1, "AGILE-24-10-01"),
        ("E-2R-VAR-22-11-01-A", "electricity", 2, "VAR-22-11-01"),
        ("G-1R-VAR-22-11-01-C", "gas", 1, "VAR-22-11-01"),
        ("E-1R-OUTGOING-FIX-12M-19-05-13-C", "electricity", 1, "OUTGOING-FIX-12M-19-05-13"),
    ],
)
def test_product_code_from_tariff_code(code, fuel, registers, product):
    tariff = parse_tariff_code(code)
    assert (tariff.fuel, tariff.registers, tariff.product_code) == (fuel, registers, product)
    assert tariff.unit_rate_components == (
        ("day-unit-rates", "night-unit-rates") if registers == 2 else ("standard-unit-rates",)
    )


def test_malformed_tariff_code_is_named():
    with pytest.raises(ValueError, match="'AGILE'"):
        parse_tariff_code("AGILE")
