// The reference check: every value and gradient a call returned, against
// the entry's long-double reference of each slice, within a loose tolerance
// (64 ulp per term, scaled by the terms' magnitudes), wherever the selected
// data are in the loss's domain and nothing overflows the type; and the
// gradient of every input element that no selected position reads is
// exactly 0.
#ifndef XLOSS_FUZZ_REFERENCE_CHECK_HPP
#define XLOSS_FUZZ_REFERENCE_CHECK_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "backend.hpp"
#include "calls.hpp"

XLOSS_FUZZ_BACKEND_BEGIN

constexpr ld kTolerance = 64;  // ulps per term: loose on purpose

template <class T>
bool agrees(const approx& ref, T got, std::size_t terms)
{
    const ld gv = static_cast<ld>(got);
    const ld limit = static_cast<ld>(std::numeric_limits<T>::max()) / (16 * (terms + 8));
    if (std::isnan(ref.value) || !std::isfinite(ref.scale) || ref.scale > limit)
    {
        return true;  // undefined, or where the type overflows on the way: no claim
    }
    if (std::isinf(ref.value))
    {
        return gv == ref.value;
    }
    if (!std::isfinite(gv))
    {
        return std::fabs(ref.value) > static_cast<ld>(std::numeric_limits<T>::max());
    }
    const ld eps = std::numeric_limits<T>::epsilon();
    const ld tol = kTolerance * eps * static_cast<ld>(terms + 8) * ref.scale
                   + kTolerance * static_cast<ld>(terms + 8) * (ref.floor + tiny<T>());
    return std::fabs(gv - ref.value) <= tol;
}

// Are the slice's selected inputs and its upstream all finite?
inline bool all_finite(const slice_in& in)
{
    if (!std::isfinite(in.g))
    {
        return false;
    }
    for (std::size_t k = 0; k < in.x.size(); ++k)
    {
        if (in.sel[k] && (!std::isfinite(in.x[k]) || !std::isfinite(in.y[k])))
        {
            return false;
        }
    }
    return true;
}

// Is the slice in the domain where the reference is meaningful?
template <class Entry>
bool slice_in_domain(const slice_in& in)
{
    if (!std::isfinite(in.g))
    {
        return false;
    }
    for (std::size_t k = 0; k < in.x.size(); ++k)
    {
        if (in.sel[k] && !Entry::in_domain(in.x[k], in.y[k]))
        {
            return false;
        }
    }
    return true;
}

// Values and gradients of the reference, per result element, and whether
// each is checked.
struct expected_t
{
    std::vector<approx> value;
    std::vector<approx> dx, dy;  // input shapes
    std::vector<char> value_ok, dx_ok, dy_ok;
};

template <class Entry, class T, class Label>
struct checker
{
    const case_t& c;
    const model_t& m;
    const inputs<T, Label>& in;
    std::vector<std::size_t> x_of, y_of;  // per full position: input flat index
    bool saw_finite_out_of_domain = false;

    checker(const case_t& c_, const model_t& m_, const inputs<T, Label>& in_)
        : c(c_)
        , m(m_)
        , in(in_)
    {
        const std::size_t total = product(m.full);
        x_of.resize(total);
        y_of.resize(total);
        for (std::size_t f = 0; f < total; ++f)
        {
            const auto idx = unflatten(m.full, f);
            x_of[f] = broadcast_index(c.x_shape, idx);
            y_of[f] = c.integer_labels ? 0 : broadcast_index(c.y_shape, idx);
        }
    }

    ld upstream_at(std::size_t s, bool use_upstream) const
    {
        if (!use_upstream)
        {
            return 1;
        }
        if (c.ukind == upstream_kind::scalar)
        {
            return static_cast<ld>(in.upstream_scalar);
        }
        return static_cast<ld>(in.upstream.flat(broadcast_index(m.up_shape, unflatten(m.batch, s))));
    }

    slice_in slice(std::size_t s, bool use_upstream) const
    {
        slice_in si;
        si.x.resize(m.n);
        si.y.resize(m.n);
        si.sel.resize(m.n);
        for (std::size_t k = 0; k < m.n; ++k)
        {
            const std::size_t f = m.pos[s * m.n + k];
            si.sel[k] = m.selected[f];
            si.x[k] = static_cast<ld>(in.x.flat(x_of[f]));
            si.y[k] = c.integer_labels ? 0 : static_cast<ld>(in.y.flat(y_of[f]));
        }
        if (c.integer_labels)
        {
            si.label = static_cast<long long>(static_cast<std::ptrdiff_t>(
                in.labels.flat(broadcast_index(c.y_shape, unflatten(m.batch, s)))));
        }
        si.g = upstream_at(s, use_upstream);
        return si;
    }

    // The reference of every slice, summed into the inputs' elements (the
    // gradient w.r.t. the upstream, or 1).
    expected_t expected(bool use_upstream)
    {
        expected_t e;
        e.value.assign(m.slices, approx{});
        e.value_ok.assign(m.slices, 0);
        e.dx.assign(product(c.x_shape), approx{});
        e.dy.assign(c.integer_labels ? 0 : product(c.y_shape), approx{});
        e.dx_ok.assign(e.dx.size(), 1);
        e.dy_ok.assign(e.dy.size(), 1);
        const auto opts = options_of<Entry>(c);
        for (std::size_t s = 0; s < m.slices; ++s)
        {
            const slice_in si = slice(s, use_upstream);
            const bool ok = slice_in_domain<Entry>(si);
            saw_finite_out_of_domain = saw_finite_out_of_domain || (!ok && all_finite(si));
            const slice_result r = Entry::template reference<T>(si, opts);
            e.value[s] = r.value;
            e.value_ok[s] = ok;
            auto add = [&](std::vector<approx>& to, std::vector<char>& to_ok, std::size_t at, const approx& a)
            {
                to[at].value += a.value;
                to[at].scale += std::fabs(a.value) + a.scale;
                to[at].floor += a.floor;
                to_ok[at] = to_ok[at] && ok && r.grad_checkable;
            };
            for (std::size_t k = 0; k < m.n; ++k)
            {
                const std::size_t f = m.pos[s * m.n + k];
                add(e.dx, e.dx_ok, x_of[f], r.dx[k]);
                if (!c.integer_labels)
                {
                    add(e.dy, e.dy_ok, y_of[f], r.dy[k]);
                }
            }
        }
        return e;
    }

    [[noreturn]] void mismatch(const approx& ref, T got, std::size_t i, const char* entry) const
    {
        std::ostringstream o;
        o.precision(20);
        o << entry << " (" << (std::is_same_v<T, float> ? "float" : "double") << ") at flat index " << i
          << ": got " << got << ", long-double reference " << ref.value << " (term scale " << ref.scale
          << ", floor " << ref.floor << ")\n  x: " << dump(in.x);
        if (c.integer_labels)
        {
            o << "\n  labels: " << dump(in.labels);
        }
        else
        {
            o << "\n  y: " << dump(in.y);
        }
        if (c.mkind != mask_kind::none)
        {
            o << "\n  where: " << dump(in.mask);
        }
        fail(o.str());
    }

    void compare(const std::vector<approx>& ref,
                 const std::vector<char>& ok,
                 const xt::xarray<T>& got,
                 const shape_t& shape,
                 std::size_t terms,
                 const char* entry) const
    {
        if (shape_t(got.shape().begin(), got.shape().end()) != shape)
        {
            fail(std::string(entry) + ": result shape "
                 + show(shape_t(got.shape().begin(), got.shape().end())) + ", expected " + show(shape));
        }
        for (std::size_t i = 0; i < ref.size(); ++i)
        {
            if (ok[i] && !agrees<T>(ref[i], got.flat(i), terms))
            {
                mismatch(ref[i], got.flat(i), i, entry);
            }
        }
    }

    // Gradients of elements that no selected position reads are exactly 0.
    void expect_zero_where_unread(const xt::xarray<T>& grad, bool second, const char* entry) const
    {
        std::vector<char> read(grad.size(), 0);
        for (std::size_t f = 0; f < m.selected.size(); ++f)
        {
            if (m.selected[f])
            {
                read[second ? y_of[f] : x_of[f]] = 1;
            }
        }
        for (std::size_t i = 0; i < grad.size(); ++i)
        {
            if (!read[i] && !(grad.flat(i) == T(0)))
            {
                std::ostringstream o;
                o << entry << ": gradient of an unread (masked-out) element is " << grad.flat(i)
                  << ", not 0, at flat index " << i;
                fail(o.str());
            }
        }
    }

    void check_grad(const std::optional<xt::xarray<T>>& g,
                    const expected_t& e,
                    bool second,
                    const char* entry) const
    {
        if (!g)
        {
            return;
        }
        const shape_t& shape = second ? c.y_shape : c.x_shape;
        const std::size_t terms = m.n + product(m.full) / std::max<std::size_t>(1, product(shape));
        compare(second ? e.dy : e.dx, second ? e.dy_ok : e.dx_ok, *g, shape, terms, entry);
        expect_zero_where_unread(*g, second, entry);
    }

    void check_pair(const outcome<std::pair<xt::xarray<T>, xt::xarray<T>>>& o,
                    const expected_t& e,
                    const char* e0,
                    const char* e1) const
    {
        if (o.result)
        {
            check_grad(o.result->first, e, false, e0);
            check_grad(o.result->second, e, true, e1);
        }
    }

    void check(const results<T>& r, bool upstream_ok)
    {
        const auto plain = expected(false);
        const auto up = upstream_ok ? expected(true) : plain;
        const char* v_entries[] = {"loss()", "value_and_grad<0>.value", "value_and_grad<1>.value",
                                   "value_and_grad<0, 1>.value"};
        const outcome<xt::xarray<T>>* values[] = {&r.value, &r.vg0_value, &r.vg1_value, &r.vg01_value};
        for (int i = 0; i < 4; ++i)
        {
            if (values[i]->result)
            {
                compare(plain.value, plain.value_ok, *values[i]->result, m.batch, m.n, v_entries[i]);
            }
        }
        check_grad(r.vg0.result, plain, false, "value_and_grad<0>.grad");
        check_grad(r.g0.result, plain, false, "grad<0>");
        check_grad(r.vjp0.result, up, false, "vjp<0>");
        if (!c.integer_labels)
        {
            check_grad(r.vg1.result, plain, true, "value_and_grad<1>.grad");
            check_grad(r.g1.result, plain, true, "grad<1>");
            check_grad(r.vjp1.result, up, true, "vjp<1>");
            check_pair(r.vg01, plain, "value_and_grad<0, 1>.grad.first", "value_and_grad<0, 1>.grad.second");
            check_pair(r.g01, plain, "grad<0, 1>.first", "grad<0, 1>.second");
            check_pair(r.vjp01, up, "vjp<0, 1>.first", "vjp<0, 1>.second");
        }
    }
};

XLOSS_FUZZ_BACKEND_END

#endif
