"""The LaTeX reader (docs/language.md, "LaTeX"): formulas written in LaTeX, each with its
meaning as a SymPy expression built here by hand, compiled and compared in value and
gradient at random points (sympy.diff is the oracle); formulas copied from the seed texts
as they are written there; and errors with their exact caret positions."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy_oracle import assert_matches, sigmoid

import chaincc
from chaincc.cli import main
from chaincc.diagnostics import ChainccError, SourceWarning
from chaincc.latex import NotComputable
from chaincc.source import Source
from chaincc.unit import Unit


def S(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


x, y, z, b = S("x"), S("y"), S("z"), S("b")


def relu(e: sp.Expr) -> sp.Expr:
    return sp.Piecewise((e, e > 0), (0, True))


def gelu(e: sp.Expr) -> sp.Expr:
    return e * sp.Rational(1, 2) * (1 + sp.erf(e / sp.sqrt(2)))


# (LaTeX, parameter names, meaning over the symbols S(name), a warning's text or None).
# Points are drawn from [0.3, 0.9] for every parameter.
CASES: list[tuple[str, tuple[str, ...], object, str | None]] = [
    # powers, as TeX sets them
    (r"f(x) = x^2", ("x",), lambda: x**2, None),
    (r"f(x) = x^{3}", ("x",), lambda: x**3, None),
    (r"f(x) = x^23", ("x",), lambda: x**2 * 3, None),
    (r"f(x, y) = x^2y", ("x", "y"), lambda: x**2 * y, None),
    (r"f(x, y) = xy^2", ("x", "y"), lambda: x * y**2, None),
    (r"f(x) = x^{-1}", ("x",), lambda: 1 / x, None),
    (r"f(x) = x^-2", ("x",), lambda: x**-2, None),
    (r"f(x) = x^{1/2}", ("x",), lambda: sp.sqrt(x), None),
    (r"f(x, y) = x^{y}", ("x", "y"), lambda: x**y, None),
    (r"f(x, y) = x^{y^{2}}", ("x", "y"), lambda: x**(y**2), None),
    (r"f(x) = x^{\frac{3}{2}}", ("x",), lambda: x**sp.Rational(3, 2), None),
    (r"f(x) = (x^2)^{3}", ("x",), lambda: (x**2)**3, None),
    (r"f(x) = -x^2 + 1", ("x",), lambda: -(x**2) + 1, None),
    # fractions and roots
    (r"f(x) = \frac{1}{x}", ("x",), lambda: 1 / x, None),
    (r"f(x, y) = \frac{x}{y}", ("x", "y"), lambda: x / y, None),
    (r"f(x) = \frac12 x^2", ("x",), lambda: x**2 / 2, None),
    (r"f(x) = \dfrac{x+1}{x+2}", ("x",), lambda: (x + 1) / (x + 2), None),
    (r"f(x) = \tfrac{1}{3}x", ("x",), lambda: x / 3, None),
    (r"f(x) = \cfrac{1}{1 + \cfrac{1}{x}}", ("x",), lambda: 1 / (1 + 1 / x), None),
    (r"f(x) = \frac{\sin x}{x}", ("x",), lambda: sp.sin(x) / x, None),
    (r"f(x) = \sqrt{x}", ("x",), lambda: sp.sqrt(x), None),
    (r"f(x) = \sqrt x + 1", ("x",), lambda: sp.sqrt(x) + 1, None),
    (r"f(x) = \sqrt[3]{x}", ("x",), lambda: x**sp.Rational(1, 3), None),
    (r"f(x) = \sqrt[4]{x}", ("x",), lambda: x**sp.Rational(1, 4), None),
    (r"f(x, y) = \sqrt{x^2 + y^2}", ("x", "y"), lambda: sp.sqrt(x**2 + y**2), None),
    (r"f(x) = \sqrt{1 + \sqrt{x}}", ("x",), lambda: sp.sqrt(1 + sp.sqrt(x)), None),
    # products, sums, brackets
    (r"f(x, y) = x \cdot y", ("x", "y"), lambda: x * y, None),
    (r"f(x, y) = x \times y", ("x", "y"), lambda: x * y, None),
    (r"f(x, y) = x \odot y + x \ast y", ("x", "y"), lambda: 2 * x * y, None),
    (r"f(x, y) = x \div y", ("x", "y"), lambda: x / y, None),
    (r"f(x, y) = 2x + 3y", ("x", "y"), lambda: 2 * x + 3 * y, None),
    (r"f(x) = 3.25x + .5", ("x",), lambda: sp.Rational(13, 4) * x + sp.Rational(1, 2), None),
    (r"f(x) = \left(x + 1\right)^2", ("x",), lambda: (x + 1)**2, None),
    (r"f(x, y) = \left(x + 1\right)\left(y - 1\right)", ("x", "y"),
     lambda: (x + 1) * (y - 1), None),
    (r"f(x, y) = (x + 1)(y - 1)", ("x", "y"), lambda: (x + 1) * (y - 1), None),
    (r"f(x, y) = \bigl(x - y\bigr)^2", ("x", "y"), lambda: (x - y)**2, None),
    (r"f(x, y) = \left[x + y\right]^2", ("x", "y"), lambda: (x + y)**2, None),
    (r"f(x, y) = [x - y]^2", ("x", "y"), lambda: (x - y)**2, None),
    (r"f(x, y) = \{x + y\} x", ("x", "y"), lambda: (x + y) * x, None),
    (r"f(x, y) = x/2y", ("x", "y"), lambda: x / 2 * y, "read as (…/2)·y"),
    # bars, floors, norms
    (r"f(x) = \left|x - 1\right|", ("x",), lambda: sp.Abs(x - 1), None),
    (r"f(x) = |x - 2|", ("x",), lambda: sp.Abs(x - 2), None),
    (r"f(x, y) = 2|x| + 3|y|", ("x", "y"), lambda: 2 * sp.Abs(x) + 3 * sp.Abs(y), None),
    (r"f(x, y) = \lvert x - y \rvert", ("x", "y"), lambda: sp.Abs(x - y), None),
    (r"f(x, y) = \left\| [x, y] \right\|", ("x", "y"), lambda: sp.sqrt(x**2 + y**2), None),
    (r"f(x, y) = \lVert \begin{pmatrix} x \\ y \end{pmatrix} \rVert", ("x", "y"),
     lambda: sp.sqrt(x**2 + y**2), None),
    (r"f(x) = \lfloor x \rfloor + x", ("x",), lambda: sp.floor(x) + x, None),
    (r"f(x) = \left\lceil x \right\rceil x", ("x",), lambda: sp.ceiling(x) * x, None),
    # functions, with and without brackets
    (r"f(x) = \sin x", ("x",), lambda: sp.sin(x), None),
    (r"f(x) = \sin(x)", ("x",), lambda: sp.sin(x), None),
    (r"f(x) = \sin\left(x\right)", ("x",), lambda: sp.sin(x), None),
    (r"f(x) = \sin{x}", ("x",), lambda: sp.sin(x), None),
    (r"f(x) = \sin 2x", ("x",), lambda: sp.sin(2 * x), None),
    (r"f(x) = \sin 2\pi x", ("x",), lambda: sp.sin(2 * sp.pi * x), None),
    (r"f(x, y) = \sin x \cos y", ("x", "y"), lambda: sp.sin(x) * sp.cos(y), None),
    (r"f(x, y) = \sin x \cdot y", ("x", "y"), lambda: sp.sin(x) * y, None),
    (r"f(x, y) = \sin x y", ("x", "y"), lambda: sp.sin(x * y), r"read as \sin(x y)"),
    (r"f(x) = \sin x + 1", ("x",), lambda: sp.sin(x) + 1, None),
    (r"f(x) = \sin x^2", ("x",), lambda: sp.sin(x**2), None),
    (r"f(x) = \sin^2 x", ("x",), lambda: sp.sin(x)**2, None),
    (r"f(x) = \sin^{2}(x) + \cos^2 x", ("x",), lambda: sp.sin(x)**2 + sp.cos(x)**2, None),
    (r"f(x) = \sin \cos x", ("x",), lambda: sp.sin(sp.cos(x)), None),
    (r"f(x) = 2\sin x \cos x", ("x",), lambda: 2 * sp.sin(x) * sp.cos(x), None),
    (r"f(x) = \tan x", ("x",), lambda: sp.tan(x), None),
    (r"f(x) = \sinh x + \cosh x + \tanh x", ("x",),
     lambda: sp.sinh(x) + sp.cosh(x) + sp.tanh(x), None),
    (r"f(x) = \tanh^2 x", ("x",), lambda: sp.tanh(x)**2, None),
    (r"f(x) = \exp(x)", ("x",), lambda: sp.exp(x), None),
    (r"f(x) = \exp x", ("x",), lambda: sp.exp(x), None),
    (r"f(x) = e^{x}", ("x",), lambda: sp.exp(x), None),
    (r"f(x) = e^x", ("x",), lambda: sp.exp(x), None),
    (r"f(x) = e^{-x^2}", ("x",), lambda: sp.exp(-x**2), None),
    (r"f(x, y) = e^xy", ("x", "y"), lambda: sp.exp(x) * y, None),
    (r"f(x, y) = \exp(x) \cdot \exp(-y)", ("x", "y"), lambda: sp.exp(x) * sp.exp(-y), None),
    (r"f(x) = \ln x", ("x",), lambda: sp.log(x), None),
    (r"f(x) = \log(x)", ("x",), lambda: sp.log(x), None),
    (r"f(x) = \log_2 x", ("x",), lambda: sp.log(x, 2), None),
    (r"f(x) = \log_{10}(x)", ("x",), lambda: sp.log(x, 10), None),
    (r"f(x) = \log_e x", ("x",), lambda: sp.log(x), None),
    (r"f(x, b) = \log_b x", ("x", "b"), lambda: sp.log(x) / sp.log(b), None),
    (r"f(x) = \ln |x|", ("x",), lambda: sp.log(sp.Abs(x)), None),
    (r"f(x) = \arcsin x + \arccos x + \arctan x", ("x",),
     lambda: sp.asin(x) + sp.acos(x) + sp.atan(x), None),
    (r"f(x) = \sin^{-1} x", ("x",), lambda: sp.asin(x), "is read as asin"),
    (r"f(x, y) = \max(x, y)", ("x", "y"), lambda: sp.Max(x, y), None),
    (r"f(x, y) = \min\{x, y\} + 1", ("x", "y"), lambda: sp.Min(x, y) + 1, None),
    (r"f(x, y, z) = \max\left(x, y, z\right)", ("x", "y", "z"), lambda: sp.Max(x, y, z),
     None),
    # built-ins by name
    (r"f(x) = \operatorname{relu}(x - 0.5)", ("x",), lambda: relu(x - sp.Rational(1, 2)),
     None),
    (r"f(x) = \operatorname{sigmoid}(x)", ("x",), lambda: sigmoid(x), None),
    (r"f(x) = \sigma(x)", ("x",), lambda: sigmoid(x), None),
    (r"f(x) = \sigma(2x) x", ("x",), lambda: sigmoid(2 * x) * x, None),
    (r"f(x) = \mathrm{softplus}(x)", ("x",), lambda: sp.log(1 + sp.exp(x)), None),
    (r"f(x) = \operatorname{gelu}(x)", ("x",), lambda: gelu(x), None),
    (r"f(x) = \operatorname{erf}(x) + \operatorname{erfc}(x)", ("x",),
     lambda: sp.erf(x) + sp.erfc(x), None),
    (r"f(x) = \operatorname{expm1}(x) + \operatorname{log1p}(x)", ("x",),
     lambda: sp.exp(x) - 1 + sp.log(1 + x), None),
    (r"f(x, y) = \operatorname{atan2}(y, x)", ("x", "y"), lambda: sp.atan2(y, x), None),
    (r"f(x, y) = \operatorname{hypot}(x, y)", ("x", "y"), lambda: sp.sqrt(x**2 + y**2),
     None),
    (r"f(x) = \text{cbrt}(x)", ("x",), lambda: x**sp.Rational(1, 3), None),
    (r"f(x) = \operatorname{asinh}(x) + \operatorname{acosh}(x + 1) + "
     r"\operatorname{atanh}(x/2)", ("x",),
     lambda: sp.asinh(x) + sp.acosh(x + 1) + sp.atanh(x / 2), None),
    (r"f(x, y) = \operatorname{pow}(x, y)", ("x", "y"), lambda: x**y, None),
    (r"f(x) = \operatorname{lgamma}(x + 1)", ("x",), lambda: sp.loggamma(x + 1), None),
    (r"f(x, y) = \operatorname{where}(x > y, x, y)", ("x", "y"),
     lambda: sp.Piecewise((x, x > y), (y, True)), None),
    # names
    (r"f(\beta, x) = \beta x^2", ("β", "x"), lambda: S("β") * x**2, None),
    (r"f(\alpha, \gamma) = \alpha^2 \gamma", ("α", "γ"), lambda: S("α")**2 * S("γ"), None),
    (r"f(x, \sigma) = \sigma^2 x", ("x", "σ"), lambda: S("σ")**2 * x, None),
    (r"f(\mu, \sigma, x) = \frac{(x - \mu)^2}{2\sigma^2}", ("μ", "σ", "x"),
     lambda: (x - S("μ"))**2 / (2 * S("σ")**2), None),
    (r"f(\varepsilon, \varphi) = \varepsilon \varphi", ("ε", "φ"),
     lambda: S("ε") * S("φ"), None),
    (r"f(x_1, x_2) = x_1 x_2 + x_1^2", ("x_1", "x_2"),
     lambda: S("x_1") * S("x_2") + S("x_1")**2, None),
    (r"f(x_{1}, x_{12}) = x_{1} - x_{12}", ("x_1", "x_12"), lambda: S("x_1") - S("x_12"),
     None),
    (r"f(h_t, h_{t-1}) = h_t \cdot h_{t-1}", ("h_t", "h_{t-1}"),
     lambda: S("h_t") * S("h_{t-1}"), None),
    (r"f(\hat{y}, y) = (y - \hat{y})^2", ("ŷ", "y"), lambda: (y - S("ŷ"))**2, None),
    (r"f(\bar{x}, \tilde{c}) = \bar{x} + 2\tilde{c}", ("x\u0304", "c\u0303"),
     lambda: S("x\u0304") + 2 * S("c\u0303"), None),
    (r"f(\mathbf{x}, \vec{v}) = \mathbf{x} \boldsymbol{v}", ("x", "v"),
     lambda: x * S("v"), None),
    (r"\mathrm{loss}(w, b) = (w + b - 1)^2", ("w", "b"), lambda: (S("w") + b - 1)**2, None),
    (r"\operatorname{swish}(x, \beta) = x \sigma(\beta x)", ("x", "β"),
     lambda: x * sigmoid(S("β") * x), None),
    (r"f(W^{(1)}, x) = W^{(1)} x", ("W^{(1)}", "x"), lambda: S("W^{(1)}") * x, None),
    (r"f(\text{lr}, g) = \text{lr} \cdot g", ("lr", "g"), lambda: S("lr") * S("g"), None),
    # definitions
    (r"f(x, y) := x y + 1", ("x", "y"), lambda: x * y + 1, None),
    (r"f(x, y) \coloneqq x - y", ("x", "y"), lambda: x - y, None),
    (r"f(x; y) = x^y", ("x", "y"), lambda: x**y, None),
    # cases
    (r"f(x) = \begin{cases} x^2 & \text{if } x > 0.5 \\ -x & \text{otherwise} \end{cases}",
     ("x",), lambda: sp.Piecewise((x**2, x > sp.Rational(1, 2)), (-x, True)), None),
    (r"f(x, y) = \begin{cases} x & x \ge y \\ y & \text{otherwise} \end{cases}", ("x", "y"),
     lambda: sp.Piecewise((x, x >= y), (y, True)), None),
    (r"f(x) = \begin{cases} 1 & \text{if } x < 0.4 \\ x & \text{if } x < 0.7 \\ x^2 & "
     r"\text{otherwise} \end{cases}", ("x",),
     lambda: sp.Piecewise((1, x < sp.Rational(2, 5)), (x, x < sp.Rational(7, 10)),
                          (x**2, True)), None),
    (r"f(x, y) = \begin{cases} x y & \text{if } x > 0.5 \land y > 0.5 \\ 0 & "
     r"\text{otherwise}\end{cases}", ("x", "y"),
     lambda: sp.Piecewise((x * y, (x > sp.Rational(1, 2)) & (y > sp.Rational(1, 2))),
                          (0, True)), None),
    (r"f(x, y) = \begin{cases} x, & x \neq y \text{ and } \neg (x > 0.8) \\ y, & "
     r"\text{otherwise.} \end{cases}", ("x", "y"),
     lambda: sp.Piecewise((x, sp.Ne(x, y) & (x <= sp.Rational(4, 5))), (y, True)), None),
    # numbers and constants
    (r"f(x) = 1.5 \cdot 10^{-3} x", ("x",), lambda: sp.Rational(3, 2000) * x, None),
    (r"f(x) = 2 \times 10^{3} x", ("x",), lambda: 2000 * x, None),
    (r"f(x) = \pi x^2", ("x",), lambda: sp.pi * x**2, None),
    (r"f(x) = x / 2 \cdot 10^{3}", ("x",), lambda: x / 2 * 1000, None),
    # documents
    (r"$$f(x) = x^2 + 1$$", ("x",), lambda: x**2 + 1, None),
    (r"\begin{equation} f(x) = x^3 \end{equation}", ("x",), lambda: x**3, None),
    (r"\[ f(x) = 2^x \]", ("x",), lambda: 2**x, None),
    (r"Let $u = x^2$ and then $f(x) = u + 1$. % a comment $g(x) = 1$", ("x",),
     lambda: x**2 + 1, None),
    (r"\begin{align*} f(x) &= (x+1)^2 \\ &= x^2 + 2x + 1 \end{align*}", ("x",),
     lambda: (x + 1)**2, None),
    (r"\begin{align*} f(x) &= x^2 \\ &\quad + 2x + 1 \end{align*}", ("x",),
     lambda: x**2 + 2 * x + 1, None),
    (r"$$\begin{aligned} & f(x, y)\colon \\ u &= x + y \\ f &= u^2 \end{aligned}$$",
     ("x", "y"), lambda: (x + y)**2, None),
    ("u = x^2\nf(x) = u + x", ("x",), lambda: x**2 + x, None),
    ("f(x) = x^2 +\n  3x", ("x",), lambda: x**2 + 3 * x, None),
    (r"$$\frac{\partial f}{\partial x} = 2x, \quad f(x) = x^2$$", ("x",), lambda: x**2,
     None),
    # values: a text with no function defines one of the names it uses
    (r"E = \frac{1}{2} m v^2", ("m", "v"), lambda: S("m") * S("v")**2 / 2, None),
    (r"\mathrm{MSE} = (y - \hat{y})^2", ("y", "ŷ"), lambda: (y - S("ŷ"))**2, None),
    # textbook formulas of losses, activations and layers
    (r"f(x) = \frac{1}{1 + e^{-x}}", ("x",), lambda: 1 / (1 + sp.exp(-x)), None),
    (r"f(x) = \ln\left(1 + e^{x}\right)", ("x",), lambda: sp.log(1 + sp.exp(x)), None),
    (r"f(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}", ("x",),
     lambda: (sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x)), None),
    (r"f(x, y) = -y \ln x - (1 - y) \ln(1 - x)", ("x", "y"),
     lambda: -y * sp.log(x) - (1 - y) * sp.log(1 - x), None),
    (r"f(x, y) = \frac{1}{2}\left(x - y\right)^{2}", ("x", "y"), lambda: (x - y)**2 / 2,
     None),
    (r"f(x, y) = \left|x - y\right|", ("x", "y"), lambda: sp.Abs(x - y), None),
    (r"f(x, y) = \sqrt{(x - 1)^2 + (y - 2)^2}", ("x", "y"),
     lambda: sp.sqrt((x - 1)**2 + (y - 2)**2), None),
    (r"f(x, y) = (1 - x)^2 + 100(y - x^2)^2", ("x", "y"),
     lambda: (1 - x)**2 + 100 * (y - x**2)**2, None),
    (r"f(x, y) = x e^{-x^2 - y^2}", ("x", "y"), lambda: x * sp.exp(-x**2 - y**2), None),
    (r"f(x) = \frac{\ln x}{x^{2}}", ("x",), lambda: sp.log(x) / x**2, None),
    (r"f(x) = \cos^{2} x + \sin^{2} x", ("x",), lambda: sp.cos(x)**2 + sp.sin(x)**2, None),
    (r"f(x) = \tan(2x) \cdot \cos x", ("x",), lambda: sp.tan(2 * x) * sp.cos(x), None),
    (r"f(x, y) = \arctan\frac{y}{x}", ("x", "y"), lambda: sp.atan(y / x), None),
    (r"f(x) = \sinh x \cosh x", ("x",), lambda: sp.sinh(x) * sp.cosh(x), None),
    (r"f(x) = \log_{2}(1 + x)", ("x",), lambda: sp.log(1 + x, 2), None),
    (r"f(x) = \log_{10} x + \log x", ("x",), lambda: sp.log(x, 10) + sp.log(x), None),
    (r"f(x, y) = \max(x, y) + \min(x, 2y)", ("x", "y"),
     lambda: sp.Max(x, y) + sp.Min(x, 2 * y), None),
    (r"f(x, z) = \frac{x^{2}}{2} - \frac{z^{3}}{3} + x z", ("x", "z"),
     lambda: x**2 / 2 - z**3 / 3 + x * z, None),
    (r"f(x, y, z) = x y z + \frac{x + y}{z}", ("x", "y", "z"),
     lambda: x * y * z + (x + y) / z, None),
    (r"f(x) = \operatorname{erf}(x) \cdot \sqrt{\pi}", ("x",),
     lambda: sp.erf(x) * sp.sqrt(sp.pi), None),
]

# Formulas of shared/seeds, as they are written there.
SEEDS: list[tuple[str, tuple[str, ...], object]] = [
    (r"$f(x,y) = (x^2 + xy)(y^3)$", ("x", "y"), lambda: (x**2 + x * y) * y**3),
    (r"f(x,y) = (x^2 + xy)y^3", ("x", "y"), lambda: (x**2 + x * y) * y**3),
    (r"$J = \frac{1}{2} \bigl(y - \hat{y}\bigr)^2$", ("y", "ŷ"), lambda: (y - S("ŷ"))**2 / 2),
    (r"J = \frac{1}{2}(y - \hat{y})^2", ("y", "ŷ"), lambda: (y - S("ŷ"))**2 / 2),
    (r"$g_{\beta}(x) = x \sigma(\beta x)$", ("x", "β"), lambda: x * sigmoid(S("β") * x)),
    (r"$u = x^2 + xy, v = y^3, f = uv$", ("x", "y"), lambda: (x**2 + x * y) * y**3),
    (r"$c_t = f_t \odot c_{t-1} + i_t \odot \tilde{c}_t$",
     ("f_t", "c_{t-1}", "i_t", "c\u0303_t"),
     lambda: S("f_t") * S("c_{t-1}") + S("i_t") * S("c\u0303_t")),
    (r"$z = \mu + \sigma \odot \epsilon$", ("μ", "σ", "ε"),
     lambda: S("μ") + S("σ") * S("ε")),
    (r"$\hat{y} = a^{(2)} = f^{(2)} \Bigl(W^{(2)} \underbrace{f^{(1)}(W^{(1)}x + b^{(1)})}"
     r"_{\text{隐藏层输出}} + b^{(2)}\Bigr)$", ("a^{(2)}",), lambda: S("a^{(2)}")),
]


def compiled(tex: str) -> tuple[chaincc.Function, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn = chaincc.compile(tex, syntax="latex")
    return fn, [w for w in caught if issubclass(w.category, SourceWarning)]


def points(n: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.uniform(0.3, 0.9) for _ in range(n)] for _ in range(3)]


def test_enough_formulas() -> None:
    assert len(CASES) + len(SEEDS) >= 100


@pytest.mark.parametrize("i", range(len(CASES)))
def test_formula(i: int) -> None:
    tex, names, meaning, warning = CASES[i]
    fn, caught = compiled(tex)
    assert_matches(fn, meaning(), [S(n) for n in names], points(len(names), i))
    if warning is None:
        assert not caught, [str(w.message) for w in caught]
    else:
        assert len(caught) == 1 and warning in str(caught[0].message)


@pytest.mark.parametrize("i", range(len(SEEDS)))
def test_seed_formula(i: int) -> None:
    tex, names, meaning = SEEDS[i]
    fn, caught = compiled(tex)
    assert not caught
    assert_matches(fn, meaning(), [S(n) for n in names], points(len(names), 100 + i))


def test_seed_values() -> None:
    fn = chaincc.compile(r"$u = x^2 + xy, v = y^3, f = uv$", syntax="latex")
    assert fn.name == "f" and fn(1, 2) == 24 and fn.grad(1, 2) == (32, 44)
    g = chaincc.compile(r"$g_{\beta}(x) = x \sigma(\beta x)$", syntax="latex")
    assert g.name == "g_β" and g.params == ("x", "β")


def test_array_parameters() -> None:
    fn = chaincc.compile(r"f(W \in \mathbb{R}^{2 \times 3}, x \in \mathbb{R}^{3}, b) = "
                         r"\operatorname{sum}(W @ x) + b x[0] x[1] + x[2]^2 + W[1, 2]",
                         syntax="latex")
    assert fn.shapes == ((2, 3), (3,), ())
    W, v = np.arange(6.0).reshape(2, 3) / 7, np.array([0.3, 0.5, 0.7])
    value, (gW, gx, gb) = fn.value_and_grad(W, v, 2.0)
    assert value == pytest.approx(W.sum(axis=0) @ v + 2 * 0.3 * 0.5 + 0.49 + W[1, 2])
    assert gW == pytest.approx(np.tile(v, (2, 1)) + np.array([[0, 0, 0], [0, 0, 1]]))
    assert gx == pytest.approx(W.sum(axis=0) + np.array([2 * 0.5, 2 * 0.3, 1.4]))
    assert gb == pytest.approx(0.15)
    same = chaincc.compile(r"f(W[2,3], x[3], b) = \operatorname{sum}(W @ x) + b x[0] x[1] + "
                           r"x[2]^2 + W[1, 2]", syntax="latex")
    assert same.value_and_grad(W, v, 2.0)[0] == value


def test_matrices_and_transpose() -> None:
    fn = chaincc.compile(r"f(x, y) = \operatorname{sum}(\begin{bmatrix} x & y \\ 1 & x "
                         r"\end{bmatrix}^{\top} @ \begin{pmatrix} x \\ y \end{pmatrix})",
                         syntax="latex")
    # [[x, 1], [y, x]] @ [x, y] = [x² + y, xy + xy]
    xs, ys = S("x"), S("y")
    assert_matches(fn, xs**2 + ys + 2 * xs * ys, [xs, ys], points(2, 7))


def test_definitions_read_in_order_across_formulas() -> None:
    doc = (r"A binding in one formula, $s = \sigma(w x)$, and the loss in the next: "
           r"$$L(w, x, t) = (s - t)^2$$ and a remark $L \ge 0$.")
    fn = chaincc.compile(doc, syntax="latex")
    w, t = S("w"), S("t")
    assert_matches(fn, (sigmoid(w * x) - t)**2, [w, x, t], points(3, 8))


def test_tex_files_from_the_api_and_the_command_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "model.tex"
    path.write_text("% a model\n\\begin{equation}\n  f(x, y) = \\frac{x^2}{y}\n"
                    "\\end{equation}\n", encoding="utf-8")
    assert chaincc.compile(path)(2, 4) == 1
    assert main(["eval", str(path), "x=2", "y=4"]) == 0
    assert capsys.readouterr().out.splitlines() == ["f(x=2, y=4) = 1", "∂f/∂x = 1",
                                                   "∂f/∂y = -0.25"]
    with pytest.raises(ChainccError, match="unexpected character"):
        chaincc.compile(path, syntax="text")
    unit = chaincc.compile_unit(r"g(x) = \sqrt{x}", syntax="latex")
    assert unit.names == ["g"]


def test_syntax_argument() -> None:
    with pytest.raises(TypeError, match="syntax must be one of 'text', 'latex'"):
        chaincc.compile("f(x) = x", syntax="tex")
    text, latex = Source("s", "f(x) = x"), Source("s", "f(x) = x", "latex")
    assert Unit.cache_key(text) != Unit.cache_key(latex)   # one text, two meanings
    assert chaincc.compile(text, syntax="latex").params == ("x",)


# ------------------------------------------------------------------------- errors

ERRORS = [
    # (LaTeX, line, column, message part, NotComputable)
    (r"f(x) = \foo x", 1, 8, "unknown LaTeX command '\\foo'", False),
    (r"f(x) = \sum_{i=0}^{n-1} x_i", 1, 20, "the end of a range must be an integer", False),
    (r"f(x) = \prod_{i} x", 1, 16, "expected '=' and the first value after the index variable",
     False),
    (r"f(x) = \max_{i} x", 1, 12, "\\max over an index needs iteration", True),
    (r"f(x) = \lim_{h \to 0} x", 1, 8, "a limit cannot be computed", True),
    (r"f(x) = x + \dots", 1, 12, "an elision (\\dots)", True),
    (r"f(x) = x + ... + x", 1, 12, "an elision", True),
    (r"f(x) = g'(x)", 1, 9, "(a prime) is derivative notation", True),
    (r"f(x) = \frac{\partial x}{x}", 1, 14, "\\partial is derivative notation", True),
    (r"y = f(g(x))", 1, 5, "'f' is applied to arguments but not defined", True),
    (r"f(x) = x + \frac{1}{2", 1, 20, "\\frac's denominator is never closed", False),
    (r"f(x) = \left( x + 1", 1, 8, "'\\left(' is never closed", False),
    (r"f(x) = (x + 1]", 1, 14, "']' does not close the '(' at line 1, column 8", False),
    (r"f(x) = x^2^3", 1, 11, "double superscript", False),
    (r"f(x, \sigma) = \sigma(x)", 1, 16, "'\\sigma(…)' is ambiguous here", False),
    (r"f(x) = ||x| - 1|", 1, 9, "bars written as | (or \\|) do not nest", False),
    (r"f(x) = 2x \text{ if } x > 0", 1, 11, "a condition written in prose", False),
    (r"f(x \in \mathbb{R}^{3}) = x_1", 1, 27, "'x' is an array: its elements are written",
     False),
    (r"f(x) = \begin{cases} x & \text{if } x > 0 \end{cases}", 1, 37,
     "the last case must be \\text{otherwise}", False),
    (r"f(x) = \sin^{-2} x", 1, 12, "a negative power of sin is ambiguous", False),
    (r"f(x) = \mathbb{R} x", 1, 8, "\\mathbb{…} names a set", False),
    (r"f(x) = x_", 1, 10, "expected a subscript after '_'", False),
    (r"f(W \in \mathbb{R}^{n}) = W", 1, 21, "array sizes must be positive integers", False),
    (r"f(x, x) = x", 1, 6, "duplicate parameter 'x'", False),
    (r"x^2 + 1", 1, 1, "no definition found", False),
    (r"$$\begin{aligned} & f(x)\colon \\ u &= x \end{aligned}$$", 1, 21,
     "'f(…):' declares f but no row 'f = …' defines it", False),
    ("text and $x = 1 and more", 1, 10, "'$' is never closed", False),
    ("$$\nf(x) = x +\n  \\bad\n$$", 3, 3, "unknown LaTeX command '\\bad'", False),
    (r"f(x) = \frac{1}{x} = 2 \\ g(x) = x^{", 1, 36, "the exponent is never closed", False),
    (r"f(x) = x \# 2", 1, 10, "unknown LaTeX command '\\#'", False),
    (r"f(x) = \int x", 1, 8, "an integral cannot be computed", True),
]


@pytest.mark.parametrize("tex, line, col, message, not_computable", ERRORS)
def test_error_caret(tex: str, line: int, col: int, message: str,
                     not_computable: bool) -> None:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(tex, syntax="latex")
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert message in err.message, str(err)
    assert isinstance(err, NotComputable) == not_computable
    # the caret sits under the column, below the line of the LaTeX text
    text, caret = str(err).splitlines()[1:3]
    assert text == "    " + tex.split("\n")[line - 1]
    assert caret.index("^") == 4 + col - 1


def test_caret_rendering() -> None:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(r"f(x) = \sqrt{x} + \foo", syntax="latex", name="m.tex")
    assert str(info.value) == ("m.tex:1:19: error: unknown LaTeX command '\\foo'\n"
                               "    f(x) = \\sqrt{x} + \\foo\n"
                               "                      ^~~~")


# ----------------------------------------------------------------- hostile input


def test_deep_nesting_reads_iteratively() -> None:
    n = 10_000
    fn = chaincc.compile("f(x) = " + "{" * n + "x" + "}" * n + " + " + r"\left(" * n + "x"
                         + r"\right)" * n, syntax="latex")
    assert fn(1.5) == 3
    with pytest.raises(ChainccError, match="nested more than 12,000"):
        chaincc.compile("f(x) = " + r"\sin " * 13_000 + "x", syntax="latex")
    with pytest.raises(ChainccError, match="nested more than 12,000"):
        chaincc.compile("f(x) = " + "{" * 13_000 + "x" + "}" * 13_000, syntax="latex")
    with pytest.raises(ChainccError, match="a name nested more than 8 deep"):
        chaincc.compile("f(x) = " + r"\hat{" * 20 + "x" + "}" * 20, syntax="latex")


def test_bounded_work_on_unclosed_input() -> None:
    for text in ("$" + r"\begin{" * 50_000, "$ " + r"\text{" * 50_000 + "$",
                 "$$f(x) = x" + r" \\[" * 20_000 + "$$", "f(x) = x^{" * 20_000):
        with pytest.raises(ChainccError):
            chaincc.compile(text, syntax="latex")
    with pytest.raises(ChainccError, match="at most 100,000 tokens"):
        chaincc.compile("f(x) = " + "x+" * 60_000 + "x", syntax="latex")
