// A fixed battery of loss and gradient calls, compiled twice into one test
// program: once on the SIMD backend and once with XLOSS_NO_SIMD (the scalar
// fallback). xloss's backend inline namespace (config.hpp) keeps the two
// builds apart; test_simd_vs_scalar.cpp compares what they return.
//
// The battery comes in battery_parts parts (backend_record.hpp), each a
// subset of the catalogue; the including file defines XLOSS_NO_SIMD first
// for the scalar build, and then the battery functions of its build from
// battery_part<Part>().
//
// The battery covers each catalogue entry of the build (generic.hpp; every
// option case) on every kernel shape: one row per slice of
// every length 0..3*16+1 (16 = the widest float batch, AVX-512), slices down
// a column (NCHW-like, reduced axis in the middle), several reduced axes,
// short rows (the transposed path), all_axes and no_axes; without a mask,
// with a full-shape mask whose false elements hold NaN, and with a mask of
// the batch shape; values and every differentiable gradient. Inputs: the
// entry's generators with the domain's special points added (make_hard).
#ifndef XLOSS_TESTS_BACKEND_BATTERY_HPP
#define XLOSS_TESTS_BACKEND_BATTERY_HPP

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <typeinfo>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "backend_record.hpp"
#include "generic.hpp"

namespace
{
    using shape_t = std::vector<std::size_t>;

    // Which axes a case reduces: `axes` (in the given order), or every axis,
    // or none.
    struct reduction
    {
        enum kind_t
        {
            some,
            all,
            none
        } kind = some;
        std::vector<int> axes;
    };

    struct layout
    {
        shape_t shape;
        reduction red;
    };

    std::vector<layout> layouts()
    {
        std::vector<layout> out;
        for (std::size_t n = 0; n <= 3 * 16 + 1; ++n)
        {
            out.push_back({{3, n}, {reduction::some, {-1}}});  // rows
        }
        for (std::size_t n : {1u, 5u, 17u, 40u})
        {
            out.push_back({{n, 19}, {reduction::some, {0}}});  // a column per slice
        }
        out.push_back({{2, 7, 5, 6}, {reduction::some, {1}}});  // NCHW, axis = 1
        out.push_back({{40, 5}, {reduction::some, {-1}}});      // short rows
        out.push_back({{70, 3}, {reduction::some, {1}}});
        out.push_back({{4, 3, 9}, {reduction::some, {2, 0}}});  // two axes, not adjacent
        out.push_back({{4, 3, 9}, {reduction::some, {1, 2}}});
        out.push_back({{3, 11}, {reduction::all, {}}});
        out.push_back({{3, 11}, {reduction::none, {}}});
        return out;
    }

    bool is_reduced(const reduction& r, std::size_t axis, std::size_t rank)
    {
        if (r.kind != reduction::some)
        {
            return r.kind == reduction::all;
        }
        for (int a : r.axes)
        {
            if (static_cast<std::size_t>(a < 0 ? a + static_cast<int>(rank) : a) == axis)
            {
                return true;
            }
        }
        return false;
    }

    // Calls f with the axis argument in the form a user would write it.
    template <class F>
    void with_axis(const reduction& r, F&& f)
    {
        switch (r.kind)
        {
            case reduction::all:
                f(xloss::all_axes);
                break;
            case reduction::none:
                f(xloss::no_axes);
                break;
            default:
                if (r.axes.size() == 1)
                {
                    f(r.axes[0]);
                }
                else
                {
                    f(r.axes);
                }
        }
    }

    // The number of elements in one slice.
    std::size_t slice_size(const layout& l)
    {
        std::size_t n = 1;
        for (std::size_t i = 0; i < l.shape.size(); ++i)
        {
            n *= is_reduced(l.red, i, l.shape.size()) ? l.shape[i] : 1;
        }
        return n;
    }

    std::string describe(const char* type, const char* loss, const layout& l, const char* mask)
    {
        std::ostringstream s;
        s << type << " " << loss << " shape [";
        for (std::size_t i = 0; i < l.shape.size(); ++i)
        {
            s << (i ? "," : "") << l.shape[i];
        }
        s << "] axis";
        if (l.red.kind == reduction::all)
        {
            s << " all";
        }
        else if (l.red.kind == reduction::none)
        {
            s << " none";
        }
        else
        {
            for (int a : l.red.axes)
            {
                s << " " << a;
            }
        }
        s << " mask " << mask;
        return s.str();
    }

    template <class A>
    std::vector<double> flat(const A& a)
    {
        std::vector<double> v;
        for (auto x : a)
        {
            v.push_back(static_cast<double>(x));
        }
        return v;
    }

    template <class T>
    class battery
    {
    public:
        explicit battery(std::vector<battery_record>& out, const char* type)
            : out_(out)
            , type_(type)
        {
        }

        // The entries of part Part, in catalogue order. An entry's inputs
        // come from seeds counted over the whole catalogue, so they are the
        // same whichever part runs it.
        template <std::size_t Part>
        void run()
        {
            std::mt19937 rng(20261125);
            unsigned seed = 1;
            for (const layout& l : layouts())
            {
                const auto masks = make_masks(rng, l);
                for (std::size_t m = 0; m < masks.size(); ++m)
                {
                    run_entries<Part>(l, masks, m, seed, std::make_index_sequence<catalogue_size>{});
                }
            }
        }

    private:
        static constexpr std::size_t catalogue_size = std::tuple_size_v<xloss_test::selected_entries>;

        template <std::size_t Part, std::size_t... I>
        void run_entries(const layout& l,
                         const std::vector<xt::xarray<bool>>& masks,
                         std::size_t m,
                         unsigned& seed,
                         std::index_sequence<I...>)
        {
            (run_if_in_part<Part, I>(l, masks, m, seed += 10), ...);
        }

        // Entry I is in part I % battery_parts; the others are not compiled.
        template <std::size_t Part, std::size_t I>
        void run_if_in_part(const layout& l,
                            const std::vector<xt::xarray<bool>>& masks,
                            std::size_t m,
                            unsigned seed)
        {
            if constexpr (I % battery_parts == Part)
            {
                run_entry(std::tuple_element_t<I, xloss_test::selected_entries>{}, l, masks, m, seed);
            }
        }

        // One entry on one layout and mask: its smooth inputs with the
        // domain's special points added (make_hard), NaN where a full mask is
        // false; every option case.
        template <class E>
        void run_entry(E,
                       const layout& l,
                       const std::vector<xt::xarray<bool>>& masks,
                       std::size_t m,
                       unsigned seed)
        {
            const std::size_t n = slice_size(l);
            if (E::integer_labels && n == 0)
            {
                return;  // no class to point at
            }
            const char* mask_names[] = {"none", "full", "batch"};
            const xt::xarray<bool>* mask = m == 0 ? nullptr : &masks[m];
            std::vector<std::size_t> listed;
            for (std::size_t i = 0; i < l.shape.size(); ++i)
            {
                if (is_reduced(l.red, i, l.shape.size()))
                {
                    listed.push_back(i);
                }
            }
            if (l.red.kind == reduction::some)
            {
                listed.clear();
                for (int a : l.red.axes)
                {
                    listed.push_back(static_cast<std::size_t>(a < 0 ? a + int(l.shape.size()) : a));
                }
            }
            auto x = E::template make_x<T>(l.shape, seed);
            auto y = E::template make_y<T>(l.shape, listed, seed + 1);
            E::template make_hard<T>(x, y, n, seed + 2);
            if (m == 1)  // NaN where the full mask is false
            {
                spoil(x, masks[m]);
                if constexpr (!E::integer_labels)
                {
                    spoil(y, masks[m]);
                }
            }
            // A one-element slice of some losses has a gradient of rounding
            // only (catalogue.hpp): values only, there.
            const bool grads = !(E::one_element_grad_is_rounding && n == 1);
            std::size_t k = 0;
            for (const auto& o : E::option_cases())
            {
                const std::string what = describe(type_, E::name, l, mask_names[m]) + " options "
                                         + std::to_string(k++);
                record<E>(what, o, l, mask, x, y, grads);
            }
        }

        std::vector<xt::xarray<bool>> make_masks(std::mt19937& rng, const layout& l)
        {
            std::bernoulli_distribution keep(0.85);
            xt::xarray<bool> full = xt::zeros<bool>(l.shape);
            for (auto& v : full)
            {
                v = keep(rng);
            }
            shape_t batch_shape = l.shape;  // size 1 on the reduced axes: broadcasts
            for (std::size_t i = 0; i < batch_shape.size(); ++i)
            {
                if (is_reduced(l.red, i, l.shape.size()))
                {
                    batch_shape[i] = 1;
                }
            }
            xt::xarray<bool> batch = xt::zeros<bool>(batch_shape);
            for (auto& v : batch)
            {
                v = keep(rng);
            }
            return {xt::xarray<bool>(), full, batch};
        }

        static void spoil(xt::xarray<T>& a, const xt::xarray<bool>& mask)
        {
            for (std::size_t i = 0; i < a.size(); ++i)
            {
                if (!mask.flat(i))
                {
                    a.flat(i) = std::numeric_limits<T>::quiet_NaN();
                }
            }
        }

        template <class E, class X, class Y>
        void record(const std::string& what,
                    const typename E::options& o,
                    const layout& l,
                    const xt::xarray<bool>* mask,
                    const X& x,
                    const Y& y,
                    bool grads)
        {
            with_axis(l.red,
                      [&](const auto& axis)
                      {
                          const auto calls = [&](const auto&... rest)
                          {
                              add(what + " value", E::call(o, x, y, axis, rest...));
                              if (!grads)
                              {
                                  return;
                              }
                              const auto vg = [&]
                              {
                                  if constexpr (E::differentiable[1])
                                  {
                                      return E::template value_and_grad<0, 1>(o, x, y, axis, rest...);
                                  }
                                  else
                                  {
                                      return E::template value_and_grad<0>(o, x, y, axis, rest...);
                                  }
                              }();
                              add(what + " fused value", vg.value);
                              if constexpr (E::differentiable[1])
                              {
                                  add(what + " grad 0", vg.grad.first);
                                  add(what + " grad 1", vg.grad.second);
                              }
                              else
                              {
                                  add(what + " grad 0", vg.grad);
                              }
                          };
                          mask ? calls(*mask) : calls();
                      });
        }

        template <class A>
        void add(const std::string& what, const A& a)
        {
            out_.push_back({what, flat(a), sizeof(T) == sizeof(float), typeid(xloss::cosine_options).name()});
        }

        std::vector<battery_record>& out_;
        const char* type_;
    };

    // One part of the battery, float then double. In the anonymous namespace
    // like everything here: the scalar and SIMD builds of it are different
    // functions (a template of one name in both would be merged by the linker).
    template <std::size_t Part>
    std::vector<battery_record> battery_part()
    {
        std::vector<battery_record> out;
        battery<float>(out, "float").run<Part>();
        battery<double>(out, "double").run<Part>();
        return out;
    }
}

#endif
