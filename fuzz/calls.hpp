// Calling xloss in every form the case names, catching what it throws, and
// recording what it returned for the comparison of the two backend builds.
#ifndef XLOSS_FUZZ_CALLS_HPP
#define XLOSS_FUZZ_CALLS_HPP

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include <xloss/xloss.hpp>

#include "backend.hpp"
#include "backend_outputs.hpp"
#include "catalogue.hpp"
#include "inputs.hpp"
#include "report.hpp"

XLOSS_FUZZ_BACKEND_BEGIN

// The losses: the test catalogue's entries (tests/catalogue.hpp), in the
// order the loss byte indexes; their references work on these.
using xloss_test::approx;
using xloss_test::catalogue;
using xloss_test::ignoring;
using xloss_test::slice_in;
using xloss_test::slice_result;
using xloss_test::tiny;

// The options the call passes (when the case passes any) and the reference
// uses: the decoded ones (byte 14), or the defaults. Each entry takes the
// values its loss has.
template <class Entry>
typename Entry::options options_of(const case_t& c)
{
    if (!c.pass_options)
    {
        return typename Entry::options{};
    }
    return Entry::options_from({{"epsilon", c.epsilon}, {"alpha", c.alpha}, {"gamma", c.gamma}});
}

template <class R>
struct outcome
{
    std::optional<R> result;
    error_kind error = error_kind::none;
    std::string message;
};

template <class F>
auto capture(const char* function, const char* entry, F&& f) -> outcome<decltype(f())>
{
    outcome<decltype(f())> out;
    const std::string prefix = std::string("xloss::") + function + ": ";
    try
    {
        out.result.emplace(f());
    }
    catch (const std::out_of_range& e)
    {
        out.error = error_kind::out_of_range;
        out.message = e.what();
    }
    catch (const std::invalid_argument& e)
    {
        out.error = error_kind::invalid_argument;
        out.message = e.what();
    }
    catch (const std::exception& e)
    {
        fail(std::string(entry) + ": unexpected exception type " + typeid(e).name() + ": " + e.what());
    }
    catch (...)
    {
        fail(std::string(entry) + ": unexpected exception of a non-standard type");
    }
    if (out.error != error_kind::none && out.message.rfind(prefix, 0) != 0)
    {
        fail(std::string(entry) + ": exception message lacks the prefix '" + prefix + "': " + out.message);
    }
    return out;
}

// Calls f(rest...) with the axis, where and options arguments of the case,
// in the call form the case names.
template <class Entry, class F>
void with_rest(const case_t& c, const xt::xarray<bool>& mask, F&& f)
{
    const auto opts = options_of<Entry>(c);
    const bool masked = c.mkind != mask_kind::none;
    auto tail = [&](const auto&... axis)
    {
        if constexpr (sizeof...(axis) > 0)
        {
            if (masked)
            {
                if constexpr (Entry::has_options)
                {
                    c.pass_options ? f(axis..., mask, opts) : f(axis..., mask);
                }
                else
                {
                    f(axis..., mask);
                }
                return;
            }
        }
        if constexpr (Entry::has_options)
        {
            c.pass_options ? f(axis..., opts) : f(axis...);
        }
        else
        {
            f(axis...);
        }
    };
    switch (c.akind)
    {
        case axis_kind::default_axis:
            tail();
            break;
        case axis_kind::int_valid:
        case axis_kind::int_invalid:
            tail(c.axis_int);
            break;
        case axis_kind::no_axes:
            tail(xloss::no_axes);
            break;
        case axis_kind::all_axes:
            tail(xloss::all_axes);
            break;
        default:
            tail(c.axis_list);
            break;
    }
}

// The same arguments in one canonical form (the axis always as a
// std::vector<int>): the gradient entry points take every form through the
// same code as loss(), so they get the forms' variety only once, which keeps
// the number of instantiations (and the build time) down.
inline std::vector<int> canonical_axes(const case_t& c, std::size_t rank)
{
    switch (c.akind)
    {
        case axis_kind::default_axis:
        case axis_kind::int_valid:
        case axis_kind::int_invalid:
            return {c.axis_int};
        case axis_kind::no_axes:
            return {};
        case axis_kind::all_axes:
        {
            std::vector<int> all;
            for (std::size_t a = 0; a < rank; ++a)
            {
                all.push_back(static_cast<int>(a));
            }
            return all;
        }
        default:
            return c.axis_list;
    }
}

template <class Entry, class F>
void with_canonical_rest(const case_t& c, std::size_t rank, const xt::xarray<bool>& mask, F&& f)
{
    const auto opts = options_of<Entry>(c);
    const std::vector<int> axes = canonical_axes(c, rank);
    const bool masked = c.mkind != mask_kind::none;
    if constexpr (Entry::has_options)
    {
        if (c.pass_options)
        {
            masked ? f(axes, mask, opts) : f(axes, opts);
            return;
        }
    }
    masked ? f(axes, mask) : f(axes);
}

// What this build's calls returned, in call order, when the two backends
// are compared (run_recorded).
struct recording_t
{
    std::vector<backend_output>* out = nullptr;
    const char* type = "";
    // Set when a selected slice's inputs are all finite but outside the
    // loss's domain (see backend_output::claimed).
    bool saw_finite_out_of_domain = false;
};
inline recording_t recording;

template <class R>
void record(const char* entry, const outcome<R>& o)
{
    if (!recording.out)
    {
        return;
    }
    auto add = [&](const char* suffix, const auto* a)
    {
        backend_output out;
        out.entry = std::string(recording.type) + " " + entry + suffix;
        out.error = static_cast<int>(o.error);
        if (a)
        {
            using V = typename std::decay_t<decltype(*a)>::value_type;
            out.type_max = static_cast<double>(std::numeric_limits<V>::max());
            out.shape.assign(a->shape().begin(), a->shape().end());
            for (auto v : *a)
            {
                out.values.push_back(static_cast<double>(v));
            }
        }
        recording.out->push_back(std::move(out));
    };
    if constexpr (std::is_same_v<R, xt::xarray<float>> || std::is_same_v<R, xt::xarray<double>>)
    {
        add("", o.result ? &*o.result : nullptr);
    }
    else
    {
        add(" [0]", o.result ? &o.result->first : nullptr);
        add(" [1]", o.result ? &o.result->second : nullptr);
    }
}

template <class T>
struct results
{
    outcome<xt::xarray<T>> value;
    outcome<xt::xarray<T>> vg0_value, vg1_value, vg01_value;
    outcome<xt::xarray<T>> vg0, vg1, g0, g1, vjp0, vjp1, vjp0s;
    outcome<std::pair<xt::xarray<T>, xt::xarray<T>>> vg01, g01, vjp01;
};

// value_and_grad's outcome split into its value and its gradient.
template <class T, class G, class VG>
void split(const outcome<VG>& vg, outcome<xt::xarray<T>>& value, outcome<G>& grad)
{
    if (vg.result)
    {
        value.result = vg.result->value;
        grad.result = vg.result->grad;
    }
    grad.error = value.error = vg.error;
    grad.message = vg.message;
}

// The entry points that differentiate w.r.t. the first input (argnums 0).
template <class Entry, class T, class Y, class Label, class... Rest>
void call_first(results<T>& r, bool scalar_up, const inputs<T, Label>& in, const Y& y, const Rest&... rest)
{
    const char* fn = Entry::name;
    const auto& loss = Entry::loss;
    const auto& x = in.x;
    split(capture(fn, "value_and_grad<0>", [&] { return xloss::value_and_grad<0>(loss, x, y, rest...); }),
          r.vg0_value, r.vg0);
    r.g0 = capture(fn, "grad<0>", [&] { return xt::xarray<T>(xloss::grad(loss, x, y, rest...)); });
    if (scalar_up)
    {
        r.vjp0 = capture(fn, "vjp<0>(scalar)",
                         [&] { return xt::xarray<T>(xloss::vjp(loss, in.upstream_scalar, x, y, rest...)); });
    }
    else
    {
        r.vjp0 = capture(fn, "vjp<0>",
                         [&] { return xt::xarray<T>(xloss::vjp<0>(loss, in.upstream, x, y, rest...)); });
    }
}

// The entry points that differentiate w.r.t. the second input (argnums 1
// and {0, 1}), for losses whose second input is differentiable.
template <class Entry, class T, class Y, class Label, class... Rest>
void call_second(results<T>& r, bool scalar_up, const inputs<T, Label>& in, const Y& y, const Rest&... rest)
{
    const char* fn = Entry::name;
    const auto& loss = Entry::loss;
    const auto& x = in.x;
    split(capture(fn, "value_and_grad<1>", [&] { return xloss::value_and_grad<1>(loss, x, y, rest...); }),
          r.vg1_value, r.vg1);
    split(capture(fn, "value_and_grad<0, 1>",
                  [&] { return xloss::value_and_grad<0, 1>(loss, x, y, rest...); }),
          r.vg01_value, r.vg01);
    r.g1 = capture(fn, "grad<1>", [&] { return xt::xarray<T>(xloss::grad<1>(loss, x, y, rest...)); });
    r.g01 = capture(fn, "grad<0, 1>", [&] { return xloss::grad<0, 1>(loss, x, y, rest...); });
    if (scalar_up)
    {
        r.vjp1 = capture(fn, "vjp<1>(scalar)",
                         [&]
                         { return xt::xarray<T>(xloss::vjp<1>(loss, in.upstream_scalar, x, y, rest...)); });
        r.vjp01 = capture(fn, "vjp<0, 1>(scalar)",
                          [&] { return xloss::vjp<0, 1>(loss, in.upstream_scalar, x, y, rest...); });
    }
    else
    {
        r.vjp1 = capture(fn, "vjp<1>",
                         [&] { return xt::xarray<T>(xloss::vjp<1>(loss, in.upstream, x, y, rest...)); });
        r.vjp01 = capture(fn, "vjp<0, 1>",
                          [&] { return xloss::vjp<0, 1>(loss, in.upstream, x, y, rest...); });
    }
}

template <class T>
void record_all(const results<T>& r)
{
    const char* const names[] = {"loss()",
                                 "value_and_grad<0>.value",
                                 "value_and_grad<1>.value",
                                 "value_and_grad<0, 1>.value",
                                 "value_and_grad<0>",
                                 "value_and_grad<1>",
                                 "grad<0>",
                                 "grad<1>",
                                 "vjp<0>",
                                 "vjp<1>",
                                 "vjp<0>(scalar)"};
    const outcome<xt::xarray<T>>* singles[] = {&r.value, &r.vg0_value, &r.vg1_value, &r.vg01_value,
                                               &r.vg0,   &r.vg1,       &r.g0,        &r.g1,
                                               &r.vjp0,  &r.vjp1,      &r.vjp0s};
    for (std::size_t i = 0; i < std::size(singles); ++i)
    {
        record(names[i], *singles[i]);
    }
    record("value_and_grad<0, 1>", r.vg01);
    record("grad<0, 1>", r.g01);
    record("vjp<0, 1>", r.vjp01);
}

// Every entry point of the loss, in float or double, on one set of inputs
// (y: the second input or the integer labels).
template <class Entry, class T, class Y, class Label>
results<T> call_all(const case_t& c, std::size_t rank, const inputs<T, Label>& in, const Y& y)
{
    results<T> r;
    with_rest<Entry>(c, in.mask,
                     [&](const auto&... rest) {
                         r.value = capture(Entry::name, "loss()",
                                           [&] { return xt::xarray<T>(Entry::loss(in.x, y, rest...)); });
                     });
    const bool scalar_up = c.ukind == upstream_kind::scalar;
    with_canonical_rest<Entry>(c, rank, in.mask,
                               [&](const auto&... rest)
                               {
                                   call_first<Entry>(r, scalar_up, in, y, rest...);
                                   if constexpr (Entry::differentiable[1])
                                   {
                                       call_second<Entry>(r, scalar_up, in, y, rest...);
                                   }
                               });
    if (recording.out)
    {
        record_all(r);
    }
    return r;
}

XLOSS_FUZZ_BACKEND_END

#endif
