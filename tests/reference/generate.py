#!/usr/bin/python3
"""Golden values for the xloss tests (tests/test_reference.cpp).

Run with Debian's interpreter, which has NumPy and PyTorch:

    /usr/bin/python3 tests/reference/generate.py          # writes reference_data.txt
    /usr/bin/python3 tests/reference/generate.py --check  # regenerates in memory, diffs

The output is deterministic (fixed seed, no dict/set ordering, no threads in
the float64 math), so running it twice gives the same bytes.

How the numbers are made
------------------------
* Inputs are drawn with numpy.random.default_rng(SEED) and rounded to 9
  significant digits; the rounded value is what is written *and* what the
  references are computed from, so the file is exact.
* Values are computed three independent ways and must agree before anything is
  written:
    1. NumPy in long double (x87 80-bit), vectorised over a "slice layout"
       (reduced axes moved last, in the listed order, and flattened);
    2. a plain Python loop over every batch index and every reduced index,
       with math.fsum (no NumPy broadcasting/moveaxis tricks);
    3. PyTorch float64 (for the non-edge cases), the same formulation that
       is differentiated for the gradients.
  The value written is (1), rounded to float64.
* Gradients are torch.autograd of sum(g * loss) in float64, checked against
  central finite differences of (1). The gradient cases use data where the
  loss is smooth (no -inf logits, no zero targets, no zero vectors, no labels
  on masked elements).

Semantics (SPEC.md): S = masked sum over the reduced axes; a mask of the
input's rank broadcasts to the full (broadcast) input shape, a mask of the
batch rank broadcasts to the batch shape and masks whole slices; a slice with
no selected element gives 0 for every loss; masked elements never contribute
(NaN/-inf under a false mask included) and get gradient 0.
"""

import itertools
import math
import os
import sys

import numpy as np
import torch

SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "reference_data.txt")
LD = np.longdouble
INF = float("inf")

SCE = "softmax_cross_entropy"
INT = "softmax_cross_entropy_with_integer_labels"
KL = "kl_divergence"
CKL = "convex_kl_divergence"
COS = "cosine_similarity"
COSD = "cosine_distance"
FOCAL = "sigmoid_focal_loss"
SQE = "squared_error"
L2 = "l2_loss"
HUBER = "huber_loss"
LOGCOSH = "log_cosh"
KLLT = "kl_divergence_with_log_targets"
POLY = "poly_loss_cross_entropy"
BCE = "sigmoid_binary_cross_entropy"
LOSSES = [SCE, INT, KL, CKL, COS, COSD, FOCAL, KLLT, POLY, BCE]
# Generated after every case of the first seven losses, on the same random
# stream, so that adding them left the earlier cases' random draws, hence
# their bytes, unchanged.
REGRESSION = [SQE, L2, HUBER, LOGCOSH]
SHORT = {SCE: "sce", INT: "sce_int", KL: "kl", CKL: "ckl", COS: "cos", COSD: "cosd", FOCAL: "focal",
         SQE: "sqe", L2: "l2", HUBER: "huber", LOGCOSH: "logcosh", KLLT: "kllt", POLY: "poly",
         BCE: "bce"}
# Losses added later draw from their own random stream
# (default_rng([SEED, n])), so that adding one changes no other loss's cases.
OWN_STREAM = {KLLT: 1, POLY: 2, BCE: 3}

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

rng = np.random.default_rng(SEED)


# --------------------------------------------------------------------------
# axes and layout
# --------------------------------------------------------------------------

def norm_axes(axis, ndim):
    """axis spec -> list of non-negative axes, in the listed order."""
    if axis == "none":
        return []
    if axis == "all":
        return list(range(ndim))
    if axis == "default":
        return [ndim - 1]
    if isinstance(axis, int):
        axis = [axis]
    out = []
    for a in axis:
        assert -ndim <= a < ndim, (axis, ndim)
        out.append(a % ndim)
    assert len(set(out)) == len(out)
    return out


def batch_shape(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def to_slices(a, axes):
    """[...] -> batch + [K]: reduced axes moved last in the listed order, flattened row-major."""
    n = a.ndim
    k = len(axes)
    dst = list(range(n - k, n))
    if isinstance(a, torch.Tensor):
        moved = torch.movedim(a, tuple(axes), tuple(dst)) if k else a
        return moved.reshape(tuple(moved.shape[: n - k]) + (-1,))
    moved = np.moveaxis(a, axes, dst) if k else a
    return moved.reshape(moved.shape[: n - k] + (-1,))


def from_slices(s, shape, axes):
    """Inverse of to_slices for an array of full shape `shape`."""
    n = len(shape)
    k = len(axes)
    red = [shape[a] for a in axes]
    moved = s.reshape(batch_shape(shape, axes) + tuple(red))
    return np.moveaxis(moved, list(range(n - k, n)), axes) if k else moved


def full_shape(loss, x, y):
    if loss == INT:
        return x.shape
    return np.broadcast_shapes(x.shape, y.shape)


def mask_slices(where, shape, axes):
    """The mask in slice layout (bool, batch + [K])."""
    bshape = batch_shape(shape, axes)
    k = int(np.prod([shape[a] for a in axes], dtype=np.int64)) if axes else 1
    if where is None:
        return np.ones(bshape + (k,), dtype=bool)
    if where.ndim == len(shape):
        return to_slices(np.broadcast_to(where, shape), axes)
    assert where.ndim == len(bshape), (where.shape, shape, axes)
    mb = np.broadcast_to(where, bshape)
    return np.broadcast_to(mb[..., None], bshape + (k,))


# --------------------------------------------------------------------------
# reference 1: NumPy long double, slice layout
# --------------------------------------------------------------------------

def np_focal_elem(x, l, alpha, gamma):
    # p = sigmoid(x); ce = softplus(x) - l x; 1 - p_t = l (1 - p) + (1 - l) p
    p = 1 / (1 + np.exp(-x))
    q = 1 / (1 + np.exp(x))  # 1 - p without cancellation
    ce = np.logaddexp(LD(0), x) - l * x
    omp = l * q + (1 - l) * p
    f = ce * omp ** LD(gamma)
    if alpha is not None:
        a = LD(alpha)
        f = f * (a * l + (1 - a) * (1 - l))
    return f


def np_bce_elem(x, l):
    # y softplus(-x) + (1 - y) softplus(x); a hard label takes its own term
    # alone (0 * inf would be NaN at the infinite logit it predicts)
    sp_neg = np.logaddexp(LD(0), -x)
    sp_pos = np.logaddexp(LD(0), x)
    return np.where(l == 0, sp_pos, np.where(l == 1, sp_neg, l * sp_neg + (1 - l) * sp_pos))


def np_regression_elem(loss, e, opts):
    if loss == SQE:
        return e * e
    if loss == L2:
        return e * e / 2
    if loss == HUBER:
        d = LD(opts.get("delta", 1.0))
        a = np.abs(e)
        return np.where(a <= d, e * e / 2, d * (a - d / 2))
    # log(cosh(e)) = |e| - log 2 + log1p(exp(-2|e|)): no overflow
    a = np.abs(e)
    return a - np.log(LD(2)) + np.log1p(np.exp(-2 * a))


def np_loss(loss, x, y, axis, where, opts):
    shape = full_shape(loss, x, y)
    axes = norm_axes(axis, len(shape))
    m = mask_slices(where, shape, axes)
    anyb = m.any(-1)
    with np.errstate(all="ignore"):
        xs = to_slices(np.broadcast_to(x, shape).astype(LD), axes)
        if loss == INT:
            ys = y
        else:
            ys = to_slices(np.broadcast_to(y, shape).astype(LD), axes)
        if loss in (SCE, INT, POLY):
            xm = np.where(m, xs, LD(-INF))
            mx = xm.max(-1)
            mx = np.where(np.isfinite(mx), mx, LD(0))
            lse = mx + np.log(np.where(m, np.exp(xm - mx[..., None]), LD(0)).sum(-1))
            if loss in (SCE, POLY):
                sel = m & (ys != 0)
                term = np.where(sel, ys * (np.where(sel, xs, LD(0)) - lse[..., None]), LD(0))
                val = -term.sum(-1)
                if loss == POLY:
                    # Optax: + epsilon * sum(labels * (1 - softmax(logits, where)), where)
                    p = np.exp(np.where(m, xs, LD(-INF)) - lse[..., None])
                    val = val + LD(opts.get("epsilon", 2.0)) * np.where(m, ys * (1 - p), LD(0)).sum(-1)
            else:
                lab = ys.astype(np.int64)
                xl = np.take_along_axis(xs, lab[..., None], -1)[..., 0]
                ml = np.take_along_axis(m, lab[..., None], -1)[..., 0]
                val = np.where(ml, lse - xl, LD(INF))
        elif loss in (KL, CKL):
            sel = m & (ys != 0)
            ysafe = np.where(sel, ys, LD(1))
            term = np.where(sel, ys * (np.log(ysafe) - np.where(sel, xs, LD(0))), LD(0))
            val = term.sum(-1)
            if loss == CKL:
                val = val + np.where(m, np.exp(np.where(m, xs, LD(0))) - ys, LD(0)).sum(-1)
        elif loss == KLLT:
            # a -inf log target (probability 0) contributes 0
            sel = m & (ys != LD(-INF))
            term = np.where(sel, np.exp(np.where(sel, ys, LD(0))) * (np.where(sel, ys, LD(0)) - xs), LD(0))
            val = term.sum(-1)
        elif loss in (COS, COSD):
            eps = LD(opts.get("epsilon", 0.0))
            xz = np.where(m, xs, LD(0))
            yz = np.where(m, ys, LD(0))
            ab = (xz * yz).sum(-1)
            aa = (xz * xz).sum(-1)
            bb = (yz * yz).sum(-1)
            den = np.sqrt(np.maximum(aa, eps)) * np.sqrt(np.maximum(bb, eps))
            sim = np.where(den > 0, ab / np.where(den > 0, den, LD(1)), LD(0))
            val = sim if loss == COS else 1 - sim
        elif loss in REGRESSION:
            e = np.where(m, xs - ys, LD(0))
            val = np.where(m, np_regression_elem(loss, e, opts), LD(0)).sum(-1)
        elif loss == FOCAL:
            f = np_focal_elem(np.where(m, xs, LD(0)), np.where(m, ys, LD(0)),
                              opts.get("alpha"), opts.get("gamma", 2.0))
            val = np.where(m, f, LD(0)).sum(-1)
        elif loss == BCE:
            f = np_bce_elem(np.where(m, xs, LD(0)), np.where(m, ys, LD(0)))
            val = np.where(m, f, LD(0)).sum(-1)
        else:
            raise ValueError(loss)
        val = np.where(anyb, val, LD(0))
    return np.asarray(val)


# --------------------------------------------------------------------------
# reference 2: plain Python loops, one slice at a time
# --------------------------------------------------------------------------

def py_softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def py_sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def py_slice_loss(loss, xs, ys, ms, label, opts):
    sel = [i for i, mm in enumerate(ms) if mm]
    if not sel:
        return 0.0
    if loss in (SCE, INT, POLY):
        mx = max(xs[i] for i in sel)
        lse = mx + math.log(math.fsum(math.exp(xs[i] - mx) for i in sel))
        if loss == INT:
            return lse - xs[label] if ms[label] else INF
        ce = -math.fsum(ys[i] * (xs[i] - lse) for i in sel if ys[i] != 0)
        if loss == POLY:
            poly = math.fsum(ys[i] * (1.0 - math.exp(xs[i] - lse)) for i in sel)
            return math.fsum([ce, opts.get("epsilon", 2.0) * poly])
        return ce
    if loss == KLLT:
        return math.fsum(math.exp(ys[i]) * (ys[i] - xs[i]) for i in sel if ys[i] != -INF)
    if loss in (KL, CKL):
        v = math.fsum(ys[i] * (math.log(ys[i]) - xs[i]) for i in sel if ys[i] != 0)
        if loss == CKL:
            v = math.fsum([v] + [math.exp(xs[i]) - ys[i] for i in sel])
        return v
    if loss in (COS, COSD):
        eps = opts.get("epsilon", 0.0)
        ab = math.fsum(xs[i] * ys[i] for i in sel)
        aa = math.fsum(xs[i] * xs[i] for i in sel)
        bb = math.fsum(ys[i] * ys[i] for i in sel)
        den = math.sqrt(max(aa, eps)) * math.sqrt(max(bb, eps))
        sim = ab / den if den > 0 else 0.0
        return sim if loss == COS else 1.0 - sim
    if loss in REGRESSION:
        out = []
        for i in sel:
            e = xs[i] - ys[i]
            if loss == SQE:
                out.append(e * e)
            elif loss == L2:
                out.append(e * e / 2)
            elif loss == HUBER:
                d = opts.get("delta", 1.0)
                out.append(e * e / 2 if abs(e) <= d else d * (abs(e) - d / 2))
            else:
                out.append(math.log(math.cosh(e)) if abs(e) < 20 else abs(e) - math.log(2.0))
        return math.fsum(out)
    if loss == FOCAL:
        alpha = opts.get("alpha")
        gamma = opts.get("gamma", 2.0)
        out = []
        for i in sel:
            x, l = xs[i], ys[i]
            ce = py_softplus(x) - l * x
            omp = l * py_sigmoid(-x) + (1 - l) * py_sigmoid(x)
            f = ce * omp ** gamma
            if alpha is not None:
                f *= alpha * l + (1 - alpha) * (1 - l)
            out.append(f)
        return math.fsum(out)
    if loss == BCE:
        out = []
        for i in sel:
            x, l = xs[i], ys[i]
            if l == 0:
                out.append(py_softplus(x))
            elif l == 1:
                out.append(py_softplus(-x))
            else:
                out.append(l * py_softplus(-x) + (1 - l) * py_softplus(x))
        return math.fsum(out)
    raise ValueError(loss)


def py_loss(loss, x, y, axis, where, opts):
    shape = full_shape(loss, x, y)
    n = len(shape)
    axes = norm_axes(axis, n)
    baxes = [i for i in range(n) if i not in axes]
    bshape = tuple(shape[i] for i in baxes)
    xb = np.broadcast_to(x, shape)
    yb = y if loss == INT else np.broadcast_to(y, shape)
    if where is not None and where.ndim == n:
        wfull = np.broadcast_to(where, shape)
        wbatch = None
    elif where is not None:
        wfull = None
        wbatch = np.broadcast_to(where, bshape)
    out = np.zeros(bshape)
    for bidx in itertools.product(*[range(s) for s in bshape]):
        xs, ys, ms = [], [], []
        for ridx in itertools.product(*[range(shape[a]) for a in axes]):
            idx = [0] * n
            for a, i in zip(baxes, bidx):
                idx[a] = i
            for a, i in zip(axes, ridx):
                idx[a] = i
            idx = tuple(idx)
            xs.append(float(xb[idx]))
            if loss != INT:
                ys.append(float(yb[idx]))
            if where is None:
                ms.append(True)
            elif wfull is not None:
                ms.append(bool(wfull[idx]))
            else:
                ms.append(bool(wbatch[bidx]))
        label = int(yb[bidx]) if loss == INT else None
        out[bidx] = py_slice_loss(loss, xs, ys, ms, label, opts)
    return out


# --------------------------------------------------------------------------
# reference 3: PyTorch float64 (values and gradients)
# --------------------------------------------------------------------------

def torch_loss(loss, x, y, axis, where, opts):
    """x, y: torch tensors (y int64 for INT). Smooth formulation for autograd."""
    shape = tuple(np.broadcast_shapes(tuple(x.shape), tuple(y.shape))) if loss != INT else tuple(x.shape)
    axes = norm_axes(axis, len(shape))
    m = torch.from_numpy(np.array(mask_slices(where, shape, axes), dtype=bool))
    anyb = m.any(-1)
    # a slice with nothing selected is computed as if fully selected (finite,
    # so its gradient is finite) and then replaced by 0 (gradient 0)
    meff = m | ~anyb[..., None]
    xs = to_slices(torch.broadcast_to(x, shape), axes)
    zero = torch.zeros((), dtype=torch.float64)
    if loss != INT:
        ys = to_slices(torch.broadcast_to(y, shape), axes)
    if loss in (SCE, INT, POLY):
        xm = torch.where(meff, xs, torch.full_like(xs, -INF))
        lse = torch.logsumexp(xm, -1)
        if loss == SCE:
            val = -torch.where(meff, ys * (xs - lse[..., None]), zero).sum(-1)
        elif loss == POLY:
            k = xs.shape[-1]
            if where is None and k > 0:
                # no mask: torch's own cross entropy with probability targets
                ce = torch.nn.functional.cross_entropy(xs.reshape(-1, k), ys.reshape(-1, k),
                                                       reduction="none").reshape(xs.shape[:-1])
            else:
                ce = -torch.where(meff, ys * (xs - lse[..., None]), zero).sum(-1)
            p = torch.softmax(xm, -1)
            val = ce + opts.get("epsilon", 2.0) * torch.where(meff, ys * (1 - p), zero).sum(-1)
        else:
            lab = y[..., None]
            val = lse - torch.gather(xs, -1, lab)[..., 0]
            ml = torch.gather(m, -1, lab)[..., 0]
            val = torch.where(ml | ~anyb, val, torch.full_like(val, INF))
    elif loss in (KL, CKL):
        nz = meff & (ys != 0)  # 0 log 0 = 0; the gradient cases have no zero targets
        val = torch.where(nz, ys * (torch.log(torch.where(nz, ys, torch.ones_like(ys))) - xs), zero).sum(-1)
        if loss == CKL:
            val = val + torch.where(meff, torch.exp(xs) - ys, zero).sum(-1)
    elif loss == KLLT:
        kl = torch.nn.functional.kl_div(xs, ys, reduction="none", log_target=True)
        val = torch.where(meff & (ys != -INF), kl, zero).sum(-1)  # torch: NaN at a -inf target
    elif loss in (COS, COSD):
        eps = opts.get("epsilon", 0.0)
        ab = torch.where(meff, xs * ys, zero).sum(-1)
        aa = torch.where(meff, xs * xs, zero).sum(-1)
        bb = torch.where(meff, ys * ys, zero).sum(-1)
        den = torch.sqrt(torch.clamp(aa, min=eps)) * torch.sqrt(torch.clamp(bb, min=eps))
        sim = ab / den
        val = sim if loss == COS else 1 - sim
    elif loss in REGRESSION:
        F = torch.nn.functional
        if loss == SQE:
            f = F.mse_loss(xs, ys, reduction="none")
        elif loss == L2:
            f = F.mse_loss(xs, ys, reduction="none") / 2
        elif loss == HUBER:
            f = F.huber_loss(xs, ys, reduction="none", delta=opts.get("delta", 1.0))
        else:
            e = xs - ys  # optax's formula: logaddexp(e, -e) - log 2
            f = torch.logaddexp(e, -e) - math.log(2.0)
        val = torch.where(m, f, zero).sum(-1)
    elif loss == FOCAL:
        alpha = opts.get("alpha")
        gamma = opts.get("gamma", 2.0)
        p = torch.sigmoid(xs)
        ce = torch.nn.functional.softplus(xs) - ys * xs
        p_t = p * ys + (1 - p) * (1 - ys)
        f = ce * (1 - p_t) ** gamma
        if alpha is not None:
            f = f * (alpha * ys + (1 - alpha) * (1 - ys))
        val = torch.where(m, f, zero).sum(-1)
    elif loss == BCE:
        f = torch.nn.functional.binary_cross_entropy_with_logits(xs, ys, reduction="none")
        val = torch.where(m, f, zero).sum(-1)
    else:
        raise ValueError(loss)
    return torch.where(anyb, val, zero)


def torch_grads(loss, x, y, axis, where, opts, g, argnums):
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=0 in argnums)
    if loss == INT:
        ty = torch.tensor(y, dtype=torch.int64)
    else:
        ty = torch.tensor(y, dtype=torch.float64, requires_grad=1 in argnums)
    val = torch_loss(loss, tx, ty, axis, where, opts)
    tg = torch.broadcast_to(torch.tensor(g, dtype=torch.float64), val.shape)
    if argnums:
        (tg * val).sum().backward()
    out = []
    for a in argnums:
        t = tx if a == 0 else ty
        out.append(t.grad.numpy().copy())
    return val.detach().numpy(), out


def fd_check(loss, x, y, axis, where, opts, g, argnums, grads, name):
    """Central finite differences of sum(g * loss) (long double) vs autograd."""
    def F(xx, yy):
        v = np_loss(loss, xx, yy, axis, where, opts)
        return (np.broadcast_to(np.asarray(g, dtype=LD), v.shape) * v).sum()

    for a, gr in zip(argnums, grads):
        base = x if a == 0 else y
        for idx in np.ndindex(base.shape):
            # relative step (targets can be ~1e-4, where t log t bends fast); long double keeps
            # the rounding error of the difference quotient small
            h = 1e-6 * max(abs(float(base[idx])), 1e-3)
            bp = base.astype(LD).copy()
            bm = base.astype(LD).copy()
            bp[idx] += LD(h)
            bm[idx] -= LD(h)
            if a == 0:
                d = (F(bp, y) - F(bm, y)) / (2 * h)
            else:
                d = (F(x, bp) - F(x, bm)) / (2 * h)
            d = float(d)
            if not abs(d - gr[idx]) <= 1e-6 * (1 + abs(gr[idx])):
                raise AssertionError(f"{name}: grad{a}{idx} autograd {gr[idx]!r} vs finite difference {d!r}")


# --------------------------------------------------------------------------
# input generation
# --------------------------------------------------------------------------

def q(a):
    """Round to 9 significant digits: the written decimal is the exact input."""
    a = np.asarray(a, dtype=np.float64)
    return np.vectorize(lambda v: float("%.9g" % v), otypes=[np.float64])(a) if a.size else a


def softmax_over(z, axes):
    """Softmax of z over `axes` (each slice sums to 1)."""
    s = to_slices(z, axes)
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return from_slices(e / e.sum(-1, keepdims=True), z.shape, axes)


def log_softmax_over(z, axes):
    s = to_slices(z, axes)
    s = s - s.max(-1, keepdims=True)
    return from_slices(s - np.log(np.exp(s).sum(-1, keepdims=True)), z.shape, axes)


def make_inputs(loss, xshape, yshape, axis, variant):
    """Draw x (shape xshape) and y (shape yshape, broadcastable to xshape) for a loss.

    variant flags: sparse (zero labels/targets), soft (focal labels in [0, 1]
    instead of {0, 1}), scale (cosine input magnitude).
    """
    axes = norm_axes(axis, len(xshape))
    yaxes = norm_axes(axis, len(yshape))
    elementwise = len(axes) == 0
    if loss in (SCE, INT, FOCAL, POLY, BCE):
        x = rng.normal(0.0, 3.0, xshape)
    elif loss in (KL, CKL, KLLT):
        z = rng.normal(0.0, 2.0, xshape)
        x = np.log(rng.uniform(0.05, 1.0, xshape)) if elementwise else log_softmax_over(z, axes)
    else:
        x = rng.normal(0.0, 1.0, xshape) * variant.get("scale", 1.0)
    if loss in REGRESSION:
        y = rng.normal(0.0, 1.0, yshape)
    if loss in (SCE, POLY):
        if elementwise:
            y = rng.uniform(0.0, 1.0, yshape)
        else:
            y = softmax_over(rng.normal(0.0, 3.0, yshape), yaxes)
        if variant.get("sparse"):
            y = np.where(rng.random(yshape) < 0.4, 0.0, y)
    elif loss == INT:
        bshape = batch_shape(xshape, axes)
        k = int(np.prod([xshape[a] for a in axes])) if axes else 1
        y = rng.integers(0, k, bshape).astype(np.int64)
    elif loss in (KL, CKL):
        y = rng.uniform(0.05, 1.0, yshape) if elementwise else softmax_over(rng.normal(0.0, 2.0, yshape), yaxes)
        if variant.get("sparse"):
            y = np.where(rng.random(yshape) < 0.3, 0.0, y)
    elif loss == KLLT:
        y = np.log(rng.uniform(0.05, 1.0, yshape)) if elementwise else log_softmax_over(
            rng.normal(0.0, 2.0, yshape), yaxes)
        if variant.get("sparse"):
            y = np.where(rng.random(yshape) < 0.3, -INF, y)  # targets of probability 0
    elif loss in (COS, COSD):
        y = rng.normal(0.0, 1.0, yshape) * variant.get("scale", 1.0)
    elif loss in (FOCAL, BCE):
        if variant.get("soft"):
            y = rng.uniform(0.0, 1.0, yshape)
        else:
            y = (rng.random(yshape) < 0.5).astype(np.float64)
    if loss == INT:
        return q(x), y
    return q(x), q(y)


def make_mask(kind, xshape, axis):
    axes = norm_axes(axis, len(xshape))
    if kind is None:
        return None
    if kind == "full":
        shape = xshape
    elif kind == "batch":
        shape = batch_shape(xshape, axes)
    elif isinstance(kind, tuple):
        shape = kind
    else:
        raise ValueError(kind)
    w = rng.random(shape) < 0.7
    if w.size >= 2:  # make it a real mask: at least one true and one false
        w.flat[0] = True
        w.flat[-1] = False
    return w


# --------------------------------------------------------------------------
# case collection and output
# --------------------------------------------------------------------------

CASES = []
NAMES = set()


def add_case(name, loss, x, y, axis, where=None, opts=None, g=None, argnums=(), edge=False):
    opts = dict(opts or {})
    assert name not in NAMES, name
    NAMES.add(name)
    v1 = np_loss(loss, x, y, axis, where, opts)
    v2 = py_loss(loss, x, y, axis, where, opts)
    expected = v1.astype(np.float64)
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    same_class = (np.isinf(expected) == np.isinf(v2)).all() and (np.isnan(expected) == np.isnan(v2)).all()
    fin = np.isfinite(expected)
    assert same_class and (expected[~fin] == v2[~fin]).all(), (name, expected, v2)
    err = np.abs(expected[fin] - v2[fin])
    assert (err <= 1e-12 * scale).all(), (name, err.max(), expected, v2)
    assert not np.isnan(expected).any(), name
    grads = []
    if not edge:
        tv, grads = torch_grads(loss, x, y, axis, where, opts, g if g is not None else 1.0, argnums)
        assert (np.isinf(tv) == np.isinf(expected)).all(), name
        err = np.abs(tv[fin] - expected[fin])
        assert (err <= 1e-12 * scale).all(), (name, "torch", err.max())
        if argnums:
            fd_check(loss, x, y, axis, where, opts, g if g is not None else 1.0, argnums, grads, name)
        for gr in grads:
            assert np.isfinite(gr).all(), name
    else:
        assert not argnums
    CASES.append(dict(name=name, loss=loss, axis=axis, opts=opts, x=x, y=y, where=where, g=g,
                      expected=expected, grads=list(zip(argnums, grads))))


def fmt_real(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"  # no "-0": the sign of a zero loss is not part of the contract
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


def fmt_tensor(name, a, kind):
    a = np.asarray(a)
    head = f"tensor {name} {kind} {a.ndim}" + "".join(f" {s}" for s in a.shape) + " :"
    flat = a.reshape(-1)
    if kind == "real":
        body = " ".join(fmt_real(v) for v in flat)
    elif kind == "int":
        body = " ".join(str(int(v)) for v in flat)
    else:
        body = " ".join("1" if v else "0" for v in flat)
    return head + (" " + body if body else "")


def fmt_axis(axis):
    if axis in ("none", "all", "default"):
        return f"axis {axis}"
    if isinstance(axis, int):
        return f"axis int {axis}"
    return "axis list " + " ".join(str(a) for a in axis)


HEADER = """\
# xloss golden values -- GENERATED by tests/reference/generate.py, do not edit.
# Format: see tests/reference/reference_data.hpp.
format xloss-reference 1
"""


def render():
    lines = [HEADER.rstrip("\n")]
    lines.append(f"# seed {SEED}, {len(CASES)} cases")
    for c in CASES:
        lines.append(f"case {c['name']}")
        lines.append(f"loss {c['loss']}")
        lines.append(fmt_axis(c["axis"]))
        for k in ("epsilon", "alpha", "gamma", "delta"):
            if k in c["opts"]:
                v = c["opts"][k]
                lines.append(f"option {k} " + ("none" if v is None else fmt_real(v)))
        lines.append(fmt_tensor("x", c["x"], "real"))
        lines.append(fmt_tensor("y", c["y"], "int" if c["loss"] == INT else "real"))
        if c["where"] is not None:
            lines.append(fmt_tensor("where", c["where"], "bool"))
        if c["g"] is not None:
            lines.append(fmt_tensor("g", c["g"], "real"))
        lines.append(fmt_tensor("expected", c["expected"], "real"))
        for a, gr in c["grads"]:
            lines.append(fmt_tensor(f"grad{a}", gr, "real"))
        lines.append("end")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------

SIMD_LENGTHS = [1, 3, 4, 7, 8, 9, 15, 16, 17, 33]

# (tag, x shape, axis, mask kinds)
GEOMETRIES = (
    [(f"2d_b3c{k}_axm1", (3, k), -1, [None, "full"] if k in (4, 8, 9, 16, 17, 33) else [None])
     for k in SIMD_LENGTHS]
    + [(f"2d_r{k}c5_ax0", (k, 5), 0, [None, "full"] if k in (8, 9) else [None]) for k in (1, 3, 8, 9, 17)]
    + [(f"2d_r4c{k}_ax0", (4, k), 0, [None]) for k in (7, 8, 9, 16, 17)]
    + [
        ("2d_b5c8_ax1_list", (5, 8), [1], ["batch"]),
        ("2d_b5c7_axm1_default", (5, 7), "default", [None]),
        ("2d_b6c7_axm1", (6, 7), -1, ["batch", (1, 7)]),
        ("2d_r6c5_ax0", (6, 5), 0, ["batch", (6, 1)]),
        ("1d_n17_ax0", (17,), 0, [None, "full"]),
        ("3d_ax1", (2, 5, 6), 1, [None, "full", "batch"]),
        ("3d_ax2", (2, 3, 9), 2, [None, "full"]),
        ("3d_ax12", (2, 5, 6), [1, 2], [None, "full", "batch"]),
        ("3d_ax20", (3, 4, 5), [2, 0], [None, "full", "batch"]),
        ("3d_ax02", (3, 4, 5), [0, 2], [None]),
        ("3d_all", (2, 3, 4), "all", [None, "full", "batch"]),  # batch rank 0: a 0-d mask
        ("3d_none", (2, 3, 4), "none", [None, "full"]),
        ("4d_nchw_ax1", (2, 3, 4, 5), 1, [None, "full", "batch", (1, 3, 1, 5), (1, 4, 1)]),
        ("4d_nchw_c9_ax1", (2, 9, 2, 3), 1, [None, "full"]),
        ("4d_nchw_c16_ax1", (2, 16, 1, 3), 1, [None]),
        ("4d_ax12", (2, 3, 4, 5), [1, 2], [None, "full", "batch"]),
        ("4d_ax20", (2, 3, 4, 5), [2, 0], [None, "full", "batch"]),
        ("4d_axm13", (2, 3, 4, 5), [-1, 1], [None, "full"]),
        ("4d_ax123", (2, 3, 2, 4), [1, 2, 3], [None]),
        ("4d_all", (2, 3, 2, 3), "all", [None, "full", "batch"]),
        ("4d_none", (2, 3, 2, 3), "none", [None, "full"]),
    ]
)


def mask_tag(kind):
    if kind is None:
        return ""
    if isinstance(kind, tuple):
        return "_mbcast" + "x".join(str(s) for s in kind)
    return "_m" + kind


def gen_standard(loss):
    s = SHORT[loss]
    for gi, (tag, xshape, axis, masks) in enumerate(GEOMETRIES):
        for kind in masks:
            variant = {}
            if loss in (SCE, KL, CKL, KLLT, POLY) and gi % 3 == 1:
                variant["sparse"] = True
            if loss in (FOCAL, BCE) and gi % 2 == 1:
                variant["soft"] = True
            x, y = make_inputs(loss, xshape, xshape, axis, variant)
            where = make_mask(kind, xshape, axis)
            if loss == INT and where is not None:
                y = fix_labels(y, xshape, axis, where, p_masked=0.15)
            name = f"{s}_{tag}{mask_tag(kind)}" + ("_sparse" if variant.get("sparse") else "") + (
                "_soft" if variant.get("soft") else "")
            add_case(name, loss, x, y, axis, where)


def fix_labels(y, xshape, axis, where, p_masked):
    """Point most labels at selected elements (a label on a masked element gives +inf)."""
    axes = norm_axes(axis, len(xshape))
    m = mask_slices(where, xshape, axes)
    y = y.copy()
    for bidx in np.ndindex(y.shape):
        sel = np.flatnonzero(m[bidx])
        if len(sel) and rng.random() >= p_masked:
            y[bidx] = sel[rng.integers(0, len(sel))]
    return y


def grad_argnums(loss):
    return (0,) if loss == INT else (0, 1)


# (tag, x shape, y shape, axis, mask kind, g kind)
GRAD_GEOMETRIES = [
    ("2d_b4c9_axm1", (4, 9), (4, 9), -1, None, "full"),
    ("2d_b4c8_axm1_mfull_gscalar", (4, 8), (4, 8), -1, "full", "scalar"),
    ("2d_b3c17_axm1_mbatch", (3, 17), (3, 17), -1, "batch", "full"),
    ("2d_r7c4_ax0_mfull", (7, 4), (7, 4), 0, "full", "full"),
    ("2d_b5c6_ybcast_axm1", (5, 6), (1, 6), -1, None, "full"),
    ("2d_b5c6_ybcast_axm1_mbcast", (5, 6), (1, 6), -1, (1, 6), "bcast"),
    ("3d_ax20_mbatch_gbcast", (3, 4, 5), (3, 4, 5), [2, 0], "batch", "bcast"),
    ("3d_ax12_ybcast", (2, 4, 3), (1, 4, 3), [1, 2], "full", "full"),
    ("4d_nchw_ax1_mfull", (2, 3, 4, 5), (2, 3, 4, 5), 1, "full", "full"),
    ("4d_ax31_mfull", (2, 3, 2, 4), (2, 3, 2, 4), [3, 1], "full", "full"),
    ("4d_all_mfull", (2, 3, 2, 3), (2, 3, 2, 3), "all", "full", "scalar"),
    ("3d_none_mfull", (2, 3, 4), (2, 3, 4), "none", "full", "bcast"),
]


def make_g(kind, out_shape):
    if kind == "scalar":
        return q(np.array(rng.normal(0.0, 1.0)))
    if kind == "full":
        return q(rng.normal(0.0, 1.0, out_shape))
    # broadcastable: first axis (if any) of extent 1
    shape = tuple(1 if i == 0 else s for i, s in enumerate(out_shape))
    return q(rng.normal(0.0, 1.0, shape))


def gen_grads(loss):
    s = SHORT[loss]
    for tag, xshape, yshape, axis, kind, gkind in GRAD_GEOMETRIES:
        if loss == INT and yshape != xshape:
            continue
        if loss in (COS, COSD) and axis == "none":
            continue  # elementwise cosine is sign(a b): gradient identically 0
        variant = {"soft": True} if loss in (FOCAL, BCE) else {}
        x, y = make_inputs(loss, xshape, yshape, axis, variant)
        full = full_shape(loss, x, y)
        where = make_mask(kind, full, axis)
        if loss == INT and where is not None:
            y = fix_labels(y, xshape, axis, where, p_masked=0.0)
        out_shape = batch_shape(full, norm_axes(axis, len(full)))
        g = make_g(gkind, out_shape)
        opts = {}
        add_case(f"{s}_grad_{tag}", loss, x, y, axis, where, opts, g, grad_argnums(loss))
        if loss == POLY and tag in ("2d_b4c9_axm1", "2d_b3c17_axm1_mbatch", "3d_ax20_mbatch_gbcast"):
            # Poly-1 (epsilon -1), and a large epsilon
            for eps in (-1.0, 5.5):
                x, y = make_inputs(loss, xshape, yshape, axis, variant)
                where = make_mask(kind, full, axis)
                g = make_g(gkind, out_shape)
                add_case(f"{s}_eps{eps:g}_grad_{tag}", loss, x, y, axis, where, {"epsilon": eps}, g, (0, 1))


def gen_ybcast(loss):
    """Second input broadcasting (value cases)."""
    if loss == INT:
        return
    s = SHORT[loss]
    for tag, xshape, yshape, axis, kind in [
        ("2d_b4c7_y1c7_axm1", (4, 7), (1, 7), -1, None),
        ("2d_b4c9_y1c9_axm1_mfull", (4, 9), (1, 9), -1, "full"),
        ("2d_r8c3_y8c1_ax0", (8, 3), (8, 1), 0, None),
        ("3d_y1x4x5_ax20_mbatch", (3, 4, 5), (1, 4, 5), [2, 0], "batch"),
        ("4d_y1c1w_ax1_mfull", (2, 3, 4, 5), (1, 3, 1, 5), 1, "full"),
    ]:
        x, y = make_inputs(loss, xshape, yshape, axis, {})
        where = make_mask(kind, xshape, axis)
        add_case(f"{s}_ybcast_{tag}" + mask_tag(kind), loss, x, y, axis, where)


def gen_int_orders():
    """Integer labels with several reduced axes in different listed orders, same data."""
    for tag, xshape, axes_list in [
        ("3d", (2, 3, 4), [[1, 2], [2, 1], [-1, -2]]),
        ("4d", (2, 3, 4, 5), [[1, 2], [2, 1], [2, 0], [0, 2], [3, 1, 2], [1, 3, 2]]),
        ("4d_all", (2, 2, 3, 2), ["all", [0, 1, 2, 3], [3, 2, 1, 0]]),
    ]:
        x = q(rng.normal(0.0, 3.0, xshape))
        for axis in axes_list:
            axes = norm_axes(axis, len(xshape))
            k = int(np.prod([xshape[a] for a in axes]))
            y = rng.integers(0, k, batch_shape(xshape, axes)).astype(np.int64)
            atag = axis if axis == "all" else "".join(str(a).replace("-", "m") for a in axis)
            add_case(f"sce_int_order_{tag}_ax{atag}", INT, x, y, axis)
            if tag == "4d" and axis in ([2, 1], [3, 1, 2]):
                where = make_mask("full", xshape, axis)
                y2 = fix_labels(y, xshape, axis, where, p_masked=0.0)
                g = q(rng.normal(0.0, 1.0, batch_shape(xshape, axes)))
                add_case(f"sce_int_order_{tag}_ax{atag}_mfull_grad", INT, x, y2, axis, where, None, g, (0,))


def gen_options():
    # cosine: epsilon 0 given explicitly, and 0.1 (clamping some slices: small inputs)
    for loss in (COS, COSD):
        s = SHORT[loss]
        for tag, shape, axis, kind, scale in [
            ("2d_b4c8_axm1", (4, 8), -1, None, 1.0),
            ("2d_b6c3_axm1_small", (6, 3), -1, "full", 0.25),
            ("3d_ax12_small", (3, 2, 2), [1, 2], "batch", 0.2),
            ("2d_b8c1_axm1_small", (8, 1), -1, None, 0.3),
        ]:
            for eps in (0.0, 0.1):
                x, y = make_inputs(loss, shape, shape, axis, {"scale": scale})
                where = make_mask(kind, shape, axis)
                add_case(f"{s}_eps{eps:g}_{tag}{mask_tag(kind)}", loss, x, y, axis, where, {"epsilon": eps})
        # gradients with epsilon clamping in some slices
        for tag, shape, yshape, axis, kind, scale in [
            ("2d_b6c3_axm1_small", (6, 3), (6, 3), -1, "full", 0.25),
            ("2d_b5c4_y1c4_axm1", (5, 4), (1, 4), -1, None, 0.3),
        ]:
            x, y = make_inputs(loss, shape, yshape, axis, {"scale": scale})
            where = make_mask(kind, shape, axis)
            g = make_g("full", (shape[0],))
            add_case(f"{s}_eps0.1_grad_{tag}{mask_tag(kind)}", loss, x, y, axis, where, {"epsilon": 0.1},
                     g, (0, 1))
    # focal: alpha none / 0.25, gamma 0 / 0.5 / 2
    for alpha in (None, 0.25):
        for gamma in (0.0, 0.5, 2.0):
            atag = "none" if alpha is None else f"{alpha:g}"
            for tag, shape, axis, kind, soft in [
                ("2d_b3c16_axm1", (3, 16), -1, None, False),
                ("3d_none_mfull", (2, 3, 5), "none", "full", True),
                ("4d_ax1_mbatch", (2, 3, 2, 3), 1, "batch", True),
            ]:
                x, y = make_inputs(FOCAL, shape, shape, axis, {"soft": soft})
                where = make_mask(kind, shape, axis)
                add_case(f"focal_a{atag}_g{gamma:g}_{tag}{mask_tag(kind)}" + ("_soft" if soft else ""),
                         FOCAL, x, y, axis, where, {"alpha": alpha, "gamma": gamma})
            x, y = make_inputs(FOCAL, (4, 9), (4, 9), -1, {"soft": True})
            where = make_mask("full", (4, 9), -1)
            g = make_g("full", (4,))
            add_case(f"focal_a{atag}_g{gamma:g}_grad_2d_b4c9_axm1_mfull", FOCAL, x, y, -1, where,
                     {"alpha": alpha, "gamma": gamma}, g, (0, 1))
    # only one of the two options given (the other at its default)
    x, y = make_inputs(FOCAL, (3, 7), (3, 7), -1, {"soft": True})
    add_case("focal_a0.5_gdefault_2d_b3c7_axm1", FOCAL, x, y, -1, None, {"alpha": 0.5})
    x, y = make_inputs(FOCAL, (3, 7), (3, 7), -1, {})
    add_case("focal_anone_g1_2d_b3c7_axdefault", FOCAL, x, y, "default", None, {"gamma": 1.0})
    x, y = make_inputs(COS, (3, 7), (3, 7), -1, {})
    add_case("cos_eps0.1_2d_b3c7_axdefault", COS, x, y, "default", None, {"epsilon": 0.1})


def gen_edges():
    """Value-only cases at the special points of the SPEC."""
    nan = float("nan")
    # softmax CE: -inf logits with zero labels contribute 0; with a positive label: +inf
    x = np.array([[0.5, -INF, 1.25, -2.0], [-INF, -INF, 3.0, 0.0], [1.0, 2.0, -INF, 0.5]])
    y = np.array([[0.25, 0.0, 0.75, 0.0], [0.0, 0.0, 0.5, 0.5], [0.5, 0.25, 0.0, 0.25]])
    add_case("sce_edge_neginf_logits_zero_labels", SCE, x, y, -1, edge=True)
    y2 = y.copy()
    y2[2, 2] = 0.1
    add_case("sce_edge_neginf_logit_positive_label", SCE, x, y2, -1, edge=True)
    # masked NaN / -inf / +inf do not leak; an all-masked row gives 0
    x = np.array([[nan, 1.0, 2.0, -1.0, 0.5], [0.25, INF, -0.5, 1.5, nan], [nan, nan, nan, nan, nan]])
    y = np.array([[nan, 0.2, 0.3, 0.4, 0.1], [0.5, nan, 0.25, 0.25, -INF], [nan, 0.1, 0.2, 0.3, 0.4]])
    w = np.array([[0, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=bool)
    for loss in (SCE, KL, CKL, COS, COSD, FOCAL):
        yy = np.abs(y) if loss in (KL, CKL, FOCAL) else y
        yy = np.where(np.isnan(y), nan, yy)
        if loss == FOCAL:
            yy = np.where(w, np.clip(yy, 0, 1), yy)
        add_case(f"{SHORT[loss]}_edge_masked_nan_inf_allmasked_row", loss, x, yy, -1, w, edge=True)
    xi = x
    yi = np.array([1, 2, 3], dtype=np.int64)  # row 1: label 2 selected; row 2: all masked
    add_case("sce_int_edge_masked_nan_inf_allmasked_row", INT, xi, yi, -1, w, edge=True)
    # batch-rank mask: masked-out rows give 0 even if full of NaN
    wb = np.array([True, False, False])
    xb = np.array([[0.5, 1.0, -1.0], [nan, nan, nan], [INF, -INF, nan]])
    yb = np.array([[0.2, 0.3, 0.5], [nan, 0.5, 0.5], [0.1, nan, 0.9]])
    for loss in (SCE, KL, CKL, COS, COSD, FOCAL):
        add_case(f"{SHORT[loss]}_edge_batch_mask_nan_rows", loss, xb, yb, -1, wb, edge=True)
    add_case("sce_int_edge_batch_mask_nan_rows", INT, xb, np.array([2, 0, 1], dtype=np.int64), -1, wb,
             edge=True)
    # integer labels: a label on a masked element is +inf; on a -inf logit +inf; -inf elsewhere is fine
    x = np.array([[0.5, 1.0, 2.0, -1.0], [0.5, -INF, 2.0, -1.0], [3.0, -INF, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    w = np.array([[1, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    add_case("sce_int_edge_label_masked_or_neginf", INT, x, np.array([1, 1, 0, 2], dtype=np.int64), -1, w,
             edge=True)
    # large logits
    x = np.array([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4, -1e4, -1e4 + 1]])
    y = np.array([[0.5, 0.0, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]])
    add_case("sce_edge_large_logits", SCE, x, y, -1, edge=True)
    add_case("sce_int_edge_large_logits", INT, x, np.array([1, 3], dtype=np.int64), -1, edge=True)
    xf = np.array([[100.0, -100.0, 30.0, -30.0, 1e4, -1e4], [100.0, -100.0, 30.0, -30.0, 0.0, 1e-3]])
    yf = np.array([[0.0, 1.0, 1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.3, 0.7, 0.5, 0.0]])
    for alpha, gamma in ((None, 2.0), (0.25, 0.5), (None, 0.0)):
        opts = {"alpha": alpha, "gamma": gamma}
        add_case(f"focal_edge_large_logits_a{alpha}_g{gamma:g}", FOCAL, xf, yf, -1, None, opts, edge=True)
        add_case(f"focal_edge_large_logits_a{alpha}_g{gamma:g}_none", FOCAL, xf, yf, "none", None, opts,
                 edge=True)
    # KL: zero targets contribute 0 (finite log_predictions); convex KL keeps exp(lp)
    lp = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]]))
    t = np.array([[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    lp = q(lp)
    for loss in (KL, CKL):
        add_case(f"{SHORT[loss]}_edge_zero_targets", loss, lp, t, -1, edge=True)
        add_case(f"{SHORT[loss]}_edge_zero_targets_none", loss, lp, t, "none", edge=True)
    # cosine: zero vectors (eps 0 -> 0 similarity, distance 1), all-masked -> 0 for both
    a = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [2.0, 0.0, 0.0]])
    b = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-2.0, 2.0, -1.0], [0.0, 0.0, 3.0]])
    w = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=bool)
    for loss in (COS, COSD):
        for eps in (0.0, 0.1):
            add_case(f"{SHORT[loss]}_edge_zero_vectors_eps{eps:g}", loss, a, b, -1, w, {"epsilon": eps},
                     edge=True)
    # cosine: tiny and huge magnitudes (squared norms under/overflow in float, not in double)
    a = np.array([[1e-30, 2e-30, -3e-30], [1e30, -2e30, 3e30], [1e-25, 1e-25, 1e-25]])
    b = np.array([[3e-30, 1e-30, 2e-30], [2e30, 1e30, -1e30], [1e25, 2e25, 3e25]])
    for loss in (COS, COSD):
        add_case(f"{SHORT[loss]}_edge_tiny_huge_magnitudes", loss, a, b, -1, edge=True)


def gen_regression():
    """The regression losses: standard, broadcast and gradient cases, Huber's
    delta, and errors of +-1e3 (log-cosh where cosh overflows in float)."""
    for loss in REGRESSION:
        gen_standard(loss)
        gen_ybcast(loss)
        gen_grads(loss)
    for delta in (0.25, 3.0):
        for tag, shape, axis, kind in [("2d_b4c9_axm1", (4, 9), -1, "full"), ("3d_none", (2, 3, 4), "none", None)]:
            x, y = make_inputs(HUBER, shape, shape, axis, {})
            where = make_mask(kind, shape, axis)
            add_case(f"huber_d{delta:g}_{tag}{mask_tag(kind)}", HUBER, x, y, axis, where, {"delta": delta})
        x, y = make_inputs(HUBER, (5, 6), (5, 6), -1, {})
        g = make_g("full", (5,))
        add_case(f"huber_d{delta:g}_grad_2d_b5c6_axm1", HUBER, x, y, -1, None, {"delta": delta}, g, (0, 1))
    x = np.array([[0.0, 1000.0, -1000.0, 0.5], [88.0, -90.0, 1e-4, 3.0]])
    y = np.array([[1.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, -3.0]])
    for loss in REGRESSION:
        add_case(f"{SHORT[loss]}_edge_large_errors", loss, x, y, -1, edge=True)
        add_case(f"{SHORT[loss]}_edge_large_errors_none", loss, x, y, "none", edge=True)
def gen_new_options(loss):
    if loss != POLY:
        return
    # epsilon: Poly-1's -1, 0 (plain cross entropy), 2 given explicitly, 5.5
    for eps in (-1.0, 0.0, 2.0, 5.5):
        for tag, shape, axis, kind in [
            ("2d_b3c16_axm1", (3, 16), -1, None),
            ("2d_b4c9_axm1_mfull", (4, 9), -1, "full"),
            ("4d_ax1_mbatch", (2, 3, 2, 3), 1, "batch"),
            ("3d_none_mfull", (2, 3, 5), "none", "full"),
        ]:
            x, y = make_inputs(POLY, shape, shape, axis, {})
            where = make_mask(kind, shape, axis)
            add_case(f"poly_eps{eps:g}_{tag}{mask_tag(kind)}", POLY, x, y, axis, where, {"epsilon": eps})


def gen_new_edges(loss):
    """Value-only cases at the special points of the 0.2 losses."""
    nan = float("nan")
    # masked NaN / -inf / +inf do not leak; an all-masked row gives 0
    x = np.array([[nan, 1.0, 2.0, -1.0, 0.5], [0.25, INF, -0.5, 1.5, nan], [nan, nan, nan, nan, nan]])
    y = np.array([[nan, 0.2, 0.3, 0.4, 0.1], [0.5, nan, 0.25, 0.25, -INF], [nan, 0.1, 0.2, 0.3, 0.4]])
    w = np.array([[0, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=bool)
    yy = np.where(np.isnan(y), nan, np.log(np.abs(y))) if loss == KLLT else y
    add_case(f"{SHORT[loss]}_edge_masked_nan_inf_allmasked_row", loss, x, yy, -1, w, edge=True)
    # batch-rank mask: masked-out rows give 0 even if full of NaN
    wb = np.array([True, False, False])
    xb = np.array([[0.5, 1.0, -1.0], [nan, nan, nan], [INF, -INF, nan]])
    yb = np.array([[0.2, 0.3, 0.5], [nan, 0.5, 0.5], [0.1, nan, 0.9]])
    add_case(f"{SHORT[loss]}_edge_batch_mask_nan_rows", loss, xb, np.log(yb) if loss == KLLT else yb, -1, wb,
             edge=True)
    if loss == KLLT:
        # -inf log targets contribute 0, against finite and -inf log-predictions
        # (torch and Optax give NaN there); a finite target against -inf: +inf
        lp = q(np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])))
        with np.errstate(divide="ignore"):
            lt = q(np.log(np.array([[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])))
        lp2 = lp.copy()
        lp2[0, 0] = -INF
        lp2[1, :] = -INF
        for tag, a in (("finite_lp", lp), ("neginf_lp", lp2)):
            add_case(f"kllt_edge_neginf_targets_{tag}", KLLT, a, lt, -1, edge=True)
            add_case(f"kllt_edge_neginf_targets_{tag}_none", KLLT, a, lt, "none", edge=True)
        lp3 = lp.copy()
        lp3[0, 1] = -INF
        add_case("kllt_edge_finite_target_neginf_lp", KLLT, lp3, lt, -1, edge=True)
        # large log targets on both sides
        a = np.array([[-30.0, 5.0, -80.0, 2.0], [-700.0, 0.5, 1.0, -3.0]])
        b = np.array([[-20.0, 4.0, -75.0, 3.0], [-600.0, 0.25, -1e4, -2.5]])
        add_case("kllt_edge_large_magnitudes", KLLT, a, b, -1, edge=True)
    elif loss == BCE:
        # hard labels at the infinite logits they predict contribute 0; at the
        # other one, +inf
        x = np.array([[-INF, INF, 0.5, -1.0], [INF, -INF, 2.0, 0.0], [-INF, -INF, INF, 1.5]])
        y = np.array([[0.0, 1.0, 0.25, 1.0], [1.0, 0.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.75]])
        add_case("bce_edge_inf_logits_hard_labels", BCE, x, y, -1, edge=True)
        add_case("bce_edge_inf_logits_hard_labels_none", BCE, x, y, "none", edge=True)
        y2 = y.copy()
        y2[0, 0] = 1.0
        y2[1, 1] = 0.5
        add_case("bce_edge_inf_logit_contradicting_label", BCE, x, y2, -1, edge=True)
        # saturated logits, hard and soft labels
        x = np.array([[1e4, -1e4, 1e4, -1e4, 30.0], [-1e4, 1e4, 5e3, -5e3, -30.0]])
        y = np.array([[1.0, 0.0, 0.0, 1.0, 0.5], [0.25, 0.75, 1.0, 0.0, 0.5]])
        add_case("bce_edge_large_logits", BCE, x, y, -1, edge=True)
        add_case("bce_edge_large_logits_none", BCE, x, y, "none", edge=True)
    else:
        # -inf logits with zero labels contribute 0; with a positive label: +inf
        x = np.array([[0.5, -INF, 1.25, -2.0], [-INF, -INF, 3.0, 0.0], [1.0, 2.0, -INF, 0.5]])
        y = np.array([[0.25, 0.0, 0.75, 0.0], [0.0, 0.0, 0.5, 0.5], [0.5, 0.25, 0.0, 0.25]])
        for eps in (2.0, -1.0):
            add_case(f"poly_eps{eps:g}_edge_neginf_logits_zero_labels", POLY, x, y, -1, None, {"epsilon": eps},
                     edge=True)
        y2 = y.copy()
        y2[2, 2] = 0.1
        add_case("poly_edge_neginf_logit_positive_label", POLY, x, y2, -1, edge=True)
        # large logits (softmax saturates to 0 and 1)
        x = np.array([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4, -1e4, -1e4 + 1]])
        y = np.array([[0.5, 0.0, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]])
        add_case("poly_edge_large_logits", POLY, x, y, -1, edge=True)


def main():
    global rng
    old = [loss for loss in LOSSES if loss not in OWN_STREAM]
    for loss in old:
        gen_standard(loss)
    for loss in old:
        gen_ybcast(loss)
    for loss in old:
        gen_grads(loss)
    gen_int_orders()
    gen_options()
    gen_edges()
    gen_regression()
    for loss in LOSSES:
        if loss in OWN_STREAM:
            rng = np.random.default_rng([SEED, OWN_STREAM[loss]])
            gen_standard(loss)
            gen_ybcast(loss)
            gen_grads(loss)
            gen_new_options(loss)
            gen_new_edges(loss)
    text = render()
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            old = f.read()
        if old != text:
            print("reference_data.txt is out of date: rerun generate.py", file=sys.stderr)
            return 1
        print(f"reference_data.txt is up to date ({len(CASES)} cases)")
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {len(CASES)} cases, {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
