"""Kubernetes resource quantities (``500m``, ``4Gi``, ``1.5e3``) as TMC reads and writes them in status.allocatable.

The grammar is apimachinery's ``resource.Quantity`` (its ``ParseQuantity`` is the reference)::

    quantity  ::= [sign] number [suffix]
    sign      ::= "+" | "-"
    number    ::= digits | digits "." [digits] | "." digits
    suffix    ::= binarySI | decimalSI | ("e" | "E") [sign] digits
    binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei                  (powers of 1024)
    decimalSI ::= n | u | m | k | M | G | T | P | E            (powers of 1000)

``1E`` is one exa (a decimalSI suffix), ``1E3`` is one thousand (an exponent): an exponent needs digits.

Why exact arithmetic: a float carries 53 bits, so ``7.5Ei`` or ``123456789012345678`` bytes would come back
a few units off; the value is built as a ``decimal.Decimal`` in a context that traps any inexact step, and
only the final rounding to an integer loses anything.

Rounding follows ``Quantity.Value()`` and ``Quantity.MilliValue()``: to the next integer away from zero
(ceil for the positive values nodes report), so ``0.1m`` CPU is 1 milli and ``0.5`` bytes is 1 byte: if you
asked for some of a resource you get some.

Deliberately stricter than ``ParseQuantity`` where it is lenient by accident: a bare ``+``, ``-`` or ``.``
is an error (Go reads it as zero; the OpenAPI pattern Kubernetes publishes for quantities rejects it), and
a result above 2^63-1 in magnitude (Kubernetes' documented limit) is an error rather than silently capped
or wrapped.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

__all__ = ["format_bytes", "format_cpu", "parse_bytes", "parse_cpu_millis"]

_BINARY_EXPONENT = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_EXPONENT = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_INT64_MAX = 2**63 - 1
# apimachinery reads the exponent into an int32; anything larger is not a quantity Kubernetes could store.
_EXPONENT_MAX = 2**31 - 1

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?"
)
_EXPECTED = "a number with an optional sign and suffix (n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<int>), e.g. '500m'"

# Unbounded precision and exponent range, and every inexact or overflowing step raises: the arithmetic below
# is exact by construction, and a trap firing would be a bug here, never a silently rounded capacity.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.Overflow, decimal.InvalidOperation],
)


def _shown(quantity: object) -> str:
    """``quantity`` for an error message; cut short so a megabyte of digits cannot flood a log line or an event."""
    text = repr(quantity)
    return text if len(text) <= 80 else f"{text[:60]}...({len(text)} characters)"


def _exact_value(quantity: str) -> Decimal:
    """The exact value ``quantity`` denotes; ValueError naming it if it is not a quantity."""
    if not isinstance(quantity, str):
        raise ValueError(
            f"invalid quantity {_shown(quantity)}: must be a string such as '500m', not {type(quantity).__name__}"
        )
    match = _QUANTITY.fullmatch(quantity)
    if match is None:
        raise ValueError(f"invalid quantity {_shown(quantity)}: expected {_EXPECTED}")
    exponent = 0
    if match["exponent"] is not None:
        digits = match["exponent"].lstrip("+-").lstrip("0")
        # Checked on the digits first: int() of a huge digit string is slow and has its own limit.
        if len(digits) > 10 or int(digits or "0") > _EXPONENT_MAX:
            raise ValueError(f"invalid quantity {_shown(quantity)}: exponent out of range")
        exponent = int(match["exponent"])
    elif match["decimal"] is not None:
        exponent = _DECIMAL_EXPONENT[match["decimal"]]
    # Built from validated ASCII pieces only: Decimal() alone would also take "NaN", "1_000" and Unicode digits.
    value = Decimal(f"{match['sign']}{match['number']}E{exponent}")
    if match["binary"] is not None:
        value = _EXACT.multiply(value, Decimal(2 ** _BINARY_EXPONENT[match["binary"]]))
    return value


def _to_int(quantity: str, scaled: Decimal, unit: str) -> int:
    """``scaled`` rounded away from zero (``Quantity.ScaledValue``); its magnitude must be at most 2^63-1."""
    # Checked before rounding, on the exact value: to_integral of 1e2000000000 would build a two-billion-digit
    # integer. Rounding up cannot then cross the limit, since the limit is itself an integer.
    if scaled.copy_abs() > _INT64_MAX:
        raise ValueError(f"quantity {_shown(quantity)} is out of range: more than 2^63-1 {unit}")
    return int(scaled.to_integral_value(rounding=decimal.ROUND_UP, context=_EXACT))


def parse_bytes(quantity: str) -> int:
    """Bytes in ``quantity`` (``4Gi``, ``1.5G``, ``128974848``, ``129e6``), rounded up like ``Quantity.Value()``."""
    return _to_int(quantity, _exact_value(quantity), "bytes")


def parse_cpu_millis(quantity: str) -> int:
    """Millicores in ``quantity`` (``500m``, ``1.5``, ``4``), rounded up like ``Quantity.MilliValue()``."""
    return _to_int(quantity, _EXACT.scaleb(_exact_value(quantity), 3), "millicores")


def format_cpu(millis: int) -> str:
    """Canonical quantity for ``millis`` millicores: whole cores when exact (``4``), else millicores (``1500m``)."""
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def format_bytes(value: int) -> str:
    """Canonical quantity for ``value`` bytes: the largest binary suffix that divides it exactly (``16Gi``)."""
    magnitude = abs(value)
    for suffix, exponent in sorted(_BINARY_EXPONENT.items(), key=lambda item: -item[1]):
        if magnitude and magnitude % 2**exponent == 0:
            return f"{value // 2**exponent}{suffix}"
    return str(value)
