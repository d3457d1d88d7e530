"""The ``math`` domain, generated: question/answer pairs in the style of DeepMind's Mathematics dataset.

After Saxton et al. (2019): a question line, then its answer line. Answers are computed exactly (ints,
``Fraction``, ``Decimal``). Document ``k`` of :func:`math_documents` depends only on ``(seed, k)``.
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Callable

from bimix.data.sources.document import Document

_VARIABLES = "abcdfghjkmnpqrstuvwxyz"
_FUNCTION_NAMES = "fghjmpqrsuvwxy"
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
_PLACES = {10: "ten", 100: "one hundred", 1000: "one thousand", 10_000: "ten thousand",
           100_000: "one hundred thousand", 1_000_000: "one million"}
# unit -> size in the quantity's base unit; exact, so conversions are exact
_UNITS = {
    "length": {"millimetres": Fraction(1, 1000), "centimetres": Fraction(1, 100), "metres": Fraction(1),
               "kilometres": Fraction(1000), "micrometres": Fraction(1, 10**6), "nanometres": Fraction(1, 10**9)},
    "mass": {"milligrams": Fraction(1, 1000), "grams": Fraction(1), "kilograms": Fraction(1000),
             "tonnes": Fraction(10**6), "micrograms": Fraction(1, 10**6)},
    "time": {"milliseconds": Fraction(1, 1000), "seconds": Fraction(1), "minutes": Fraction(60),
             "hours": Fraction(3600), "days": Fraction(86400), "weeks": Fraction(604800)},
    "volume": {"millilitres": Fraction(1, 1000), "litres": Fraction(1)},
}


def _fmt_decimal(value: Decimal | Fraction | int) -> str:
    """Plain decimal notation without trailing zeros or exponent (``3500``, ``-0.0035``)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _terminates(value: Fraction, max_places: int = 8) -> bool:
    return (value * 10**max_places).denominator == 1


def _par(value) -> str:
    """A number as an operand: negatives in parentheses, as in ``3 - (-2)``."""
    text = str(value)
    return f"({text})" if text.startswith("-") else text


def _poly(coeffs: dict[int, int], var: str) -> str:
    """``{power: coefficient}`` as ``3*x**2 - x + 5`` (descending powers, zero terms omitted)."""
    out = ""
    for power in sorted((p for p, c in coeffs.items() if c), reverse=True):
        c = coeffs[power]
        mag = abs(c)
        body = (var if power == 1 else f"{var}**{power}") if power else ""
        term = body if (mag == 1 and body) else (f"{mag}*{body}" if body else str(mag))
        if not out:
            out = f"-{term}" if c < 0 else term
        else:
            out += f" - {term}" if c < 0 else f" + {term}"
    return out or "0"


def _mixed(value: Fraction) -> str:
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return str(whole)
    return f"{whole} {rest}/{value.denominator}" if whole else f"{rest}/{value.denominator}"


def _int(rng: random.Random, digits_max: int = 3, signed: bool = True) -> int:
    n = rng.randint(0, 10 ** rng.randint(1, digits_max))
    return -n if signed and rng.random() < 0.4 else n


def _dec(rng: random.Random) -> Decimal:
    """A decimal with up to three places, normalised (never ``1.0``)."""
    places = rng.randint(1, 3)
    return Decimal(_fmt_decimal(Decimal(_int(rng, 4)).scaleb(-places)))


def _q_add_sub(rng: random.Random) -> tuple[str, str]:
    a, b = _int(rng, 4), _int(rng, 4)
    form = rng.randrange(6)
    if form == 0:
        return f"What is {a} + {b}?", str(a + b)
    if form == 1:
        return f"Calculate {a} - {_par(b)}.", str(a - b)
    if form == 2:
        return f"Add {a} and {b}.", str(a + b)
    if form == 3:
        return f"Subtract {b} from {a}.", str(a - b)
    if form == 4:
        return f"Sum {a} and {b}.", str(a + b)
    return f"What is {a} less than {b}?", str(b - a)


def _q_mul_div(rng: random.Random) -> tuple[str, str]:
    a, b = _int(rng, 3), rng.choice([-1, 1]) * rng.randint(2, 99)
    form = rng.randrange(6)
    if form == 0:
        return f"What is {a} times {b}?", str(a * b)
    if form == 1:
        return f"Multiply {a} and {b}.", str(a * b)
    if form == 2:
        return f"Calculate {a}*{_par(b)}.", str(a * b)
    if form == 3:
        return f"Divide {a * b} by {b}.", str(a)
    if form == 4:
        return f"What is {a * b} divided by {b}?", str(a)
    return f"Calculate {a * b}/{_par(b)}.", str(a)


def _q_decimals(rng: random.Random) -> tuple[str, str]:
    a, b = _dec(rng), _dec(rng)
    form = rng.randrange(5)
    if form == 0:
        return f"What is {a} + {b}?", _fmt_decimal(a + b)
    if form == 1:
        return f"Subtract {b} from {a}.", _fmt_decimal(a - b)
    if form == 2:
        return f"Multiply {a} and {b}.", _fmt_decimal(a * b)
    if form == 3:
        return f"What is {a} take away {b}?", _fmt_decimal(a - b)
    return f"Calculate {a}*{_par(b)}.", _fmt_decimal(a * b)


def _expression(rng: random.Random, depth: int) -> tuple[str, Fraction, bool]:
    """(text, exact value, is_leaf) of a random arithmetic expression."""
    if depth == 0 or rng.random() < 0.25:
        n = rng.randint(-20, 20)
        return _par(n), Fraction(n), True
    left, lv, l_leaf = _expression(rng, depth - 1)
    right, rv, r_leaf = _expression(rng, depth - 1)
    op = rng.choice("+-*/")
    if op == "/" and rv == 0:
        op = "*"
    left = left if l_leaf else f"({left})"
    right = right if r_leaf else f"({right})"
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else lv}[op]
    text = f"{left} {op} {right}" if op in "+-" else f"{left}{op}{right}"
    return text, value, False


def _q_expression(rng: random.Random) -> tuple[str, str]:
    while True:
        text, value, leaf = _expression(rng, rng.randint(2, 3))
        # keep answers readable: DM's arithmetic answers are small integers or simple fractions
        if not leaf and value.denominator <= 50 and abs(value.numerator) < 10**6:
            break
    template = rng.choice(["Evaluate {}.", "What is the value of {}?", "Calculate {}.", "What is {}?"])
    return template.format(text), str(value)


def _fraction(rng: random.Random, signed: bool = True) -> Fraction:
    den = rng.randint(2, 12)
    num = rng.randint(1, 3 * den)
    value = Fraction(num, den)
    if value.denominator == 1:
        value += Fraction(1, den + 1)
    return -value if signed and rng.random() < 0.3 else value


def _q_fractions(rng: random.Random) -> tuple[str, str]:
    form = rng.randrange(5)
    if form == 0:
        p, q = _fraction(rng), _fraction(rng)
        op = rng.choice("+-*/")
        value = {"+": p + q, "-": p - q, "*": p * q, "/": p / q}[op]
        if op in "*/":  # "3/2 / 1/2" would read as ((3/2)/1)/2
            return f"Calculate ({p}){op}({q}).", str(value)
        return f"Calculate {_par(p)} {op} {_par(q)}.", str(value)
    if form == 1:
        p = _fraction(rng, signed=False)
        p = p + rng.randint(1, 9) if p < 1 else p
        return f"Express {p} as a mixed number.", _mixed(p)
    if form == 2:
        p = _fraction(rng, signed=False) + rng.randint(1, 9)
        return f"Convert {_mixed(p)} to an improper fraction.", str(p)
    if form == 3:
        p, q = (_fraction(rng, signed=False) + rng.randint(1, 5) for _ in range(2))
        return f"What is {_mixed(p)} + {_mixed(q)}? Give your answer as a mixed number.", _mixed(p + q)
    p = _fraction(rng, signed=False)
    whole = p.denominator * rng.randint(1, 20)
    return f"What is {p} of {whole}?", str(p * whole)


def _linear(coef: int, var: str, const: int) -> str:
    return _poly({1: coef, 0: const}, var)


def _q_linear1(rng: random.Random) -> tuple[str, str]:
    var = rng.choice(_VARIABLES)
    x = rng.randint(-15, 15)
    a = rng.choice([-1, 1]) * rng.randint(1, 12)
    b = rng.randint(-60, 60)
    form = rng.randrange(3)
    if form == 0:
        return f"Solve {_linear(a, var, b)} = {a * x + b} for {var}.", str(x)
    if form == 1:
        c = rng.choice([k for k in range(-12, 13) if k != a])
        d = a * x + b - c * x
        return f"Solve {_linear(a, var, b)} = {_linear(c, var, d)} for {var}.", str(x)
    return f"Solve {a * x + b} = {_linear(a, var, b)} for {var}.", str(x)


def _q_linear2(rng: random.Random) -> tuple[str, str]:
    u, v = rng.sample(_VARIABLES, 2)
    x, y = rng.randint(-10, 10), rng.randint(-10, 10)
    while True:
        m = [rng.choice([-1, 1]) * rng.randint(1, 9) for _ in range(4)]
        if m[0] * m[3] - m[1] * m[2] != 0:
            break

    def side(p: int, q: int) -> str:
        return _poly({1: p}, u) + (f" - {_poly({1: -q}, v)}" if q < 0 else f" + {_poly({1: q}, v)}")

    eq1 = f"{side(m[0], m[1])} = {m[0] * x + m[1] * y}"
    eq2 = f"{side(m[2], m[3])} = {m[2] * x + m[3] * y}"
    target, value = (u, x) if rng.random() < 0.5 else (v, y)
    if rng.random() < 0.5:
        return f"Solve {eq1}, {eq2} for {target}.", str(value)
    return f"Suppose {eq1}, {eq2}. What is {target}?", str(value)


def _q_gcd_lcm(rng: random.Random) -> tuple[str, str]:
    g = rng.randint(1, 40)
    m, n = rng.randint(1, 30), rng.randint(1, 30)
    a, b = g * m, g * n
    form = rng.randrange(4)
    if form == 0:
        return f"What is the greatest common divisor of {a} and {b}?", str(math.gcd(a, b))
    if form == 1:
        return f"Calculate the highest common factor of {a} and {b}.", str(math.gcd(a, b))
    if form == 2:
        return f"What is the lowest common multiple of {a} and {b}?", str(math.lcm(a, b))
    return f"Calculate the smallest common multiple of {a} and {b}.", str(math.lcm(a, b))


def _to_base(n: int, base: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n == 0:
        return "0"
    sign, n, out = ("-" if n < 0 else ""), abs(n), ""
    while n:
        n, r = divmod(n, base)
        out = digits[r] + out
    return sign + out


def _q_base(rng: random.Random) -> tuple[str, str]:
    n = _int(rng, 4)
    b1, b2 = rng.sample([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16], 2)
    form = rng.randrange(3)
    if form == 0:
        return f"Convert {_to_base(n, b1)} (base {b1}) to base 10.", str(n)
    if form == 1:
        return f"What is {n} in base {b1}?", _to_base(n, b1)
    return f"What is {_to_base(n, b1)} (base {b1}) in base {b2}?", _to_base(n, b2)


def _q_rounding(rng: random.Random) -> tuple[str, str]:
    while True:
        if rng.random() < 0.5:
            places = rng.randint(1, 4)
            x = Decimal(_int(rng, 7)).scaleb(-rng.randint(places + 1, places + 4))
            step = Decimal(1).scaleb(-places)
        else:
            place = rng.choice(list(_PLACES))
            digits = len(str(place))
            x = Decimal(rng.choice([-1, 1, 1]) * rng.randint(10 ** (digits - 1), 10 ** (digits + 2)))
            step = Decimal(place)
        rounded = (x / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step
        # skip exact ties: their rounding convention (half-even or half-up) is ambiguous
        if abs(x - rounded) * 2 != step and x != 0:
            break
    answer = _fmt_decimal(rounded)
    if step >= 1:
        template = rng.choice(["Round {x} to the nearest {p}.", "What is {x} rounded to the nearest {p}?"])
        return template.format(x=_fmt_decimal(x), p=_PLACES[int(step)]), answer
    places = -step.as_tuple().exponent
    template = rng.choice(["Round {x} to {w} decimal places.", "What is {x} rounded to {n} dps?",
                           "Round {x} to {n} dps."])
    words = _NUMBER_WORDS[places] if places > 1 else "one"
    if places == 1:
        template = template.replace("decimal places", "decimal place").replace("dps", "dp")
    return template.format(x=_fmt_decimal(x), w=words, n=places), answer


def _random_poly(rng: random.Random, degree: int, span: int = 9) -> dict[int, int]:
    coeffs = {p: rng.randint(-span, span) for p in range(degree + 1)}
    coeffs[degree] = rng.choice([-1, 1]) * rng.randint(1, span)
    return coeffs


def _q_poly_eval(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(_FUNCTION_NAMES)
    var = rng.choice([v for v in _VARIABLES if v != name])
    coeffs = _random_poly(rng, rng.randint(1, 3))
    x = rng.randint(-6, 6)
    value = sum(c * x**p for p, c in coeffs.items())
    verb = rng.choice(["What is {}?", "Give {}.", "Calculate {}.", "Determine {}."])
    return f"Let {name}({var}) = {_poly(coeffs, var)}. " + verb.format(f"{name}({x})"), str(value)


def _q_derivative(rng: random.Random) -> tuple[str, str]:
    var = rng.choice(_VARIABLES)
    order = rng.choice([1, 1, 1, 2, 3])
    coeffs = _random_poly(rng, rng.randint(order + 1, 5), span=rng.choice([9, 40, 300]))
    deriv = dict(coeffs)
    for _ in range(order):
        deriv = {p - 1: c * p for p, c in deriv.items() if p > 0}
    poly = _poly(coeffs, var)
    if order == 1:
        question = rng.choice([f"What is the derivative of {poly} wrt {var}?",
                               f"Differentiate {poly} with respect to {var}.",
                               f"Find the first derivative of {poly} wrt {var}."])
    else:
        nth = {2: "second", 3: "third"}[order]
        question = rng.choice([f"What is the {nth} derivative of {poly} wrt {var}?",
                               f"Find the {nth} derivative of {poly} wrt {var}."])
    return question, _poly(deriv, var)


def _q_sequence(rng: random.Random) -> tuple[str, str]:
    degree = rng.choice([1, 1, 2, 2, 3])
    coeffs = _random_poly(rng, degree, span=rng.choice([5, 20, 200]))
    n_terms = rng.randint(degree + 3, degree + 4)
    terms = [sum(c * n**p for p, c in coeffs.items()) for n in range(1, n_terms + 2)]
    shown = ", ".join(str(t) for t in terms[:-1])
    template = rng.choice(["What is next in {}?", "What comes next: {}?", "What is the next term in {}?"])
    return template.format(shown), str(terms[-1])


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, math.isqrt(n) + 1))


def _q_primes(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        n = rng.randint(12, 10**rng.randint(3, 5))
        factors, m, p = [], n, 2
        while m > 1:
            if m % p == 0:
                factors.append(p)
                while m % p == 0:
                    m //= p
            p += 1 if p == 2 else 2
            if p * p > m > 1:
                factors.append(m)
                break
        template = rng.choice(["List the prime factors of {}.", "What are the prime factors of {}?"])
        return template.format(n), ", ".join(map(str, sorted(set(factors))))
    n = rng.randint(10, 10**rng.randint(3, 6)) | 1
    if rng.random() < 0.5:
        while not _is_prime(n):
            n += 2
    template = rng.choice(["Is {} a prime number?", "Is {} prime?"])
    return template.format(n), str(_is_prime(n))


def _q_units(rng: random.Random) -> tuple[str, str]:
    quantity = rng.choice(list(_UNITS))
    src, dst = rng.sample(list(_UNITS[quantity]), 2)
    for _ in range(100):
        x = Fraction(_dec(rng)) if rng.random() < 0.6 else Fraction(rng.randint(2, 500))
        value = abs(x) * _UNITS[quantity][src] / _UNITS[quantity][dst]
        if x != 0 and abs(x) != 1 and _terminates(value) and value < 10**9:
            break
    else:
        src, dst, x = "metres", "centimetres", Fraction(3)
        quantity, value = "length", Fraction(300)
    shown = _fmt_decimal(abs(x))
    template = rng.choice(["How many {d} are there in {x} {s}?", "Convert {x} {s} to {d}.",
                           "What is {x} {s} in {d}?"])
    return template.format(d=dst, x=shown, s=src), _fmt_decimal(value)


def _q_remainder(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 10**rng.randint(2, 5)), rng.randint(2, 99)
    template = rng.choice(["What is the remainder when {} is divided by {}?",
                           "Calculate the remainder when {} is divided by {}."])
    return template.format(a, b), str(a % b)


def _number(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return str(_int(rng, 2))
    if kind == 1:
        return _fmt_decimal(_dec(rng) / 10)
    return str(_fraction(rng))


def _q_compare(rng: random.Random) -> tuple[str, str]:
    count = 2 if rng.random() < 0.5 else rng.randint(3, 5)
    items: dict[Fraction, str] = {}
    while len(items) < count:
        text = _number(rng)
        items.setdefault(Fraction(text), text)
    shown = list(items.values())
    rng.shuffle(shown)
    if count == 2:
        word = rng.choice(["bigger", "greater", "smaller", "less"])
        pick = max if word in ("bigger", "greater") else min
        return f"Which is {word}: {shown[0]} or {shown[1]}?", items[pick(items)]
    reverse = rng.random() < 0.5
    ordered = ", ".join(items[k] for k in sorted(items, reverse=reverse))
    template = "Sort {} in decreasing order." if reverse else "Sort {} in increasing order."
    return template.format(", ".join(shown)), ordered


PROBLEM_TYPES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "arithmetic__add_sub": _q_add_sub,
    "arithmetic__mul_div": _q_mul_div,
    "arithmetic__decimals": _q_decimals,
    "arithmetic__mixed": _q_expression,
    "arithmetic__fractions": _q_fractions,
    "algebra__linear_1d": _q_linear1,
    "algebra__linear_2d": _q_linear2,
    "numbers__gcd_lcm": _q_gcd_lcm,
    "numbers__base_conversion": _q_base,
    "numbers__round": _q_rounding,
    "numbers__remainder": _q_remainder,
    "numbers__primes": _q_primes,
    "polynomials__evaluate": _q_poly_eval,
    "calculus__differentiate": _q_derivative,
    "algebra__sequence_next_term": _q_sequence,
    "measurement__conversion": _q_units,
    "comparison__sort_pair": _q_compare,
}


def math_problems(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs, problem types drawn uniformly."""
    names = list(PROBLEM_TYPES)
    return [PROBLEM_TYPES[rng.choice(names)](rng) for _ in range(n)]


def math_documents(seed: int, n_bytes: int) -> list[Document]:
    """Generated DM-Mathematics-style documents totalling at least ``n_bytes`` UTF-8 bytes.

    Each document holds 20-60 problems, one question line followed by its answer line. Document ``k``
    depends only on ``(seed, k)``, so a smaller corpus is a prefix of a larger one with the same seed.
    """
    docs, total = [], 0
    while total < n_bytes:
        k = len(docs)
        rng = random.Random(f"bimix-math-{seed}-{k}")
        pairs = math_problems(rng, rng.randint(20, 60))
        text = "\n".join(f"{q}\n{a}" for q, a in pairs)
        doc_id = f"math/{k:07d}"
        docs.append(Document(id=doc_id, text=text, group=doc_id))
        total += len(text.encode("utf-8"))
    return docs
