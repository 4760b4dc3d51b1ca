// A fixed battery of loss and gradient calls, compiled twice into one test
// program: once on the SIMD backend and once with XLOSS_NO_SIMD (the scalar
// fallback). xloss's backend inline namespace (config.hpp) keeps the two
// builds apart; test_simd_vs_scalar.cpp compares what they return.
//
// The including file defines BATTERY_ENTRY (the name of the function to
// define) and, for the scalar build, XLOSS_NO_SIMD before including this.
//
// The battery covers each loss on every kernel shape: one row per slice of
// every length 0..3*16+1 (16 = the widest float batch, AVX-512), slices down
// a column (NCHW-like, reduced axis in the middle), several reduced axes,
// short rows (the transposed path), all_axes and no_axes; without a mask,
// with a full-shape mask whose false elements hold NaN, and with a mask of
// the batch shape; values and every differentiable gradient.
#ifndef XLOSS_TESTS_BACKEND_BATTERY_HPP
#define XLOSS_TESTS_BACKEND_BATTERY_HPP

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <xloss/xloss.hpp>
#include <xtensor/xarray.hpp>

#include "backend_record.hpp"

namespace
{
    using shape_t = std::vector<std::size_t>;

    // Which axes a case reduces: `axes` (in the given order), or every axis,
    // or none.
    struct reduction
    {
        enum kind_t { some, all, none } kind = some;
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
            out.push_back({{3, n}, {reduction::some, {-1}}});    // rows
        }
        for (std::size_t n : {1u, 5u, 17u, 40u})
        {
            out.push_back({{n, 19}, {reduction::some, {0}}});    // a column per slice
        }
        out.push_back({{2, 7, 5, 6}, {reduction::some, {1}}});     // NCHW, axis = 1
        out.push_back({{40, 5}, {reduction::some, {-1}}});        // short rows
        out.push_back({{70, 3}, {reduction::some, {1}}});
        out.push_back({{4, 3, 9}, {reduction::some, {2, 0}}});    // two axes, not adjacent
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
        case reduction::all: f(xloss::all_axes); break;
        case reduction::none: f(xloss::no_axes); break;
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

    template <class T>
    xt::xarray<T> random(std::mt19937& rng, const shape_t& shape, double lo, double hi)
    {
        std::uniform_real_distribution<double> dist(lo, hi);
        xt::xarray<T> a = xt::zeros<T>(shape);
        for (auto& v : a)
        {
            v = static_cast<T>(dist(rng));
        }
        return a;
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
        explicit battery(std::vector<battery_record>& out, const char* type) : out_(out), type_(type) {}

        void run()
        {
            std::mt19937 rng(20261125);
            for (const layout& l : layouts())
            {
                const auto masks = make_masks(rng, l);
                const char* mask_names[] = {"none", "full", "batch"};
                for (std::size_t m = 0; m < masks.size(); ++m)
                {
                    const xt::xarray<bool>* mask = m == 0 ? nullptr : &masks[m];
                    const bool poison = m == 1;  // NaN where the full mask is false
                    auto name = [&](const char* loss) { return describe(type_, loss, l, mask_names[m]); };

                    // Cross entropy: some -inf logits with zero labels (where a
                    // slice has other elements: a slice of only -inf logits has
                    // no softmax, and gives NaN like PyTorch and Optax).
                    {
                        xt::xarray<T> x = random<T>(rng, l.shape, -6, 6);
                        xt::xarray<T> y = random<T>(rng, l.shape, 0, 1);
                        for (std::size_t i = 0; i < x.size() && slice_size(l) >= 4; i += 7)
                        {
                            x.flat(i) = -std::numeric_limits<T>::infinity();
                            y.flat(i) = 0;
                        }
                        if (poison) { spoil(x, masks[m]); spoil(y, masks[m]); }
                        record_pair(name("softmax_cross_entropy"), xloss::softmax_cross_entropy, l, mask, x, y, true);
                    }
                    // Integer labels: one reduced axis only.
                    if (l.red.kind == reduction::some && l.red.axes.size() == 1)
                    {
                        const std::size_t rank = l.shape.size();
                        const std::size_t axis = static_cast<std::size_t>(l.red.axes[0] < 0 ? l.red.axes[0] + int(rank) : l.red.axes[0]);
                        shape_t label_shape = l.shape;
                        label_shape[axis] = 1;
                        const std::size_t classes = l.shape[axis];
                        xt::xarray<int> labels = xt::zeros<int>(label_shape);
                        std::uniform_int_distribution<int> pick(0, classes ? int(classes) - 1 : 0);
                        for (auto& v : labels)
                        {
                            v = pick(rng);
                        }
                        shape_t batch_shape;
                        for (std::size_t i = 0; i < rank; ++i)
                        {
                            if (i != axis) batch_shape.push_back(l.shape[i]);
                        }
                        labels.reshape(batch_shape);
                        xt::xarray<T> x = random<T>(rng, l.shape, -8, 8);
                        if (poison) spoil(x, masks[m]);
                        if (classes > 0)
                        {
                            record_first(name("softmax_cross_entropy_with_integer_labels"),
                                         xloss::softmax_cross_entropy_with_integer_labels, l, mask, x, labels);
                        }
                    }
                    // KL: log-predictions and targets with some zeros.
                    {
                        xt::xarray<T> lp = xt::log(random<T>(rng, l.shape, 0.01, 1));
                        xt::xarray<T> t = random<T>(rng, l.shape, 0, 1);
                        for (std::size_t i = 0; i < t.size(); i += 5)
                        {
                            t.flat(i) = 0;
                        }
                        if (poison) { spoil(lp, masks[m]); spoil(t, masks[m]); }
                        record_pair(name("kl_divergence"), xloss::kl_divergence, l, mask, lp, t, true);
                        record_pair(name("convex_kl_divergence"), xloss::convex_kl_divergence, l, mask, lp, t, true);
                    }
                    // Cosine: one zero element in three, and epsilon both ways.
                    {
                        xt::xarray<T> a = random<T>(rng, l.shape, -2, 2);
                        xt::xarray<T> b = random<T>(rng, l.shape, -2, 2);
                        for (std::size_t i = 0; i < a.size(); i += 3)
                        {
                            a.flat(i) = 0;
                        }
                        if (poison) { spoil(a, masks[m]); spoil(b, masks[m]); }
                        // A one-element slice has cosine +-1 whatever a and b
                        // are: its gradient is 0 up to the rounding of two
                        // terms of size 1/|a|, which no tolerance relative to
                        // the result can compare. Values only, there.
                        const bool grads = slice_size(l) > 1;
                        record_pair(name("cosine_similarity"), xloss::cosine_similarity, l, mask, a, b, grads);
                        record_pair(name("cosine_distance eps"), xloss::cosine_distance, l, mask, a, b, grads,
                                    xloss::cosine_options{1e-3});
                    }
                    // Focal: logits up to +-40, soft labels, alpha and gamma variants.
                    {
                        xt::xarray<T> x = random<T>(rng, l.shape, -40, 40);
                        xt::xarray<T> y = random<T>(rng, l.shape, 0, 1);
                        if (poison) { spoil(x, masks[m]); spoil(y, masks[m]); }
                        record_pair(name("sigmoid_focal_loss"), xloss::sigmoid_focal_loss, l, mask, x, y, true);
                        record_pair(name("sigmoid_focal_loss alpha gamma 1.5"), xloss::sigmoid_focal_loss, l, mask, x, y, true,
                                    xloss::focal_options{0.25, 1.5});
                    }
                }
            }
        }

    private:
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

        template <class Loss, class X, class Y, class... Opts>
        void record_pair(const std::string& what, const Loss& loss, const layout& l, const xt::xarray<bool>* mask,
                         const X& x, const Y& y, bool grads, const Opts&... opts)
        {
            with_axis(l.red, [&](const auto& axis) {
                if (!grads)
                {
                    add(what + " value", mask ? loss(x, y, axis, *mask, opts...) : loss(x, y, axis, opts...));
                }
                else if (mask)
                {
                    add(what + " value", loss(x, y, axis, *mask, opts...));
                    const auto vg = xloss::value_and_grad<0, 1>(loss, x, y, axis, *mask, opts...);
                    add(what + " fused value", vg.value);
                    add(what + " grad 0", vg.grad.first);
                    add(what + " grad 1", vg.grad.second);
                }
                else
                {
                    add(what + " value", loss(x, y, axis, opts...));
                    const auto vg = xloss::value_and_grad<0, 1>(loss, x, y, axis, opts...);
                    add(what + " fused value", vg.value);
                    add(what + " grad 0", vg.grad.first);
                    add(what + " grad 1", vg.grad.second);
                }
            });
        }

        template <class Loss, class X, class Y>
        void record_first(const std::string& what, const Loss& loss, const layout& l, const xt::xarray<bool>* mask,
                          const X& x, const Y& y)
        {
            with_axis(l.red, [&](const auto& axis) {
                if (mask)
                {
                    add(what + " value", loss(x, y, axis, *mask));
                    const auto vg = xloss::value_and_grad(loss, x, y, axis, *mask);
                    add(what + " fused value", vg.value);
                    add(what + " grad 0", vg.grad);
                }
                else
                {
                    add(what + " value", loss(x, y, axis));
                    const auto vg = xloss::value_and_grad(loss, x, y, axis);
                    add(what + " fused value", vg.value);
                    add(what + " grad 0", vg.grad);
                }
            });
        }

        template <class A>
        void add(const std::string& what, const A& a)
        {
            out_.push_back({what, flat(a), sizeof(T) == sizeof(float)});
        }

        std::vector<battery_record>& out_;
        const char* type_;
    };
}

std::vector<battery_record> BATTERY_ENTRY()
{
    std::vector<battery_record> out;
    battery<float>(out, "float").run();
    battery<double>(out, "double").run();
    return out;
}

#endif
