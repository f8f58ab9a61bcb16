"""x87 80-bit `long double` arithmetic for INCRBYFLOAT, done exactly with Fractions.

Redis parses INCRBYFLOAT operands with strtold, adds in long double and prints
the sum with "%.17Lf" minus trailing zeros. A Python float (double) gives other
digits (10.5 + 0.1 prints 10.59999999999999964 in double, 10.6 in long double), so
values are rounded to a 64-bit significand after parsing and after adding, and
printed from the exact binary value, as glibc does.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

_MANT_BITS = 64
_MAX_EXP = 16384          # values at or above 2**16384 overflow to infinity
_MIN_EXP = -16445         # the smallest subnormal is 2**-16445


def round_to_long_double(x: Fraction) -> Fraction | float:
    """Round an exact value to the nearest long double (ties to even); inf on overflow."""
    if x == 0:
        return Fraction(0)
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    shift = max(e - (_MANT_BITS - 1), _MIN_EXP)
    scaled = a / Fraction(2) ** shift
    m = round(scaled)  # Python rounds Fractions half to even
    result = Fraction(m) * Fraction(2) ** shift
    if result >= Fraction(2) ** _MAX_EXP:
        return math.inf * sign
    return result * sign


def parse_long_double(s: bytes) -> Fraction | float:
    """strtold of an already validated decimal/inf string."""
    low = s.lower().lstrip(b"+")
    if low in (b"inf", b"infinity"):
        return math.inf
    if low in (b"-inf", b"-infinity"):
        return -math.inf
    d = Decimal(s.decode())
    if d and d.adjusted() > 4940:        # beyond any long double: no huge Fraction
        return math.inf if d > 0 else -math.inf
    if d and d.adjusted() < -4960:       # rounds to zero
        return Fraction(0)
    return round_to_long_double(Fraction(d))


def add(a: Fraction | float, b: Fraction | float) -> Fraction | float:
    if isinstance(a, float) or isinstance(b, float):
        return float(a) + float(b)
    return round_to_long_double(a + b)


def format_human(v: Fraction | float) -> bytes:
    """ld2string(..., LD_STR_HUMAN): %.17Lf, then trailing zeros (and '.') removed."""
    if isinstance(v, float):
        return b"inf" if v > 0 else b"-inf"
    d = Decimal(v.numerator) if v.denominator == 1 else \
        Context(prec=20000).divide(Decimal(v.numerator), Decimal(v.denominator))
    text = format(d.quantize(Decimal(1).scaleb(-17), rounding=ROUND_HALF_EVEN,
                             context=Context(prec=20000)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.encode()
