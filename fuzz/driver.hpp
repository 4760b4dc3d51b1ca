// The driver: one input, decoded (case.hpp) and modelled (model.hpp), run in
// float and in double through every entry point of its loss (calls.hpp),
// with the error model's verdict, the masked-out-inputs check (the same call
// with every unread input element replaced by 0 gives bitwise the same
// results) and the reference check (reference_check.hpp).
//
// Included twice per backend build: fuzz_losses.cpp and fuzz_double.cpp
// (SIMD), fuzz_scalar.cpp and fuzz_scalar_double.cpp (XLOSS_NO_SIMD).
#ifndef XLOSS_FUZZ_DRIVER_HPP
#define XLOSS_FUZZ_DRIVER_HPP

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "backend.hpp"
#include "calls.hpp"
#include "reference_check.hpp"

XLOSS_FUZZ_BACKEND_BEGIN

template <class R>
void expect_error(const outcome<R>& o, error_kind expected, const char* entry)
{
    if (o.error != expected)
    {
        fail(std::string(entry) + ": expected " + error_name(expected) + ", got " + error_name(o.error)
             + (o.message.empty() ? "" : ": " + o.message));
    }
}

// Every entry point's error: e for loss / grad / value_and_grad, vjp_e for vjp.
template <class T>
void expect_errors(const results<T>& r, bool second, error_kind e, error_kind vjp_e)
{
    expect_error(r.value, e, "loss()");
    expect_error(r.vg0, e, "value_and_grad<0>");
    expect_error(r.g0, e, "grad<0>");
    expect_error(r.vjp0, vjp_e, "vjp<0>");
    if (second)
    {
        expect_error(r.vg1, e, "value_and_grad<1>");
        expect_error(r.vg01, e, "value_and_grad<0, 1>");
        expect_error(r.g1, e, "grad<1>");
        expect_error(r.g01, e, "grad<0, 1>");
        expect_error(r.vjp1, vjp_e, "vjp<1>");
        expect_error(r.vjp01, vjp_e, "vjp<0, 1>");
    }
}

template <class T>
bool same_bits(T a, T b)
{
    return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
void expect_identical(const xt::xarray<T>& a, const xt::xarray<T>& b, const char* entry)
{
    if (a.shape() != b.shape())
    {
        fail(std::string(entry) + ": masked-out inputs changed the result's shape");
    }
    for (std::size_t i = 0; i < a.size(); ++i)
    {
        if (!same_bits(a.flat(i), b.flat(i)))
        {
            std::ostringstream o;
            o.precision(17);
            o << entry << ": masked-out inputs reach the result at flat index " << i << ": " << a.flat(i)
              << " with them, " << b.flat(i) << " with them replaced by 0\n  with:    " << dump(a)
              << "\n  without: " << dump(b);
            fail(o.str());
        }
    }
}

// Both outcomes the same: bitwise equal results, or the same error.
template <class T>
void expect_identical(const outcome<std::pair<xt::xarray<T>, xt::xarray<T>>>& x,
                      const outcome<std::pair<xt::xarray<T>, xt::xarray<T>>>& y,
                      const char* entry)
{
    if (x.result && y.result)
    {
        expect_identical(x.result->first, y.result->first, entry);
        expect_identical(x.result->second, y.result->second, entry);
    }
    else if (x.error != y.error || x.message != y.message)
    {
        fail(std::string(entry) + ": masked-out inputs changed the outcome: '" + x.message + "' vs '"
             + y.message + "'");
    }
}

template <class T>
void expect_identical(const outcome<xt::xarray<T>>& x, const outcome<xt::xarray<T>>& y, const char* entry)
{
    if (x.result && y.result)
    {
        expect_identical(*x.result, *y.result, entry);
    }
    else if (x.error != y.error || x.message != y.message)
    {
        fail(std::string(entry) + ": masked-out inputs changed the outcome: '" + x.message + "' vs '"
             + y.message + "'");
    }
}

template <class T>
void expect_identical(const results<T>& a, const results<T>& b)
{
    expect_identical(a.value, b.value, "loss()");
    expect_identical(a.vg0_value, b.vg0_value, "value_and_grad<0>.value");
    expect_identical(a.vg0, b.vg0, "value_and_grad<0>.grad");
    expect_identical(a.g0, b.g0, "grad<0>");
    expect_identical(a.vjp0, b.vjp0, "vjp<0>");
    expect_identical(a.vg1_value, b.vg1_value, "value_and_grad<1>.value");
    expect_identical(a.vg1, b.vg1, "value_and_grad<1>.grad");
    expect_identical(a.vg01_value, b.vg01_value, "value_and_grad<0, 1>.value");
    expect_identical(a.vg01, b.vg01, "value_and_grad<0, 1>.grad");
    expect_identical(a.g1, b.g1, "grad<1>");
    expect_identical(a.g01, b.g01, "grad<0, 1>");
    expect_identical(a.vjp1, b.vjp1, "vjp<1>");
    expect_identical(a.vjp01, b.vjp01, "vjp<0, 1>");
}

// Which input elements some selected position reads.
struct reads_t
{
    std::vector<char> x, y;
};

template <class Entry, class T, class Label>
reads_t reads_of(const case_t& c,
                 const model_t& m,
                 const inputs<T, Label>& in,
                 const checker<Entry, T, Label>& chk)
{
    reads_t r;
    r.x.assign(in.x.size(), 0);
    r.y.assign(c.integer_labels ? 0 : in.y.size(), 0);
    for (std::size_t f = 0; f < m.selected.size(); ++f)
    {
        if (m.selected[f])
        {
            r.x[chk.x_of[f]] = 1;
            if (!c.integer_labels)
            {
                r.y[chk.y_of[f]] = 1;
            }
        }
    }
    return r;
}

// Poison: every input element that no selected position reads becomes NaN or inf.
template <class T, class Label>
void poison(const reads_t& read, inputs<T, Label>& in)
{
    const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                          -std::numeric_limits<T>::infinity()};
    for (std::size_t i = 0; i < read.x.size(); ++i)
    {
        if (!read.x[i])
        {
            in.x.flat(i) = specials[i % 3];
        }
    }
    for (std::size_t i = 0; i < read.y.size(); ++i)
    {
        if (!read.y[i])
        {
            in.y.flat(i) = specials[(i + 1) % 3];
        }
    }
}

// Labels the library does not check (but ignored ones) set to 0 (on an empty class axis it
// checks every label a batch-rank mask keeps, although no element is
// selected), and upstream values of slices with nothing selected (only where
// vjp is not to fail).
template <class T, class Label>
void clear_empty_slices(const case_t& c, const model_t& m, bool vjp_ok, inputs<T, Label>& in)
{
    std::vector<char> label_read(in.labels.size(), 0), up_read(in.upstream.size(), 0);
    for (std::size_t s = 0; s < m.slices; ++s)
    {
        const auto idx = unflatten(m.batch, s);
        // An ignored label is kept: it decides that its slice takes no part.
        if (c.integer_labels && (m.label_checked[s] || (!m.ignored.empty() && m.ignored[s])))
        {
            label_read[broadcast_index(c.y_shape, idx)] = 1;
        }
        if (m.slice_any[s] && c.ukind != upstream_kind::scalar && m.up_shape.size() <= idx.size() && vjp_ok)
        {
            up_read[broadcast_index(m.up_shape, idx)] = 1;
        }
    }
    for (std::size_t i = 0; i < label_read.size(); ++i)
    {
        if (!label_read[i])
        {
            in.labels.flat(i) = Label(0);
        }
    }
    for (std::size_t i = 0; vjp_ok && i < up_read.size(); ++i)
    {
        if (!up_read[i])
        {
            in.upstream.flat(i) = T(0);
        }
    }
}

// The clean twin of the inputs: unread elements, labels and upstream of
// empty slices set to 0.
template <class T, class Label>
inputs<T, Label> clean_twin(const case_t& c,
                            const model_t& m,
                            const reads_t& read,
                            bool vjp_ok,
                            const inputs<T, Label>& raw)
{
    inputs<T, Label> clean = raw;
    for (std::size_t i = 0; i < read.x.size(); ++i)
    {
        if (!read.x[i])
        {
            clean.x.flat(i) = T(0);
        }
    }
    for (std::size_t i = 0; i < read.y.size(); ++i)
    {
        if (!read.y[i])
        {
            clean.y.flat(i) = T(0);
        }
    }
    if (c.integer_labels || c.ukind != upstream_kind::scalar)
    {
        clear_empty_slices(c, m, vjp_ok, clean);
    }
    return clean;
}

template <class T, class Label>
void dump_inputs(const inputs<T, Label>& in)
{
    std::fprintf(stderr, "%s inputs\n  x: %s\n  y: %s\n  where: %s\n  upstream: %s (scalar %g)\n",
                 sizeof(T) == sizeof(float) ? "float" : "double", dump(in.x, 100000).c_str(),
                 dump(in.y, 100000).c_str(), dump(in.mask, 100000).c_str(), dump(in.upstream, 100000).c_str(),
                 static_cast<double>(in.upstream_scalar));
}

template <class Entry, class T, class Label>
results<T> call(const case_t& c, const model_t& m, const inputs<T, Label>& in)
{
    if constexpr (Entry::integer_labels)
    {
        return call_all<Entry>(c, m.full.size(), in, in.labels);
    }
    else
    {
        return call_all<Entry>(c, m.full.size(), in, in.y);
    }
}

// A call that fails before reading a value (model_t::error): every entry
// point throws what the model says.
template <class Entry, class T, class Label>
void run_failing(const case_t& c, const model_t& m, const inputs<T, Label>& raw)
{
    const auto r = call<Entry>(c, m, raw);
    expect_errors(r, !c.integer_labels, m.error, m.vjp_error);
}

// The slices whose label is the loss's ignored one (ignore_index) leave the
// call as a batch-rank mask would take them out: nothing selected, the label
// not checked. Compared as numbers: an unsigned label is never negative.
template <class Entry, class Label>
void drop_ignored_slices(const case_t& c, model_t& m, const xt::xarray<Label>& labels)
{
    const std::optional<long long> ignored = Entry::ignored_label(options_of<Entry>(c));
    if (!ignored)
    {
        return;
    }
    m.ignored.assign(m.slices, 0);
    for (std::size_t s = 0; s < m.slices; ++s)
    {
        const Label label = labels.flat(broadcast_index(c.y_shape, unflatten(m.batch, s)));
        const bool same = std::is_signed_v<Label> ? static_cast<long long>(label) == *ignored
                                                  : *ignored >= 0
                                                        && static_cast<unsigned long long>(label)
                                                               == static_cast<unsigned long long>(*ignored);
        if (same)
        {
            m.ignored[s] = 1;
            m.slice_any[s] = 0;
            m.label_checked[s] = 0;
            for (std::size_t k = 0; k < m.n; ++k)
            {
                m.selected[m.pos[s * m.n + k]] = 0;
            }
        }
    }
}

template <class Entry, class T, class Label>
void run_typed(const case_t& c, model_t m)
{
    inputs<T, Label> raw = materialise<T, Label>(c, m);
    if (m.error != error_kind::none)
    {
        run_failing<Entry>(c, m, raw);
        return;
    }
    if (ignoring("empty_unbroadcast") && product(m.full) == 0
        && (c.x_shape != m.full || (!c.integer_labels && c.y_shape != m.full)))
    {
        return;  // known bug: the gradient of a broadcast input of an empty call overflows a buffer
    }
    select(c, m, raw.mask);
    if constexpr (Entry::integer_labels)
    {
        drop_ignored_slices<Entry>(c, m, raw.labels);
    }
    current.m = &m;
    const error_kind err = c.integer_labels ? label_error(m, raw.labels, c.y_shape) : error_kind::none;
    const error_kind vjp_err = vjp_error_of(m, err);

    const reads_t read = reads_of(c, m, raw, checker<Entry, T, Label>(c, m, raw));
    if (c.poison)
    {
        poison(read, raw);
    }
    const inputs<T, Label> clean = clean_twin(c, m, read, vjp_err == error_kind::none, raw);
    if (std::getenv("XLOSS_FUZZ_DUMP"))
    {
        dump_inputs(raw);
    }
    const auto r = call<Entry>(c, m, raw);
    expect_errors(r, !c.integer_labels, err, vjp_err);
    const auto rc = call<Entry>(c, m, clean);
    expect_identical(r, rc);
    if (err != error_kind::none)
    {
        return;  // an out-of-range label: nothing to compare with the reference
    }
    checker<Entry, T, Label> chk(c, m, clean);
    chk.check(rc, vjp_err == error_kind::none);
    recording.saw_finite_out_of_domain = recording.saw_finite_out_of_domain || chk.saw_finite_out_of_domain;
}

template <class T, class Entry>
void run_entry(const case_t& c, const model_t& m)
{
    if constexpr (Entry::integer_labels)
    {
        if (c.labels_unsigned)
        {
            run_typed<Entry, T, std::size_t>(c, m);
            return;
        }
    }
    run_typed<Entry, T, int>(c, m);
}

// Runs the case's loss: the catalogue entry at its index.
template <class T, std::size_t... I>
void run_all(const case_t& c, const model_t& m, std::index_sequence<I...>)
{
    ((c.loss == I ? run_entry<T, std::tuple_element_t<I, catalogue>>(c, m) : void()), ...);
}

template <std::size_t... I>
std::vector<loss_info> loss_infos(std::index_sequence<I...>)
{
    return {loss_info{std::tuple_element_t<I, catalogue>::name,
                      std::tuple_element_t<I, catalogue>::integer_labels}...};
}

inline const std::vector<loss_info>& losses()
{
    static const std::vector<loss_info> infos = loss_infos(
        std::make_index_sequence<std::tuple_size_v<catalogue>>{});
    return infos;
}

inline constexpr auto catalogue_entries = std::make_index_sequence<std::tuple_size_v<catalogue>>{};

// The double half of run_input, in its own translation unit (fuzz_double.cpp,
// fuzz_scalar_double.cpp): each backend's checks, float and double, were the
// two longest compiles of CI, six minutes each under ASan; in four objects
// they keep both cores busy.
void run_double(const case_t& c, const model_t& m);

inline void run_input(const std::uint8_t* data, std::size_t size)
{
    case_t c = decode(data, size, losses());
    const model_t m = make_model(c);
    current = {&c, &m};
    static const bool verbose = std::getenv("XLOSS_FUZZ_VERBOSE") != nullptr;
    if (verbose)
    {
        std::fprintf(stderr, "%s\n", describe(c, m).c_str());
    }
    recording.type = "float";
    run_all<float>(c, m, catalogue_entries);
    current.m = &m;
    recording.type = "double";
    run_double(c, m);
    current = {};
}

inline std::vector<backend_output> run_recorded(const std::uint8_t* data, std::size_t size)
{
    std::vector<backend_output> out;
    recording.out = &out;
    recording.saw_finite_out_of_domain = false;
    run_input(data, size);
    recording.out = nullptr;
    for (auto& o : out)
    {
        o.claimed = !recording.saw_finite_out_of_domain;
    }
    return out;
}

// Fails with `what`, describing the input's decoded case.
[[noreturn]] inline void fail_on(const std::uint8_t* data, std::size_t size, const std::string& what)
{
    case_t c = decode(data, size, losses());
    const model_t m = make_model(c);
    current = {&c, &m};
    fail(what);
}

XLOSS_FUZZ_BACKEND_END

#endif
