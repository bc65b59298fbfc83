"""Seeded random chaincc sources that use every scalar built-in, for backend comparisons.

Unlike the hypothesis trees of test_hypothesis.py, these need no oracle of their own: the
backends are compared with each other, so domains may be left at run time (NaN and inf
must then agree too) and every printer path gets exercised: where with and/or/not,
min/max of three, sign, floor, powers small and large, integer and fractional, and
constants that need all 17 digits.
"""

from __future__ import annotations

import random

UNARY = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
         "acosh", "atanh", "exp", "expm1", "log", "ln", "log1p", "log2", "log10", "sqrt",
         "cbrt", "abs", "sign", "floor", "ceil", "erf", "erfc", "relu", "sigmoid", "softplus")
BINARY = ("+", "-", "*", "/", "^", "atan2", "pow", "hypot", "min", "max", "logb", "where")
CONSTANTS = ("2", "0.5", ".5", "1e-3", "2.5E+1", "3", "pi", "e", "1/3", "0.1", "7", "1e-5",
             "0.7071067811865476", "1e300")
EXPONENTS = ("2", "3", "-1", "-2", "0.5", "-0.5", "9", "1.5", "(1/3)", "-3", "x")
RELATIONS = ("<", "<=", ">", ">=", "==", "!=")


def expression(rng: random.Random, names: list[str], depth: int,
               constant_ok: bool = False) -> str:
    """A random expression; every function argument involves a parameter, so no
    subexpression folds to a constant (constants appear only as operands)."""
    if depth == 0 or rng.random() < 0.2:
        if constant_ok and rng.random() < 0.4:
            return rng.choice(CONSTANTS)
        return rng.choice(names)
    sub = depth - 1
    if rng.random() < 0.45:
        return f"{rng.choice(UNARY)}({expression(rng, names, sub)})"
    op = rng.choice(BINARY)
    a, b = expression(rng, names, sub), expression(rng, names, sub, True)
    if op == "^":
        return f"({a})^{rng.choice(EXPONENTS)}"
    if op == "logb":
        return f"log({a}, {rng.choice(('2', '10', '3'))})"
    if op == "where":
        cond = f"{a} {rng.choice(RELATIONS)} {b}"
        if rng.random() < 0.5:
            cond = f"{cond} {rng.choice(('and', 'or'))} not ({rng.choice(names)} < 0.5)"
        return f"where({cond}, {expression(rng, names, sub, True)}, " \
               f"{expression(rng, names, sub, True)})"
    if rng.random() < 0.5:
        a, b = b, a
    if op in ("+", "-", "*", "/"):
        return f"({a}) {op} ({b})"
    if op in ("min", "max") and rng.random() < 0.5:
        return f"{op}({a}, {b}, {rng.choice(names)})"
    return f"{op}({a}, {b})"


def random_source(seed: int, count: int, names: tuple[str, ...] = ("x", "y", "z"),
                  depth: int = 4) -> str:
    """``count`` functions ``r0(x, y, z) = ...`` from one seed."""
    rng = random.Random(seed)
    params = ", ".join(names)
    return "".join(f"r{k}({params}) = {expression(rng, list(names), depth)}\n"
                   for k in range(count))
