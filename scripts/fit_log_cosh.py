#!/usr/bin/python3
"""Fits the float polynomials of log_cosh (include/xloss/regression.hpp).

With u = e^2 and q = exp(-2|e|):
- |e| < 3/4:  log cosh e = u P(u) and tanh e = e Q(u);
- |e| >= 3/4: log cosh e = |e| - log 2 + q R(q), q <= exp(-3/2).
P, Q and R have degree 5 and a first coefficient fixed to the series' own (1/2,
1, 1), so they are exact at 0. Each is a least-squares fit of the relative
error on Chebyshev nodes, reweighted towards its largest errors (an iterative
approach to the minimax fit), against a long-double reference. The script
prints the coefficients (highest degree first) and the worst relative error,
in float epsilons, of Horner's scheme evaluated in float with the coefficients
rounded to float.

Run: /usr/bin/python3 scripts/fit_log_cosh.py (NumPy only).
"""
import numpy as np

LONG = np.longdouble
F32 = np.float32
THRESHOLD = 0.75
DEGREE = 5


def log_cosh(e):
    # cosh e - 1 = 2 sinh^2(e / 2): no cancellation for tiny e
    h = np.sinh(LONG(e) / 2)
    return np.log1p(2 * h * h)


# name: (the function of t, the variable t of e, its fitted ratio f(t) / g(t), g(t))
CASES = {
    "P (log cosh, near)": (lambda e: log_cosh(e), lambda e: e * e, lambda t: t),
    "Q (tanh, near)": (lambda e: np.tanh(LONG(e)), lambda e: e * e, lambda t: np.sqrt(t)),
    "R (log1p(q), far)": (lambda e: np.log1p(np.exp(-2 * LONG(e))), lambda e: np.exp(-2 * e), lambda t: t),
}
FIRST = {"P (log cosh, near)": 0.5, "Q (tanh, near)": 1.0, "R (log1p(q), far)": 1.0}


def fit(name, lo, hi, nodes=3000, rounds=60):
    exact, var, scale = CASES[name]
    k = np.arange(nodes)
    e = lo + (hi - lo) * (1 - np.cos(np.pi * (k + 0.5) / nodes)) / 2 + 1e-9
    t = var(e)
    y = np.array([exact(v) for v in e]) / scale(t.astype(LONG))
    y = y.astype(np.float64)
    powers = np.vander(t, DEGREE + 1, increasing=True)
    weight = np.ones(nodes)
    first = FIRST[name]
    for _ in range(rounds):
        rest, *_ = np.linalg.lstsq(powers[:, 1:] * (weight / y)[:, None], weight * (y - first) / y, rcond=None)
        coef = np.concatenate([[first], rest])
        err = np.abs(powers @ coef - y) / y
        weight *= 1 + 3 * err / err.max()
    return coef


def worst_error(name, coef, lo, hi):
    exact, var, scale = CASES[name]
    c = coef.astype(F32)
    e = np.linspace(lo + 1e-6, hi, 40001).astype(F32)
    t = var(e.astype(np.float64)).astype(F32)
    p = np.full_like(t, c[-1])
    for ci in c[-2::-1]:
        p = (p * t + ci).astype(F32)
    got = (p * scale(t) if name != "Q (tanh, near)" else p * e).astype(F32).astype(LONG)
    want = np.array([exact(v) for v in e])
    return float(np.max(np.abs((got - want) / want)) / np.finfo(F32).eps)


for name, (lo, hi) in (("P (log cosh, near)", (0, THRESHOLD)), ("Q (tanh, near)", (0, THRESHOLD)),
                       ("R (log1p(q), far)", (THRESHOLD, 12.0))):
    coef = fit(name, lo, hi)
    print(name, ", ".join("%.9e" % v for v in coef[::-1]), "worst %.2f eps" % worst_error(name, coef, lo, hi))
