"""Sources that iterate (recurrences, sums, products) and, for each, the same function
written out step by step: the unrolled program, generated here as text, is the oracle a
loop is checked against (it shares no lowering of iteration with what it checks).

Each case: ``(name, looped source, unrolled source, argument maker)``; the maker takes a
NumPy Generator and returns the arguments in parameter order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Case:
    name: str
    looped: str
    unrolled: str
    args: Callable[[np.random.Generator], list]


def _vec(name: str, values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def rnn_scalar(T: int) -> Case:
    looped = (f"T = {T}\nh[0] = 0\nh[t+1] = tanh(w·h[t] + u·x[t])   for t = 0..T-1\n"
              "loss(w, u, x[T]) = h[T]²\n")
    lines = ["h0 = 0"] + [f"h{t + 1} = tanh(w*h{t} + u*x[{t}])" for t in range(T)]
    unrolled = "\n".join(lines) + f"\nloss(w, u, x[{T}]) = h{T}^2\n"
    return Case(f"rnn_scalar_{T}", looped, unrolled,
                lambda r: [r.uniform(-1, 1), r.uniform(-1, 1), r.normal(size=T)])


def rnn_vector(T: int, n: int = 8, m: int = 3) -> Case:
    looped = (f"T = {T}\nn = {n}\nm = {m}\nh[0] = zeros(n)\n"
              "h[t+1] = tanh(W @ h[t] + U @ x[t] + b)   for t = 0..T-1\n"
              "loss(W[n,n], U[n,m], b[n], x[T,m]) = sum(h[T]^2)\n")
    zeros = "[" + ", ".join(["0"] * n) + "]"
    lines = [f"h0 = {zeros}"]
    lines += [f"h{t + 1} = tanh(W @ h{t} + U @ x[{t}] + b)" for t in range(T)]
    unrolled = "\n".join(lines) + f"\nloss(W[{n},{n}], U[{n},{m}], b[{n}], x[{T},{m}]) = " \
        f"sum(h{T}^2)\n"
    return Case(f"rnn_vector_{T}", looped, unrolled,
                lambda r: [r.normal(size=(n, n)) / np.sqrt(n), r.normal(size=(n, m)),
                           r.normal(size=n) * 0.1, r.normal(size=(T, m))])


def lstm(T: int, n: int = 3) -> Case:
    """Two states, the second step reading the first's next value."""
    looped = (f"T = {T}\nn = {n}\nh[0] = zeros(n)\nc[0] = zeros(n)\n"
              "c[t+1] = sigmoid(Wf @ h[t] + x[t]) * c[t] + sigmoid(Wi @ h[t]) * tanh(Wc @ h[t]"
              " + x[t])   for t = 0..T-1\n"
              "h[t+1] = sigmoid(Wo @ h[t]) * tanh(c[t+1])   for t = 0..T-1\n"
              "loss(Wf[n,n], Wi[n,n], Wc[n,n], Wo[n,n], x[T,n]) = sum(h[T]) + sum(c[T]^2)\n")
    zeros = "[" + ", ".join(["0"] * n) + "]"
    lines = [f"h0 = {zeros}", f"c0 = {zeros}"]
    for t in range(T):
        lines.append(f"c{t + 1} = sigmoid(Wf @ h{t} + x[{t}]) * c{t} + sigmoid(Wi @ h{t}) * "
                     f"tanh(Wc @ h{t} + x[{t}])")
        lines.append(f"h{t + 1} = sigmoid(Wo @ h{t}) * tanh(c{t + 1})")
    unrolled = "\n".join(lines) + (f"\nloss(Wf[{n},{n}], Wi[{n},{n}], Wc[{n},{n}], "
                                   f"Wo[{n},{n}], x[{T},{n}]) = sum(h{T}) + sum(c{T}^2)\n")
    return Case(f"lstm_{T}", looped, unrolled,
                lambda r: [r.normal(size=(n, n)) * 0.5 for _ in range(4)]
                + [r.normal(size=(T, n))])


def history_sum(T: int) -> Case:
    """A recurrence read at every step by a sum over its index (its history)."""
    looped = (f"T = {T}\nh[0] = a\nh[t+1] = sin(w·h[t]) + x[t]   for t = 0..T-1\n"
              "f(a, w, x[T]) = sum(h[t]^2 for t = 1..T) + h[T]\n")
    lines = ["h0 = a"] + [f"h{t + 1} = sin(w*h{t}) + x[{t}]" for t in range(T)]
    total = " + ".join(f"h{t}^2" for t in range(1, T + 1))
    unrolled = "\n".join(lines) + f"\nf(a, w, x[{T}]) = 0 + {total} + h{T}\n"
    return Case(f"history_sum_{T}", looped, unrolled,
                lambda r: [r.uniform(-1, 1), r.uniform(-1, 1), r.normal(size=T) * 0.3])


def squared_error(n: int) -> Case:
    looped = f"n = {n}\nf(y[n], p[n]) = Σ_{{i=0}}^{{n-1}} (y[i] - p[i])^2 / n\n"
    terms = " + ".join(f"(y[{i}] - p[{i}])^2" for i in range(n))
    unrolled = f"f(y[{n}], p[{n}]) = (0 + {terms}) / {n}\n"
    return Case(f"squared_error_{n}", looped, unrolled,
                lambda r: [r.normal(size=n), r.normal(size=n)])


def nested_sum(n: int) -> Case:
    """A quadratic form as two nested sums, and a product with an index in arithmetic."""
    looped = (f"n = {n}\nf(A[n,n], x[n]) = sum(A[i,j]*x[i]*x[j] for i = 0..n-1, j = 0..n-1)"
              " + prod(1 + x[k]/(k+2) for k = 0..n-1)\n")
    rows = []
    for i in range(n):
        rows.append(" + ".join(f"A[{i},{j}]*x[{i}]*x[{j}]" for j in range(n)))
    quad = "0"
    for row in rows:
        quad = f"({quad} + (0 + {row}))"
    prod = "1" + "".join(f" * (1 + x[{k}]/({k}+2))" for k in range(n))
    unrolled = f"f(A[{n},{n}], x[{n}]) = {quad} + ({prod})\n"
    return Case(f"nested_sum_{n}", looped, unrolled,
                lambda r: [r.normal(size=(n, n)), r.normal(size=n)])


def vector_sum(T: int, n: int = 4) -> Case:
    """A sum whose body is a vector, of rows of a parameter."""
    looped = (f"T = {T}\nn = {n}\nf(X[T,n], v[n]) = sum(sum(tanh(X[t] * v) for t = 0..T-1)"
              "^2)\n")
    rows = " + ".join(f"tanh(X[{t}] * v)" for t in range(T))
    unrolled = f"f(X[{T},{n}], v[{n}]) = sum((0 + {rows})^2)\n"
    return Case(f"vector_sum_{T}", looped, unrolled,
                lambda r: [r.normal(size=(T, n)), r.normal(size=n)])


def sum_in_step(T: int, n: int = 5) -> Case:
    """A step whose body is itself a loop (a sum over the state's elements)."""
    looped = (f"T = {T}\nn = {n}\nh[0] = 0.1\n"
              "h[t+1] = tanh(h[t] + sum(w[i]*x[t, i]*h[t] for i = 0..n-1))   for t = 0..T-1\n"
              "f(w[n], x[T,n]) = h[T]\n")
    lines = ["h0 = 0.1"]
    for t in range(T):
        s = " + ".join(f"w[{i}]*x[{t},{i}]*h{t}" for i in range(n))
        lines.append(f"h{t + 1} = tanh(h{t} + (0 + {s}))")
    unrolled = "\n".join(lines) + f"\nf(w[{n}], x[{T},{n}]) = h{T}\n"
    return Case(f"sum_in_step_{T}", looped, unrolled,
                lambda r: [r.normal(size=n) * 0.5, r.normal(size=(T, n))])


def index_arithmetic(T: int) -> Case:
    """The index as a number, and a read at an offset."""
    looped = (f"T = {T}\nh[0] = 1\nh[t+1] = h[t]·cos(a·t) + x[t+1]·b   for t = 0..T-1\n"
              f"f(a, b, x[{T + 1}]) = h[T]\n")
    lines = ["h0 = 1"] + [f"h{t + 1} = h{t}*cos(a*{t}) + x[{t + 1}]*b" for t in range(T)]
    unrolled = "\n".join(lines) + f"\nf(a, b, x[{T + 1}]) = h{T}\n"
    return Case(f"index_arithmetic_{T}", looped, unrolled,
                lambda r: [r.uniform(-1, 1), r.uniform(-1, 1), r.normal(size=T + 1)])


def all_cases(T: int = 20) -> list[Case]:
    """Every case at a size where the unrolled program is quick to compile."""
    return [rnn_scalar(T), rnn_vector(T), lstm(T), history_sum(T), squared_error(T),
            nested_sum(5), vector_sum(T), sum_in_step(T), index_arithmetic(T)]
