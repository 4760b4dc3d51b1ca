// Gradients against central finite differences (double), for any catalogue
// entry: every axis form with the mask kinds that go with it
// (fd_cases()), grad of the sum and vjp with a random upstream, w.r.t. every
// differentiable input. The generic gradient tests run it with the entry's
// generators; a loss's own test file can pass other inputs (fd_sweep's
// make_x / make_y) to reach a region the generators do not.
#ifndef XLOSS_TESTS_GRADCHECK_HPP
#define XLOSS_TESTS_GRADCHECK_HPP

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <variant>
#include <vector>

#include "generic.hpp"

namespace xloss_test
{
    // The backend's inline namespace (xloss/config.hpp): test_simd_vs_scalar
    // compiles these helpers on both backends into one program, and they must
    // not be merged at link time.
    inline namespace XLOSS_ABI_NAMESPACE
    {
        // Every axis form: an int, a list, no_axes, all_axes.
        using axes_arg = std::variant<int, std::vector<int>, xloss::no_axes_t, xloss::all_axes_t>;

        struct grad_case
        {
            const char* name;
            shape_t shape;
            axes_arg axes;
            sweep::mask_kind mask = sweep::mask_kind::none;
        };

        // The reduced axes, normalised, in the order listed.
        inline std::vector<std::size_t> listed_axes(const grad_case& c)
        {
            const auto rank = static_cast<int>(c.shape.size());
            const auto norm = [rank](int a) { return static_cast<std::size_t>(a < 0 ? a + rank : a); };
            std::vector<std::size_t> r;
            if (const int* one = std::get_if<int>(&c.axes))
            {
                r.push_back(norm(*one));
            }
            else if (const auto* list = std::get_if<std::vector<int>>(&c.axes))
            {
                for (int a : *list)
                {
                    r.push_back(norm(a));
                }
            }
            else if (std::holds_alternative<xloss::all_axes_t>(c.axes))
            {
                for (int a = 0; a < rank; ++a)
                {
                    r.push_back(static_cast<std::size_t>(a));
                }
            }
            return r;
        }

        // f(axis[, mask]) for the axis form held by `a`.
        template <class F>
        auto with_axes(const axes_arg& a, const xt::xarray<bool>* mask, F&& f)
        {
            return std::visit([&](const auto& ax) { return mask ? f(ax, *mask) : f(ax); }, a);
        }

        // The entry points of E with a runtime axis form and an optional mask.
        template <class E, class T, class Y>
        xt::xarray<T> value_of(const typename E::options& o,
                               const xt::xarray<T>& x,
                               const Y& y,
                               const axes_arg& a,
                               const xt::xarray<bool>* m)
        {
            return with_axes(a, m,
                             [&](const auto&... rest) { return xt::xarray<T>(E::call(o, x, y, rest...)); });
        }

        template <class E, class T, class Y>
        std::pair<xt::xarray<T>, xt::xarray<T>> grads_of(const typename E::options& o,
                                                         const xt::xarray<T>& x,
                                                         const Y& y,
                                                         const axes_arg& a,
                                                         const xt::xarray<bool>* m)
        {
            return with_axes(a, m, [&](const auto&... rest) { return all_grads<E>(o, x, y, rest...); });
        }

        template <class E, class T, class G, class Y>
        std::pair<xt::xarray<T>, xt::xarray<T>> vjps_of(const typename E::options& o,
                                                        const G& g,
                                                        const xt::xarray<T>& x,
                                                        const Y& y,
                                                        const axes_arg& a,
                                                        const xt::xarray<bool>* m)
        {
            return with_axes(a, m, [&](const auto&... rest) { return all_vjps<E>(o, g, x, y, rest...); });
        }

        // sum(g * v) in long double (g absent: sum(v)).
        inline ld weighted_total(const xt::xarray<double>& v, const xt::xarray<double>* g)
        {
            ld s = 0;
            for (std::size_t i = 0; i < v.size(); ++i)
            {
                s += (g ? ld(g->flat(i)) : ld(1)) * ld(v.flat(i));
            }
            return s;
        }

        // Central differences of total(v) w.r.t. each element of v, step 1e-6
        // relative; the difference of the perturbed values is the step, so the
        // rounding of v +- h does not enter.
        template <class F>
        xt::xarray<double> central_difference(xt::xarray<double> v, F&& total)
        {
            xt::xarray<double> out = xt::xarray<double>::from_shape(
                shape_t(v.shape().begin(), v.shape().end()));
            for (std::size_t i = 0; i < v.size(); ++i)
            {
                const double orig = v.flat(i);
                const double h = 1e-6 * std::max(1.0, std::abs(orig));
                const double up = orig + h;
                const double down = orig - h;
                v.flat(i) = up;
                const ld fp = total(v);
                v.flat(i) = down;
                const ld fm = total(v);
                v.flat(i) = orig;
                out.flat(i) = static_cast<double>((fp - fm) / ld(up - down));
            }
            return out;
        }

        // |got - fd| <= 1e-6 (1 + |fd|), element by element, with a report.
        inline void check_fd(const xt::xarray<double>& got, const xt::xarray<double>& fd, const char* what)
        {
            REQUIRE(shape_t(got.shape().begin(), got.shape().end())
                    == shape_t(fd.shape().begin(), fd.shape().end()));
            std::size_t bad = 0;
            std::ostringstream report;
            report.precision(12);
            for (std::size_t i = 0; i < got.size(); ++i)
            {
                const double g = got.flat(i);
                const double e = fd.flat(i);
                if (!(std::abs(g - e) <= 1e-6 * (1 + std::abs(e))))
                {
                    if (++bad <= 5)
                    {
                        report << "  [" << i << "] gradient " << g << ", finite difference " << e << "\n";
                    }
                }
            }
            INFO(what << ": " << bad << " of " << got.size() << " elements differ\n" << report.str());
            CHECK(bad == 0);
        }

        // grad (of the sum) and vjp (with a random upstream of the result's
        // shape) against central differences, w.r.t. every differentiable input.
        template <class E, class Y>
        void check_against_fd(const typename E::options& o,
                              const xt::xarray<double>& x,
                              const Y& y,
                              const axes_arg& axes,
                              const xt::xarray<bool>* mask,
                              unsigned seed)
        {
            const auto v0 = value_of<E>(o, x, y, axes, mask);
            const xt::xarray<double> g = random_normal<double>(shape_t(v0.shape().begin(), v0.shape().end()),
                                                               1.0, seed);
            const auto d = grads_of<E>(o, x, y, axes, mask);
            const auto v = vjps_of<E>(o, g, x, y, axes, mask);
            REQUIRE(d.first.shape() == x.shape());
            const auto total_x = [&](const xt::xarray<double>* w)
            {
                return [&, w](const xt::xarray<double>& xx)
                { return weighted_total(value_of<E>(o, xx, y, axes, mask), w); };
            };
            check_fd(d.first, central_difference(x, total_x(nullptr)), "grad<0>");
            check_fd(v.first, central_difference(x, total_x(&g)), "vjp<0>");
            if constexpr (E::differentiable[1])
            {
                REQUIRE(d.second.shape() == y.shape());
                const auto total_y = [&](const xt::xarray<double>* w)
                {
                    return [&, w](const xt::xarray<double>& yy)
                    { return weighted_total(value_of<E>(o, x, yy, axes, mask), w); };
                };
                check_fd(d.second, central_difference(y, total_y(nullptr)), "grad<1>");
                check_fd(v.second, central_difference(y, total_y(&g)), "vjp<1>");
            }
        }

        // Every axis form, with the mask kinds that go with them.
        inline const std::vector<grad_case>& fd_cases()
        {
            using sweep::mask_kind;
            static const std::vector<grad_case> cases = {
                {"rows, int axis -1, full-rank mask", {4, 9}, -1, mask_kind::full},
                {"rows, {1}", {3, 17}, std::vector<int>{1}, mask_kind::none},
                {"columns, int axis 0, batch-rank mask", {9, 5}, 0, mask_kind::batch},
                {"NCHW, axis 1", {2, 3, 2, 3}, 1, mask_kind::none},
                {"{0, 2}, [1, C]-style mask", {3, 4, 5}, std::vector<int>{0, 2}, mask_kind::per_class},
                {"{2, 0}", {3, 4, 5}, std::vector<int>{2, 0}, mask_kind::none},
                {"no_axes, full-rank mask", {3, 5}, xloss::no_axes, mask_kind::full},
                {"all_axes", {3, 5}, xloss::all_axes, mask_kind::none},
                {"all_axes, full-rank mask", {2, 3, 4}, xloss::all_axes, mask_kind::full},
            };
            return cases;
        }

        // The mask of a case (nullopt: none) and the inputs, labels on selected
        // elements. make_x / make_y: (shape, listed, seed) -> input; the entry's
        // generators when absent.
        template <class E>
        void fd_sweep(const typename E::options& o,
                      unsigned seed,
                      const std::function<xt::xarray<double>(const shape_t&, unsigned)>& make_x = {},
                      const std::function<xt::xarray<double>(const shape_t&, unsigned)>& make_y = {})
        {
            for (const auto& c : fd_cases())
            {
                INFO(E::name << ": " << c.name << ", " << E::describe(o));
                const auto listed = listed_axes(c);
                std::optional<xt::xarray<bool>> m;
                std::optional<xt::xarray<bool>> full;
                if (c.mask != sweep::mask_kind::none)
                {
                    const auto sorted = [&]
                    {
                        auto s = listed;
                        std::sort(s.begin(), s.end());
                        return s;
                    }();
                    m = sweep::make_mask(c.mask, c.shape, sorted, ++seed);
                    full = sweep::expand_mask(*m, c.shape, sorted);
                }
                auto in = make_inputs<E, double>(c.shape, listed, ++seed, full ? &*full : nullptr);
                if (make_x)
                {
                    in.x = make_x(c.shape, ++seed);
                }
                if constexpr (!E::integer_labels)
                {
                    if (make_y)
                    {
                        in.y = make_y(c.shape, ++seed);
                    }
                }
                check_against_fd<E>(o, in.x, in.y, c.axes, m ? &*m : nullptr, ++seed);
            }
        }
    }  // inline namespace XLOSS_ABI_NAMESPACE
}

#endif
