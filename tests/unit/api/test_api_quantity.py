"""Kubernetes resource quantities: parsing exactly, rounding like apimachinery, formatting back.

The property tests check ``tmc.api.quantity`` against an oracle built independently here, with
``fractions.Fraction`` from the grammar's pieces, and check every formatted value against the pattern
Kubernetes publishes for quantities in its OpenAPI schema.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmc.api.quantity import format_bytes, format_cpu, parse_bytes, parse_cpu_millis

INT64_MAX = 2**63 - 1
# The `pattern` of io.k8s.apimachinery.pkg.api.resource.Quantity in Kubernetes' published OpenAPI.
KUBERNETES_PATTERN = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
MULTIPLIERS: dict[str, Fraction] = {
    "": Fraction(1),
    **{
        suffix: Fraction(10) ** power
        for suffix, power in zip("numkMGTPE", (-9, -6, -3, 3, 6, 9, 12, 15, 18), strict=True)
    },
    **{f"{prefix}i": Fraction(2) ** power for prefix, power in zip("KMGTPE", (10, 20, 30, 40, 50, 60), strict=True)},
}


def away_from_zero(value: Fraction) -> int:
    """apimachinery's ScaledValue rounding: the next integer away from zero."""
    return math.ceil(value) if value >= 0 else math.floor(value)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("128974848", 128974848, id="a plain integer is bytes"),
        pytest.param("1n", 1, id="one nano byte rounds up to a whole byte"),
        pytest.param("1500000000n", 2, id="nano: 1.5 bytes rounds up"),
        pytest.param("2000000u", 2, id="micro"),
        pytest.param("3000m", 3, id="milli"),
        pytest.param("1k", 1000, id="kilo is a power of ten"),
        pytest.param("129M", 129_000_000, id="mega"),
        pytest.param("1G", 10**9, id="giga"),
        pytest.param("2T", 2 * 10**12, id="tera"),
        pytest.param("3P", 3 * 10**15, id="peta"),
        pytest.param("4E", 4 * 10**18, id="exa: a capital E without digits is a suffix"),
        pytest.param("1Ki", 1024, id="kibi is a power of two"),
        pytest.param("123Mi", 123 * 2**20, id="mebi"),
        pytest.param("16Gi", 16 * 2**30, id="gibi"),
        pytest.param("2Ti", 2 * 2**40, id="tebi"),
        pytest.param("3Pi", 3 * 2**50, id="pebi"),
        pytest.param("7Ei", 7 * 2**60, id="exbi up to the int64 range"),
        pytest.param("1e3", 1000, id="lower-case decimal exponent"),
        pytest.param("1E3", 1000, id="upper-case decimal exponent followed by digits is an exponent"),
        pytest.param("129e6", 129_000_000, id="exponent form of a mega value"),
        pytest.param("1e+3", 1000, id="exponent with a plus sign"),
        pytest.param("1E-3", 1, id="negative exponent rounds up to a whole byte"),
        pytest.param("1.5e3", 1500, id="fraction with an exponent"),
        pytest.param("1.5Gi", 3 * 2**29, id="fraction of a binary suffix"),
        pytest.param("0.5", 1, id="half a byte rounds up"),
        pytest.param(".5Ki", 512, id="leading dot"),
        pytest.param("1.Ki", 1024, id="trailing dot"),
        pytest.param("007", 7, id="leading zeros"),
        pytest.param("+1Ki", 1024, id="explicit plus sign"),
        pytest.param("-1Ki", -1024, id="negative"),
        pytest.param("-0.5", -1, id="negative fractions round away from zero like Quantity.Value"),
        pytest.param("-0", 0, id="negative zero is zero"),
        pytest.param("8030568Ki", 8030568 * 1024, id="a real node's allocatable memory"),
        pytest.param("123456789012345678", 123456789012345678, id="an integer a float would round"),
        pytest.param("9007199254740993", 2**53 + 1, id="two to the 53 plus one stays exact"),
        pytest.param("1.1Ei", 1268213655067531674, id="a fraction of exbi stays exact"),
        pytest.param("9223372036854775807", INT64_MAX, id="the int64 maximum"),
        pytest.param("0." + "0" * 1000 + "1", 1, id="a value far below a nano rounds up to one"),
    ],
)
def test_parse_bytes(quantity: str, expected: int) -> None:
    assert parse_bytes(quantity) == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("4", 4000, id="whole cores"),
        pytest.param("500m", 500, id="millicores"),
        pytest.param("3920m", 3920, id="a real node's allocatable cpu"),
        pytest.param("1.5", 1500, id="fractional cores"),
        pytest.param("0.1m", 1, id="a tenth of a millicore rounds up like MilliValue"),
        pytest.param("1500001u", 1501, id="micro rounds up"),
        pytest.param("250000000n", 250, id="nano"),
        pytest.param("2k", 2_000_000, id="kilo cores"),
        pytest.param("1Ki", 1_024_000, id="a binary suffix is a valid cpu quantity too"),
        pytest.param("1e-3", 1, id="exponent down to a millicore"),
        pytest.param("1E2", 100_000, id="upper-case exponent"),
        pytest.param("+2", 2000, id="explicit plus sign"),
        pytest.param("-1.5", -1500, id="negative"),
        pytest.param("-0.0001", -1, id="negative rounds away from zero"),
        pytest.param("9223372036854775807m", INT64_MAX, id="the int64 maximum in millicores"),
    ],
)
def test_parse_cpu_millis(quantity: str, expected: int) -> None:
    assert parse_cpu_millis(quantity) == expected


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        pytest.param("", "expected", id="empty"),
        pytest.param("+", "expected", id="a sign alone"),
        pytest.param("-", "expected", id="a minus alone"),
        pytest.param(".", "expected", id="a dot alone"),
        pytest.param("Gi", "expected", id="a suffix alone"),
        pytest.param("abc", "expected", id="letters"),
        pytest.param("1K", "expected", id="upper-case K is not kilo"),
        pytest.param("1ki", "expected", id="lower-case ki is not kibi"),
        pytest.param("1Gb", "expected", id="unknown suffix"),
        pytest.param("1GiB", "expected", id="trailing unit"),
        pytest.param("1e", "expected", id="lower-case e without digits"),
        pytest.param("1e+", "expected", id="exponent sign without digits"),
        pytest.param("1e1.5", "expected", id="fractional exponent"),
        pytest.param("1.5.5", "expected", id="two dots"),
        pytest.param("--1", "expected", id="two signs"),
        pytest.param(" 1", "expected", id="leading space"),
        pytest.param("1 ", "expected", id="trailing space"),
        pytest.param("1\n", "expected", id="trailing newline"),
        pytest.param("1_000", "expected", id="underscores Python would accept"),
        pytest.param("NaN", "expected", id="not a number"),
        pytest.param("Infinity", "expected", id="infinity"),
        pytest.param("\u0661", "expected", id="non-ASCII digits"),
        pytest.param("0x10", "expected", id="hexadecimal"),
        pytest.param("1e99999999999", "exponent out of range", id="exponent beyond int32"),
        pytest.param("8Ei", "out of range", id="8Ei is two to the 63"),
        pytest.param("9223372036854775808", "out of range", id="one past the int64 maximum"),
        pytest.param("-9223372036854775808", "out of range", id="the int64 minimum has no positive twin"),
        pytest.param("1e2000000000", "out of range", id="huge exponent fails fast"),
        pytest.param("9223372036854775807.5", "out of range", id="a fraction above the maximum"),
    ],
)
def test_invalid_bytes_raise_value_error_naming_the_value(quantity: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(quantity))) as raised:
        parse_bytes(quantity)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    "quantity",
    [
        pytest.param("9223372036854776", id="millicores overflow before bytes would"),
        pytest.param("1K", id="upper-case K"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_cpu_raises_value_error_naming_the_value(quantity: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(quantity))):
        parse_cpu_millis(quantity)


@pytest.mark.parametrize(
    "value",
    [pytest.param(4, id="an int"), pytest.param(None, id="None"), pytest.param(1.5, id="a float")],
)
def test_a_non_string_raises_value_error_naming_its_type(value: Any) -> None:
    with pytest.raises(ValueError, match=f"must be a string.*not {type(value).__name__}"):
        parse_bytes(value)


def test_a_huge_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"\(100002 characters\)") as raised:
        parse_bytes("x" * 100_000)
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize(
    ("millis", "expected"),
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(4000, "4", id="whole cores"),
        pytest.param(1500, "1500m", id="millicores"),
        pytest.param(-2000, "-2", id="negative whole cores"),
        pytest.param(-1500, "-1500m", id="negative millicores"),
    ],
)
def test_format_cpu(millis: int, expected: str) -> None:
    assert format_cpu(millis) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(1000, "1000", id="not a multiple of 1024 stays plain"),
        pytest.param(1024, "1Ki", id="kibi"),
        pytest.param(1536 * 2**20, "1536Mi", id="the largest suffix that divides exactly"),
        pytest.param(16 * 2**30, "16Gi", id="gibi"),
        pytest.param(2**40, "1Ti", id="tebi"),
        pytest.param(3 * 2**50, "3Pi", id="pebi"),
        pytest.param(7 * 2**60, "7Ei", id="exbi"),
        pytest.param(-(2**30), "-1Gi", id="negative"),
    ],
)
def test_format_bytes(value: int, expected: str) -> None:
    assert format_bytes(value) == expected


# Quantities drawn from the grammar's pieces, each with its exact value computed independently.
@st.composite
def quantities(draw: st.DrawFn) -> tuple[str, Fraction]:
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text("0123456789", max_size=12))
    dot = draw(st.booleans()) or not whole
    fraction = draw(st.text("0123456789", min_size=0 if whole else 1, max_size=12)) if dot else ""
    number = whole + ("." if dot else "") + fraction
    digits_value = Fraction(int(whole + fraction or "0"), 10 ** len(fraction))
    if draw(st.booleans()):
        exponent = draw(st.integers(-20, 20))
        marker = draw(st.sampled_from(["e", "E"]))
        written = f"+{exponent}" if exponent >= 0 and draw(st.booleans()) else str(exponent)
        suffix, multiplier = f"{marker}{written}", Fraction(10) ** exponent
    else:
        suffix = draw(st.sampled_from(sorted(MULTIPLIERS)))
        multiplier = MULTIPLIERS[suffix]
    value = digits_value * multiplier
    return sign + number + suffix, -value if sign == "-" else value


@given(quantities())
def test_parse_bytes_is_exact_and_rounds_away_from_zero(drawn: tuple[str, Fraction]) -> None:
    quantity, value = drawn
    expected = away_from_zero(value)
    if abs(expected) > INT64_MAX:
        with pytest.raises(ValueError, match="out of range"):
            parse_bytes(quantity)
    else:
        assert parse_bytes(quantity) == expected


@given(quantities())
def test_parse_cpu_millis_is_ceil_of_the_exact_millicores(drawn: tuple[str, Fraction]) -> None:
    quantity, value = drawn
    expected = away_from_zero(value * 1000)
    if abs(expected) > INT64_MAX:
        with pytest.raises(ValueError, match="out of range"):
            parse_cpu_millis(quantity)
    else:
        assert parse_cpu_millis(quantity) == expected


@given(st.integers(-INT64_MAX, INT64_MAX))
def test_format_cpu_round_trips_and_is_a_kubernetes_quantity(millis: int) -> None:
    text = format_cpu(millis)
    assert KUBERNETES_PATTERN.match(text), text
    assert parse_cpu_millis(text) == millis


@given(
    st.one_of(
        st.integers(-INT64_MAX, INT64_MAX),
        # Exact multiples of the binary suffixes, which the formatter shortens.
        st.builds(lambda n, power: n * 2**power, st.integers(-7, 7), st.sampled_from([10, 20, 30, 40, 50, 60])),
        st.builds(lambda n: n * 2**30, st.integers(-(2**33) + 1, 2**33 - 1)),
    )
)
def test_format_bytes_round_trips_and_is_a_kubernetes_quantity(value: int) -> None:
    text = format_bytes(value)
    assert KUBERNETES_PATTERN.match(text), text
    assert parse_bytes(text) == value
