// What the generic tests share: the entries this translation unit checks,
// each with float and double (`entry_cases`, for TEMPLATE_LIST_TEST_CASE),
// inputs from an entry's generators, the gradients of every differentiable
// input as one pair, and the entry's long-double reference over whole inputs.
//
// The generic sources are compiled once per catalogue entry, with
// -DXLOSS_TEST_ENTRY=<index> (tests/CMakeLists.txt): each object instantiates
// one loss, so the objects of different losses build in parallel and none
// repeats another's instantiations. Without the macro a source checks every
// entry (one object for the whole catalogue).
#ifndef XLOSS_TESTS_GENERIC_HPP
#define XLOSS_TESTS_GENERIC_HPP

#include <algorithm>
#include <cstddef>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xadapt.hpp>

#include "catalogue.hpp"
#include "support.hpp"
#include "sweep.hpp"

namespace xloss_test
{
    // The backend's inline namespace (xloss/config.hpp): test_simd_vs_scalar
    // compiles these helpers on both backends into one program, and they must
    // not be merged at link time.
    inline namespace XLOSS_ABI_NAMESPACE
    {
        template <class E, class V>
        struct typed
        {
            using entry = E;
            using T = V;
        };

        template <class... E>
        std::tuple<typed<E, float>..., typed<E, double>...> typed_cases(std::tuple<E...>);

#ifdef XLOSS_TEST_ENTRY
        using selected_entries = std::tuple<std::tuple_element_t<XLOSS_TEST_ENTRY, catalogue>>;
#else
        using selected_entries = catalogue;
#endif
        // The plumbing properties (axis spellings, result and gradient
        // shapes, input kinds, masks read by rank, upstream shapes) run in
        // float only: the code they check (layouts, plans, broadcasting,
        // unplanning) does not depend on the value type, and the values
        // themselves are checked in both types by the other tests. Half of
        // a generic test program's build was these, twice.
        template <class... E>
        std::tuple<typed<E, float>...> float_cases(std::tuple<E...>);
        using layout_cases = decltype(float_cases(selected_entries{}));

        // The value cases: float and double, or float only where the build
        // defines XLOSS_TEST_FLOAT_ONLY (the sanitizer build of
        // .ci/robustness.sh, step a, whose CI time went to compiling each
        // case under ASan + UBSan; the double kernels stay sanitized there by
        // test_simd_vs_scalar, and on the widest batches by the fuzzer, step c).
#ifdef XLOSS_TEST_FLOAT_ONLY
        using entry_cases = layout_cases;
#else
        using entry_cases = decltype(typed_cases(selected_entries{}));
#endif

        // The second input of entry E for value type T (labels: xt::xarray<int>).
        template <class E, class T>
        using second_t = decltype(E::template make_y<T>(shape_t{}, std::vector<std::size_t>{}, 0u));

        template <class E, class T>
        struct inputs
        {
            xt::xarray<T> x;
            second_t<E, T> y;
        };

        // Is flat element `i` of an array of `shape` the one its slice's label points at?
        // (labels: the row-major index into the slice in the listed axis order)
        inline std::vector<std::size_t> unravel(std::size_t flat, const shape_t& shape)
        {
            std::vector<std::size_t> idx(shape.size());
            for (std::size_t a = shape.size(); a-- > 0;)
            {
                idx[a] = flat % shape[a];
                flat /= shape[a];
            }
            return idx;
        }

        // The batch index and the in-slice index (listed order) of a full index.
        inline std::pair<std::size_t, std::size_t> split_index(const std::vector<std::size_t>& idx,
                                                               const shape_t& shape,
                                                               const std::vector<std::size_t>& listed)
        {
            std::size_t b = 0, k = 0;
            for (std::size_t a = 0; a < shape.size(); ++a)
            {
                if (std::find(listed.begin(), listed.end(), a) == listed.end())
                {
                    b = b * shape[a] + idx[a];
                }
            }
            for (auto a : listed)
            {
                k = k * shape[a] + idx[a];
            }
            return {b, k};
        }

        // Points each label at a selected element of its slice where there is one
        // (a label on a masked-out element gives +inf).
        inline void labels_on_selected(xt::xarray<int>& labels,
                                       const xt::xarray<bool>& full_mask,
                                       const shape_t& shape,
                                       const std::vector<std::size_t>& listed)
        {
            std::vector<long long> first(labels.size(), -1);
            std::vector<char> ok(labels.size(), 0);
            for (std::size_t f = 0; f < full_mask.size(); ++f)
            {
                if (full_mask.flat(f))
                {
                    const auto [b, k] = split_index(unravel(f, shape), shape, listed);
                    first[b] = first[b] < 0 ? static_cast<long long>(k) : first[b];
                    ok[b] = ok[b] || static_cast<std::size_t>(labels.flat(b)) == k;
                }
            }
            for (std::size_t b = 0; b < labels.size(); ++b)
            {
                if (!ok[b] && first[b] >= 0)
                {
                    labels.flat(b) = static_cast<int>(first[b]);
                }
            }
        }

        // The one-hot tensor of integer labels: with several axes a label is the
        // row-major flat index into the slice taken in the listed axis order.
        template <class T>
        xt::xarray<T> one_hot(const shape_t& shape,
                              const std::vector<std::size_t>& listed,
                              const xt::xarray<int>& labels)
        {
            xt::xarray<T> out = xt::zeros<T>(shape);
            const std::size_t rank = shape.size();
            std::vector<std::size_t> idx(rank, 0);
            for (std::size_t flat = 0; flat < out.size(); ++flat)
            {
                std::size_t rest = flat;
                for (std::size_t a = rank; a-- > 0;)
                {
                    idx[a] = rest % shape[a];
                    rest /= shape[a];
                }
                std::size_t b = 0;  // row-major index into the batch shape
                for (std::size_t a = 0; a < rank; ++a)
                {
                    if (std::find(listed.begin(), listed.end(), a) == listed.end())
                    {
                        b = b * shape[a] + idx[a];
                    }
                }
                std::size_t k = 0;  // index into the slice, in listed order
                for (auto a : listed)
                {
                    k = k * shape[a] + idx[a];
                }
                if (static_cast<std::size_t>(labels.flat(b)) == k)
                {
                    out.flat(flat) = T(1);
                }
            }
            return out;
        }

        // Smooth inputs of E for `shape` reduced over `listed`; with a mask (of
        // the full shape), labels point at selected elements.
        template <class E, class T>
        inputs<E, T> make_inputs(const shape_t& shape,
                                 const std::vector<std::size_t>& listed,
                                 unsigned seed,
                                 const xt::xarray<bool>* full_mask = nullptr)
        {
            inputs<E, T> in{E::template make_x<T>(shape, seed),
                            E::template make_y<T>(shape, listed, seed + 7919)};
            if constexpr (E::integer_labels)
            {
                if (full_mask)
                {
                    labels_on_selected(in.y, *full_mask, shape, listed);
                }
            }
            return in;
        }

        // grad / vjp of every differentiable input as a pair (an empty second
        // for labels).
        template <class E, class... A>
        auto all_grads(const typename E::options& o, const A&... a)
        {
            if constexpr (E::differentiable[1])
            {
                return E::template grad<0, 1>(o, a...);
            }
            else
            {
                auto d = E::template grad<0>(o, a...);
                return std::make_pair(d, decltype(d)());
            }
        }

        template <class E, class... A>
        auto all_vjps(const typename E::options& o, const A&... a)
        {
            if constexpr (E::differentiable[1])
            {
                return E::template vjp<0, 1>(o, a...);
            }
            else
            {
                auto d = E::template vjp<0>(o, a...);
                return std::make_pair(d, decltype(d)());
            }
        }

        // The entry's long-double reference over whole inputs: reduced axes moved
        // last in the listed order, one slice at a time. `y` broadcasts to x's
        // shape (labels: of the batch shape); `full_mask`, if any, has x's shape.
        template <class E, class T, class Y>
        xt::xarray<ld> reference_values(const typename E::options& o,
                                        const xt::xarray<T>& x,
                                        const Y& y,
                                        const std::vector<std::size_t>& listed,
                                        const xt::xarray<bool>* full_mask)
        {
            const shape_t shape(x.shape().begin(), x.shape().end());
            std::vector<std::size_t> perm;
            for (std::size_t a = 0; a < shape.size(); ++a)
            {
                if (std::find(listed.begin(), listed.end(), a) == listed.end())
                {
                    perm.push_back(a);
                }
            }
            perm.insert(perm.end(), listed.begin(), listed.end());
            const shape_t batch = batch_shape_of(shape, listed);
            std::size_t n = 1;
            for (auto a : listed)
            {
                n *= shape[a];
            }
            const xt::xarray<ld> px = xt::transpose(xt::xarray<ld>(xt::cast<ld>(x)), perm);
            xt::xarray<ld> py;
            if constexpr (!E::integer_labels)
            {
                py = xt::transpose(xt::xarray<ld>(xt::broadcast(xt::cast<ld>(y), shape)), perm);
            }
            xt::xarray<bool> pm = full_mask ? xt::xarray<bool>(xt::transpose(*full_mask, perm))
                                            : xt::xarray<bool>(xt::ones<bool>(shape));
            xt::xarray<ld> out = xt::zeros<ld>(batch);
            for (std::size_t b = 0; b < out.size(); ++b)
            {
                slice_in in;
                for (std::size_t k = 0; k < n; ++k)
                {
                    in.x.push_back(px.flat(b * n + k));
                    in.y.push_back(E::integer_labels ? ld(0) : py.flat(b * n + k));
                    in.sel.push_back(pm.flat(b * n + k));
                }
                if constexpr (E::integer_labels)
                {
                    in.label = y.flat(b);
                }
                out.flat(b) = E::template reference<T>(in, o).value.value;
            }
            return out;
        }

        // ---------------------------------------------------------------------
        // The reference sweep: shapes, every axis form and every kind of mask,
        // and reduced lengths around the SIMD width, against the entry's
        // long-double reference. `scale` multiplies both inputs (floating).

        inline const std::vector<sweep::axis_case>& sweep_cases()
        {
            using sweep::axes_form;
            static const std::vector<sweep::axis_case> cases = {
                {"2-D, last axis (rows)", {5, 17}, {-1}},
                {"2-D, axis 0 (columns, inner 5)", {17, 5}, {0}},
                {"3-D, axis 1 (columns, inner 20)", {3, 9, 20}, {1}},
                {"3-D, axis 0", {7, 3, 4}, {0}},
                {"3-D, last axis", {3, 4, 33}, {2}},
                {"4-D NCHW, axis 1", {2, 5, 3, 4}, {1}},
                // Longer inner rows than a strip of sums of element terms
                // (16 KiB: 4096 floats, 2048 doubles), and a partial batch.
                {"3-D, axis 1 (inner 4115)", {1, 2, 4115}, {1}},
                // An outer axis of 100 elements: blocks of 8 rows and a partial
                // one where a rule has a stream form (schedule.hpp, run_streams).
                {"3-D, axis 1 (100 elements, inner 37)", {2, 100, 37}, {1}},
                {"3-D, axes {0, 2}", {4, 3, 6}, {0, 2}},
                {"3-D, axes {2, 0}", {4, 3, 6}, {2, 0}},
                {"3-D, axes {1, 2} (adjacent)", {3, 4, 5}, {1, 2}},
                {"4-D, axes {-1, -3}", {2, 3, 4, 5}, {-1, -3}},
                {"3-D, all_axes", {3, 4, 5}, {}, axes_form::all},
                {"2-D, no_axes", {4, 7}, {}, axes_form::none},
                {"3-D, no_axes", {2, 3, 5}, {}, axes_form::none},
            };
            return cases;
        }

        inline constexpr std::size_t simd_lengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64};

        template <class E, class T>
        void scale_inputs(inputs<E, T>& in, double scale)
        {
            if (scale != 1)
            {
                in.x = xt::xarray<T>(in.x * T(scale));
                if constexpr (!E::integer_labels)
                {
                    in.y = xt::xarray<T>(in.y * T(scale));
                }
            }
        }

        // The loss called in the case's axis form, with the mask if any.
        template <class E, class X, class Y>
        auto call_case(const typename E::options& o,
                       const X& x,
                       const Y& y,
                       const sweep::axis_case& c,
                       const xt::xarray<bool>* mask)
        {
            return E::with_options(o, [&](const auto&... opts)
                                   { return sweep::call(E::loss, x, y, c, mask, opts...); });
        }

        template <class E, class T>
        void reference_sweep(const typename E::options& o, unsigned seed, double scale = 1)
        {
            using namespace sweep;
            for (const auto& c : sweep_cases())
            {
                const auto reduced = reduced_axes(c);
                const auto listed = listed_axes(c);
                for (mask_kind k : {mask_kind::none, mask_kind::full, mask_kind::batch, mask_kind::per_class,
                                    mask_kind::per_example})
                {
                    if (k == mask_kind::batch && c.form == axes_form::none)
                    {
                        continue;  // batch rank == input rank: the same as a full-rank mask
                    }
                    INFO(c.name << ", " << mask_name(k) << ", " << E::describe(o));
                    if (k == mask_kind::none)
                    {
                        auto in = make_inputs<E, T>(c.shape, listed, ++seed);
                        scale_inputs(in, scale);
                        check_close<T>(call_case<E>(o, in.x, in.y, c, nullptr),
                                       reference_values<E>(o, in.x, in.y, listed, nullptr));
                    }
                    else
                    {
                        const xt::xarray<bool> m = make_mask(k, c.shape, reduced, ++seed);
                        const xt::xarray<bool> full = expand_mask(m, c.shape, reduced);
                        auto in = make_inputs<E, T>(c.shape, listed, ++seed, &full);
                        scale_inputs(in, scale);
                        check_close<T>(call_case<E>(o, in.x, in.y, c, &m),
                                       reference_values<E>(o, in.x, in.y, listed, &full));
                    }
                }
            }
        }

        template <class E, class T>
        void reference_lengths(const typename E::options& o, unsigned seed, double scale = 1)
        {
            using namespace sweep;
            for (std::size_t n : simd_lengths)
            {
                // Rows: the reduced axis innermost. Columns: an outer axis with 19
                // contiguous slices (a full group of 8 or 16 lanes and a partial one).
                const axis_case rows{"rows", {3, n}, {-1}};
                const axis_case cols{"columns", {n, 19}, {0}};
                for (const auto* c : {&rows, &cols})
                {
                    const auto listed = listed_axes(*c);
                    const xt::xarray<bool> m = random_mask(c->shape, 0.6, ++seed);
                    INFO(c->name << ", n = " << n << ", " << E::describe(o));
                    auto in = make_inputs<E, T>(c->shape, listed, ++seed);
                    scale_inputs(in, scale);
                    check_close<T>(call_case<E>(o, in.x, in.y, *c, nullptr),
                                   reference_values<E>(o, in.x, in.y, listed, nullptr));
                    in = make_inputs<E, T>(c->shape, listed, ++seed, &m);
                    scale_inputs(in, scale);
                    check_close<T>(call_case<E>(o, in.x, in.y, *c, &m),
                                   reference_values<E>(o, in.x, in.y, listed, &m));
                }
            }
        }
        // One SECTION per input kind that is not a plain container: a view, a
        // strided view, xt::adapt over raw pointers and a lazy expression. Each
        // calls check_kind(make), where make(a) gives the [5, 19] array `a` as
        // that kind of expression (what it refers to stays alive meanwhile).
        template <class T, class Check>
        void input_kind_sections(const Check& check_kind)
        {
            const shape_t shape{5, 19};
            std::vector<xt::xarray<T>> keep;
            keep.reserve(4);
            SECTION("xt::view into a larger array")
            {
                check_kind(
                    [&](const xt::xarray<T>& a)
                    {
                        keep.push_back(xt::zeros<T>({7, 25}));
                        xt::view(keep.back(), xt::range(1, 6), xt::range(3, 22)) = a;
                        return xt::view(keep.back(), xt::range(1, 6), xt::range(3, 22));
                    });
            }
            SECTION("xt::strided_view with steps")
            {
                check_kind(
                    [&](const xt::xarray<T>& a)
                    {
                        keep.push_back(xt::zeros<T>({10, 57}));
                        xt::strided_view(keep.back(), {xt::range(0, 10, 2), xt::range(1, 57, 3)}) = a;
                        return xt::strided_view(keep.back(), {xt::range(0, 10, 2), xt::range(1, 57, 3)});
                    });
            }
            SECTION("xt::adapt over raw pointers")
            {
                std::vector<std::vector<T>> raw;
                raw.reserve(4);
                check_kind(
                    [&](const xt::xarray<T>& a)
                    {
                        raw.emplace_back(a.begin(), a.end());
                        return xt::adapt(raw.back().data(), raw.back().size(), xt::no_ownership(), shape);
                    });
            }
            SECTION("lazy expressions")
            {
                // 2 * (a / 2) == a exactly. The gradient is w.r.t. the
                // expression's value (the chain rule through it is the caller's).
                check_kind(
                    [&](const xt::xarray<T>& a)
                    {
                        keep.push_back(a / T(2));
                        return T(2) * keep.back();
                    });
            }
        }
        // Inputs of `shape` where every 4th first input is -inf and its second
        // input 0 (the zero-probability convention); `finite` marks the others.
        // 3 x 19 covers full SIMD batches and a tail.
        template <class T>
        struct minus_inf_inputs
        {
            xt::xarray<T> x, y;
            xt::xarray<bool> finite;
        };

        template <class T>
        minus_inf_inputs<T> every_fourth_minus_inf(const shape_t& shape)
        {
            minus_inf_inputs<T> in{random_normal<T>(shape, 1.5, 121), random_probabilities<T>(shape, -1, 122),
                                   xt::ones<bool>(shape)};
            for (std::size_t i = 0; i < in.x.size(); i += 4)
            {
                in.x.flat(i) = -std::numeric_limits<T>::infinity();
                in.y.flat(i) = T(0);
                in.finite.flat(i) = false;
            }
            return in;
        }

    }  // inline namespace XLOSS_ABI_NAMESPACE
}

#endif
