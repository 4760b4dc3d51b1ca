// grad / vjp / value_and_grad for the seven losses: central finite
// differences in double for every differentiable input and every axis form;
// the API's identities (grad == vjp with ones == value_and_grad.grad, argnums
// pairs, upstream forms and their errors); masked gradients (0 off the mask,
// the subset problem's gradient on it, NaN never reaching them); shapes when
// an input broadcasts; -inf logits; integer labels == one-hot; input kinds.
//
// Compile time: most checks go through `erased_loss<T>`, one fixed signature
// per value type behind std::function, so that each check body is compiled
// once per T rather than once per loss (the kernels are the same either way).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xindex_view.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"
#include "sweep.hpp"

namespace
{
    using namespace xloss_test;
    using shape_t = std::vector<std::size_t>;

    constexpr double k_inf = std::numeric_limits<double>::infinity();
    constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();

    // ---------------------------------------------------------------------
    // Losses behind one signature per value type

    // Every axis form: an int, a list, no_axes, all_axes.
    using axes_arg = std::variant<int, std::vector<int>, xloss::no_axes_t, xloss::all_axes_t>;

    template <class T>
    struct erased_loss
    {
        using arr = xt::xarray<T>;
        using pair = std::pair<arr, arr>;
        std::string name;
        bool integer_labels = false;  // y holds class indices (cast to int); no gradient w.r.t. y
        // loss(x, y, axes[, mask])
        std::function<arr(const arr&, const arr&, const axes_arg&, const xt::xarray<bool>*)> value;
        // grad<0, 1>(loss, x, y, axes[, mask]) (grad<0> and an empty .second for integer labels)
        std::function<pair(const arr&, const arr&, const axes_arg&, const xt::xarray<bool>*)> grad;
        // vjp<0, 1>(loss, g, x, y, axes[, mask])
        std::function<pair(const arr&, const arr&, const arr&, const axes_arg&, const xt::xarray<bool>*)> vjp;
    };

    // f(axis[, mask]) for the axis form held by `a`.
    template <class F>
    auto with_axes(const axes_arg& a, const xt::xarray<bool>* mask, F&& f)
    {
        return std::visit([&](const auto& ax) { return mask ? f(ax, *mask) : f(ax); }, a);
    }

    template <class T, class Loss, class... Opts>
    erased_loss<T> erase(const Loss& loss, const char* name, const Opts&... opts)
    {
        using arr = xt::xarray<T>;
        using pair = std::pair<arr, arr>;
        constexpr bool integer = Loss::rule::second == xloss::detail::second_input::slice_label;
        erased_loss<T> e;
        e.name = name;
        e.integer_labels = integer;
        e.value = [=](const arr& x, const arr& y, const axes_arg& a, const xt::xarray<bool>* m) -> arr
        {
            if constexpr (integer)
            {
                const xt::xarray<int> labels = xt::cast<int>(y);
                return with_axes(a, m, [&](const auto&... rest) { return loss(x, labels, rest..., opts...); });
            }
            else
            {
                return with_axes(a, m, [&](const auto&... rest) { return loss(x, y, rest..., opts...); });
            }
        };
        e.grad = [=](const arr& x, const arr& y, const axes_arg& a, const xt::xarray<bool>* m) -> pair
        {
            if constexpr (integer)
            {
                const xt::xarray<int> labels = xt::cast<int>(y);
                return {with_axes(a, m, [&](const auto&... rest)
                                  { return xloss::grad(loss, x, labels, rest..., opts...); }),
                        arr()};
            }
            else
            {
                return with_axes(a, m, [&](const auto&... rest)
                                 { return xloss::grad<0, 1>(loss, x, y, rest..., opts...); });
            }
        };
        e.vjp = [=](const arr& g, const arr& x, const arr& y, const axes_arg& a, const xt::xarray<bool>* m) -> pair
        {
            if constexpr (integer)
            {
                const xt::xarray<int> labels = xt::cast<int>(y);
                return {with_axes(a, m, [&](const auto&... rest)
                                  { return xloss::vjp(loss, g, x, labels, rest..., opts...); }),
                        arr()};
            }
            else
            {
                return with_axes(a, m, [&](const auto&... rest)
                                 { return xloss::vjp<0, 1>(loss, g, x, y, rest..., opts...); });
            }
        };
        return e;
    }

    // The six losses with two floating inputs.
    template <class T>
    const std::vector<erased_loss<T>>& floating_losses()
    {
        static const std::vector<erased_loss<T>> losses = {
            erase<T>(xloss::softmax_cross_entropy, "softmax_cross_entropy"),
            erase<T>(xloss::kl_divergence, "kl_divergence"),
            erase<T>(xloss::convex_kl_divergence, "convex_kl_divergence"),
            // with their default options spelled out: the same instantiation as
            // the option variants of the finite-difference test
            erase<T>(xloss::cosine_similarity, "cosine_similarity", xloss::cosine_options{}),
            erase<T>(xloss::cosine_distance, "cosine_distance", xloss::cosine_options{}),
            erase<T>(xloss::sigmoid_focal_loss, "sigmoid_focal_loss", xloss::focal_options{}),
        };
        return losses;
    }

    template <class T>
    const erased_loss<T>& integer_cross_entropy()
    {
        static const erased_loss<T> e = erase<T>(xloss::softmax_cross_entropy_with_integer_labels,
                                                 "softmax_cross_entropy_with_integer_labels");
        return e;
    }

    // ---------------------------------------------------------------------
    // Random inputs

    template <class T>
    xt::xarray<T> uniform(const shape_t& shape, double lo, double hi, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::uniform_real_distribution<double> dist(lo, hi);
        xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
        for (auto& v : a)
        {
            v = static_cast<T>(dist(gen));
        }
        return a;
    }

    // Inputs of a shape suited to each loss (reduced over the last axis for
    // probabilities): logits / labels, log-predictions / targets in (0, 1),
    // vectors, logits / soft labels.
    template <class T>
    std::pair<xt::xarray<T>, xt::xarray<T>> inputs_for(const std::string& name, const shape_t& shape, unsigned seed)
    {
        if (name == "softmax_cross_entropy")
        {
            return {random_normal<T>(shape, 1.5, seed), random_probabilities<T>(shape, -1, seed + 1)};
        }
        if (name == "kl_divergence" || name == "convex_kl_divergence")
        {
            return {xt::xarray<T>(random_normal<T>(shape, 0.5, seed) - T(1.5)), uniform<T>(shape, 0.05, 0.6, seed + 1)};
        }
        if (name == "sigmoid_focal_loss")
        {
            return {random_normal<T>(shape, 2.0, seed), uniform<T>(shape, 0.0, 1.0, seed + 1)};
        }
        return {random_normal<T>(shape, 1.0, seed), random_normal<T>(shape, 1.0, seed + 1)};  // cosine
    }

    // Integer labels of the batch shape, each in [0, n).
    xt::xarray<int> random_labels(const shape_t& batch, std::size_t n, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::uniform_int_distribution<int> dist(0, static_cast<int>(n) - 1);
        xt::xarray<int> l = xt::xarray<int>::from_shape(batch);
        for (auto& v : l)
        {
            v = dist(gen);
        }
        return l;
    }

    // ---------------------------------------------------------------------
    // Axis cases and masks

    enum class mask_kind
    {
        none,
        full,       // input rank, full shape
        batch,      // batch rank: whole slices
        per_class   // input rank, 1 on the batch axes ([1, C]-style)
    };

    struct axis_case
    {
        const char* name;
        shape_t shape;
        axes_arg axes;
        mask_kind mask = mask_kind::none;
    };

    // The reduced axes, normalised, in the order listed.
    std::vector<std::size_t> listed_axes(const axis_case& c)
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

    using xloss_test::sweep::batch_shape;
    using xloss_test::sweep::is_reduced;

    std::size_t slice_length(const axis_case& c)
    {
        std::size_t n = 1;
        for (auto a : listed_axes(c))
        {
            n *= c.shape[a];
        }
        return n;
    }

    xt::xarray<bool> make_mask(mask_kind k, const shape_t& shape, const std::vector<std::size_t>& reduced,
                               unsigned seed)
    {
        shape_t s = shape;
        if (k == mask_kind::batch)
        {
            s = batch_shape(shape, reduced);
        }
        else if (k == mask_kind::per_class)
        {
            for (std::size_t a = 0; a < s.size(); ++a)
            {
                s[a] = is_reduced(reduced, a) ? s[a] : 1;
            }
        }
        return random_mask(s, 0.7, seed);
    }

    // The one-hot tensor of integer labels: with several axes a label is the
    // row-major flat index into the slice taken in the listed axis order.
    template <class T>
    xt::xarray<T> one_hot(const shape_t& shape, const std::vector<std::size_t>& listed, const xt::xarray<int>& labels)
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
                if (!is_reduced(listed, a))
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

    // ---------------------------------------------------------------------
    // Finite differences (double)

    // sum(g * v) in long double (g absent: sum(v)).
    ld weighted_total(const xt::xarray<double>& v, const xt::xarray<double>* g)
    {
        ld s = 0;
        for (std::size_t i = 0; i < v.size(); ++i)
        {
            s += (g ? ld(g->flat(i)) : ld(1)) * ld(v.flat(i));
        }
        return s;
    }

    // Central differences of total(x, y) w.r.t. input `which`, step 1e-6
    // relative; the difference of the perturbed values is the step, so the
    // rounding of x +- h does not enter.
    using total_fn = std::function<ld(const xt::xarray<double>&, const xt::xarray<double>&)>;

    xt::xarray<double> central_difference(xt::xarray<double> x, xt::xarray<double> y, int which, const total_fn& total)
    {
        xt::xarray<double>& v = which == 0 ? x : y;
        xt::xarray<double> out = xt::xarray<double>::from_shape(shape_t(v.shape().begin(), v.shape().end()));
        for (std::size_t i = 0; i < v.size(); ++i)
        {
            const double orig = v.flat(i);
            const double h = 1e-6 * std::max(1.0, std::abs(orig));
            const double up = orig + h;
            const double down = orig - h;
            v.flat(i) = up;
            const ld fp = total(x, y);
            v.flat(i) = down;
            const ld fm = total(x, y);
            v.flat(i) = orig;
            out.flat(i) = static_cast<double>((fp - fm) / ld(up - down));
        }
        return out;
    }

    // |got - fd| <= 1e-6 (1 + |fd|), element by element, with a report.
    void check_fd(const xt::xarray<double>& got, const xt::xarray<double>& fd, const char* what)
    {
        REQUIRE(shape_t(got.shape().begin(), got.shape().end()) == shape_t(fd.shape().begin(), fd.shape().end()));
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
    // shape) against central differences, w.r.t. x, and y unless the labels
    // are integers.
    void check_against_fd(const erased_loss<double>& loss, const xt::xarray<double>& x, const xt::xarray<double>& y,
                          const axis_case& c, const xt::xarray<bool>* mask, unsigned seed)
    {
        INFO(loss.name << ": " << c.name << (mask ? ", masked" : ""));
        const auto v0 = loss.value(x, y, c.axes, mask);
        const xt::xarray<double> g = random_normal<double>(shape_t(v0.shape().begin(), v0.shape().end()), 1.0, seed);
        const auto sum_total = [&](const xt::xarray<double>& xx, const xt::xarray<double>& yy)
        { return weighted_total(loss.value(xx, yy, c.axes, mask), nullptr); };
        const auto g_total = [&](const xt::xarray<double>& xx, const xt::xarray<double>& yy)
        { return weighted_total(loss.value(xx, yy, c.axes, mask), &g); };
        const auto d = loss.grad(x, y, c.axes, mask);
        const auto v = loss.vjp(g, x, y, c.axes, mask);
        REQUIRE(d.first.shape() == x.shape());
        check_fd(d.first, central_difference(x, y, 0, sum_total), "grad<0>");
        check_fd(v.first, central_difference(x, y, 0, g_total), "vjp<0>");
        if (!loss.integer_labels)
        {
            REQUIRE(d.second.shape() == y.shape());
            check_fd(d.second, central_difference(x, y, 1, sum_total), "grad<1>");
            check_fd(v.second, central_difference(x, y, 1, g_total), "vjp<1>");
        }
    }

    // Every axis form, with the mask kinds that go with them.
    const std::vector<axis_case>& fd_cases()
    {
        static const std::vector<axis_case> cases = {
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

    using generator = std::function<xt::xarray<double>(const shape_t&, unsigned)>;

    generator normal(double sd, double shift)
    {
        return [=](const shape_t& s, unsigned seed)
        { return xt::xarray<double>(random_normal<double>(s, sd, seed) + shift); };
    }

    generator in_range(double lo, double hi)
    {
        return [=](const shape_t& s, unsigned seed) { return uniform<double>(s, lo, hi, seed); };
    }

    void fd_sweep(const erased_loss<double>& loss, const generator& make_x, const generator& make_y, unsigned seed)
    {
        for (const auto& c : fd_cases())
        {
            const auto listed = listed_axes(c);
            const xt::xarray<double> x = make_x(c.shape, ++seed);
            const xt::xarray<double> y = make_y(c.shape, ++seed);
            std::optional<xt::xarray<bool>> m;
            if (c.mask != mask_kind::none)
            {
                m = make_mask(c.mask, c.shape, listed, ++seed);
            }
            check_against_fd(loss, x, y, c, m ? &*m : nullptr, ++seed);
        }
    }

    template <class T>
    void check_close_t(const xt::xarray<T>& a, const xt::xarray<T>& b, double factor = 1.0)
    {
        check_close<T>(a, b, factor);
    }
}

// -------------------------------------------------------------------------
// Finite differences (double)

TEST_CASE("gradients match central finite differences (double)", "[grad][fd]")
{
    SECTION("softmax_cross_entropy, logits and labels")
    {
        fd_sweep(erase<double>(xloss::softmax_cross_entropy, "softmax_cross_entropy"), normal(1.5, 0),
                 in_range(0.0, 1.0), 100);
    }
    SECTION("kl_divergence, log-predictions and targets")
    {
        fd_sweep(erase<double>(xloss::kl_divergence, "kl_divergence"), normal(0.5, -1.5), in_range(0.05, 1.0), 200);
    }
    SECTION("convex_kl_divergence and generalized_kl_divergence, both inputs")
    {
        fd_sweep(erase<double>(xloss::convex_kl_divergence, "convex_kl_divergence"), normal(0.5, -1.5),
                 in_range(0.05, 1.0), 300);
        fd_sweep(erase<double>(xloss::generalized_kl_divergence, "generalized_kl_divergence"), normal(0.5, -1.0),
                 in_range(0.05, 1.0), 350);
    }
    SECTION("cosine_similarity, both inputs, epsilon 0 and an epsilon that clips some norms")
    {
        fd_sweep(floating_losses<double>().at(3), normal(1.0, 0), normal(1.0, 0.3), 400);
        // sd 0.2 with epsilon 0.3: the squared norms of short slices are clipped, of long ones not
        fd_sweep(erase<double>(xloss::cosine_similarity, "cosine_similarity", xloss::cosine_options{0.3}),
                 normal(0.2, 0), normal(0.2, 0.1), 450);
    }
    SECTION("cosine_distance, both inputs")
    {
        fd_sweep(floating_losses<double>().at(4), normal(1.0, 0), normal(1.0, -0.3), 500);
        fd_sweep(erase<double>(xloss::cosine_distance, "cosine_distance", xloss::cosine_options{0.3}),
                 normal(0.2, 0), normal(0.2, 0.1), 550);
    }
    SECTION("sigmoid_focal_loss, logits and labels, several options")
    {
        const auto focal = [](xloss::focal_options o)
        { return erase<double>(xloss::sigmoid_focal_loss, "sigmoid_focal_loss", o); };
        fd_sweep(focal({}), normal(2.0, 0), in_range(0.0, 1.0), 600);
        fd_sweep(focal({0.25, 2.0}), normal(2.0, 0), in_range(0.0, 1.0), 650);
        // gamma < 1: (1 - p_t)^gamma is smooth where 1 - p_t stays away from 0
        fd_sweep(focal({std::nullopt, 0.5}), normal(2.0, 0), in_range(0.05, 0.95), 700);
        fd_sweep(focal({0.75, 0.0}), normal(2.0, 0), in_range(0.0, 1.0), 750);
        // large logits with soft labels
        fd_sweep(focal({std::nullopt, 1.5}), normal(15.0, 0), in_range(0.02, 0.98), 800);
    }
    SECTION("softmax_cross_entropy_with_integer_labels, logits")
    {
        const auto& loss = integer_cross_entropy<double>();
        unsigned seed = 900;
        for (const auto& c : fd_cases())
        {
            const auto listed = listed_axes(c);
            const xt::xarray<double> x = random_normal<double>(c.shape, 1.5, ++seed);
            const xt::xarray<int> labels = random_labels(batch_shape(c.shape, listed), slice_length(c), ++seed);
            std::optional<xt::xarray<bool>> m;
            if (c.mask == mask_kind::full)
            {
                // keep each label's element selected (a masked label has loss +inf)
                m = xt::xarray<bool>(make_mask(c.mask, c.shape, listed, ++seed)
                                     || xt::cast<bool>(one_hot<int>(c.shape, listed, labels)));
            }
            else if (c.mask == mask_kind::batch)
            {
                m = make_mask(c.mask, c.shape, listed, ++seed);
            }
            check_against_fd(loss, x, xt::cast<double>(labels), c, m ? &*m : nullptr, ++seed);
        }
    }
}

TEMPLATE_TEST_CASE("gradients at reduced lengths around the SIMD width", "[grad][lengths]", float, double)
{
    // double: against central differences; float: against the (finite-
    // difference-checked) double gradients of the same float-rounded inputs.
    using T = TestType;
    constexpr std::size_t lengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64};
    std::vector<std::pair<const erased_loss<T>*, const erased_loss<double>*>> losses;
    for (std::size_t i = 0; i < floating_losses<T>().size(); ++i)
    {
        losses.emplace_back(&floating_losses<T>()[i], &floating_losses<double>()[i]);
    }
    losses.emplace_back(&integer_cross_entropy<T>(), &integer_cross_entropy<double>());
    unsigned seed = 1000;
    for (const auto& [loss, loss_d] : losses)
    {
        for (std::size_t n : lengths)
        {
            // rows: the reduced axis innermost; columns: an outer axis with 11
            // slices side by side (a full group of 8 doubles and a partial one)
            const axis_case rows{"rows", {2, n}, -1, mask_kind::full};
            const axis_case cols{"columns", {n, 11}, 0, mask_kind::full};
            for (const auto* c : {&rows, &cols})
            {
                INFO(loss->name << ", " << c->name << ", n = " << n);
                const auto listed = listed_axes(*c);
                xt::xarray<T> x, y;
                if (loss->integer_labels)
                {
                    x = random_normal<T>(c->shape, 1.5, ++seed);
                    y = xt::cast<T>(random_labels(batch_shape(c->shape, listed), n, ++seed));
                }
                else
                {
                    std::tie(x, y) = inputs_for<T>(loss->name, c->shape, ++seed);
                }
                xt::xarray<bool> m = random_mask(c->shape, 0.7, ++seed);
                if (loss->integer_labels)
                {
                    m = m || xt::cast<bool>(one_hot<int>(c->shape, listed, xt::xarray<int>(xt::cast<int>(y))));
                }
                const xt::xarray<double> xd = xt::cast<double>(x);
                const xt::xarray<double> yd = xt::cast<double>(y);
                if constexpr (std::is_same_v<T, double>)
                {
                    check_against_fd(*loss_d, xd, yd, *c, &m, ++seed);
                    check_against_fd(*loss_d, xd, yd, *c, nullptr, ++seed);
                }
                else
                {
                    const auto d = loss->grad(x, y, c->axes, &m);
                    const auto dd = loss_d->grad(xd, yd, c->axes, &m);
                    check_close<T>(d.first, dd.first, 10.0);
                    if (!loss->integer_labels)
                    {
                        check_close<T>(d.second, dd.second, 10.0);
                    }
                }
            }
        }
    }
}

// -------------------------------------------------------------------------
// The API's identities

TEMPLATE_TEST_CASE("grad == vjp with ones == value_and_grad.grad; value_and_grad.value == the loss", "[grad][api]",
                   float, double)
{
    using T = TestType;
    const shape_t shape{4, 3, 7};
    const xt::xarray<bool> m = random_mask(shape, 0.8, 11);
    const xt::xarray<T> ones = xt::ones<T>(shape_t{4, 3});
    unsigned seed = 20;

    const auto check_identities = [&](const auto& loss, const char* name)
    {
        INFO(name);
        const auto [x, y] = inputs_for<T>(name, shape, seed += 2);
        const xt::xarray<T> d = xloss::grad(loss, x, y, -1, m);
        static_assert(std::is_same_v<std::decay_t<decltype(xloss::grad(loss, x, y))>, xt::xarray<T>>,
                      "a gradient is an xt::xarray of the value type");
        REQUIRE(d.shape() == x.shape());
        const auto vg = xloss::value_and_grad(loss, x, y, -1, m);
        check_equal(vg.grad, d);
        check_equal(vg.value, loss(x, y, -1, m));
        check_equal(xloss::vjp(loss, ones, x, y, -1, m), d);
        check_equal(xloss::vjp(loss, T(1), x, y, -1, m), d);
        check_equal(xloss::grad<0>(loss, x, y, -1, m), d);
        // a scalar upstream: 0.5 * grad
        check_close_t<T>(xloss::vjp(loss, T(0.5), x, y, -1, m), xt::xarray<T>(T(0.5) * d));

        // both argnums: a std::pair, equal to the single ones, in the order asked
        const auto both = xloss::grad<0, 1>(loss, x, y, -1, m);
        static_assert(std::is_same_v<std::decay_t<decltype(both)>, std::pair<xt::xarray<T>, xt::xarray<T>>>,
                      "grad<0, 1> gives a std::pair");
        const xt::xarray<T> d1 = xloss::grad<1>(loss, x, y, -1, m);
        REQUIRE(d1.shape() == y.shape());
        check_equal(both.first, d);
        check_equal(both.second, d1);
        const auto swapped = xloss::grad<1, 0>(loss, x, y, -1, m);
        check_equal(swapped.first, d1);
        check_equal(swapped.second, d);
        const auto [value, grads] = xloss::value_and_grad<0, 1>(loss, x, y, -1, m);
        check_equal(value, vg.value);
        check_equal(grads.first, d);
        check_equal(grads.second, d1);
        check_equal(xloss::value_and_grad<1>(loss, x, y, -1, m).grad, d1);
        const auto vj = xloss::vjp<0, 1>(loss, ones, x, y, -1, m);
        check_equal(vj.first, d);
        check_equal(vj.second, d1);
        check_close_t<T>(xloss::vjp<1>(loss, T(0.25), x, y, -1, m), xt::xarray<T>(T(0.25) * d1));
        // without a mask, and the default axis
        check_equal(xloss::value_and_grad(loss, x, y).value, loss(x, y));
        check_equal(xloss::grad(loss, x, y), xloss::grad(loss, x, y, -1));
    };

    SECTION("softmax_cross_entropy")
    {
        check_identities(xloss::softmax_cross_entropy, "softmax_cross_entropy");
    }
    SECTION("kl_divergence")
    {
        check_identities(xloss::kl_divergence, "kl_divergence");
    }
    SECTION("convex_kl_divergence")
    {
        check_identities(xloss::convex_kl_divergence, "convex_kl_divergence");
    }
    SECTION("cosine_similarity")
    {
        check_identities(xloss::cosine_similarity, "cosine_similarity");
    }
    SECTION("cosine_distance")
    {
        check_identities(xloss::cosine_distance, "cosine_distance");
    }
    SECTION("sigmoid_focal_loss")
    {
        check_identities(xloss::sigmoid_focal_loss, "sigmoid_focal_loss");
    }
    SECTION("softmax_cross_entropy_with_integer_labels")
    {
        const xt::xarray<T> x = random_normal<T>(shape, 1.5, 30);
        const xt::xarray<int> labels = random_labels(shape_t{4, 3}, 7, 31);
        const xt::xarray<bool> mm = m || xt::cast<bool>(one_hot<int>(shape, {2}, labels));
        const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
        const xt::xarray<T> d = xloss::grad(loss, x, labels, -1, mm);
        REQUIRE(d.shape() == x.shape());
        const auto vg = xloss::value_and_grad(loss, x, labels, -1, mm);
        check_equal(vg.grad, d);
        check_equal(vg.value, loss(x, labels, -1, mm));
        check_equal(xloss::vjp(loss, ones, x, labels, -1, mm), d);
        check_equal(xloss::vjp(loss, T(1), x, labels, -1, mm), d);
        check_equal(xloss::grad<0>(loss, x, labels, -1, mm), d);
        check_equal(xloss::value_and_grad<0>(loss, x, labels, -1, mm).grad, d);
        check_close_t<T>(xloss::vjp(loss, T(0.5), x, labels, -1, mm), xt::xarray<T>(T(0.5) * d));
    }
}

TEMPLATE_TEST_CASE("vjp: batch-shaped and broadcastable upstream gradients; wrong shapes throw", "[grad][vjp]", float,
                   double)
{
    using T = TestType;
    const std::size_t B = 4;
    const shape_t shape{B, 3, 7};  // result [B, 3]
    const xt::xarray<bool> m = random_mask(shape, 0.8, 41);
    const xt::xarray<T> g = random_normal<T>({B, 3}, 1.0, 42);
    const xt::xarray<T> g_col = random_normal<T>({B, 1}, 1.0, 43);
    const xt::xarray<T> g_col_full = xt::broadcast(g_col, shape_t{B, 3});
    const xt::xarray<T> g_row = random_normal<T>({3}, 1.0, 44);
    const xt::xarray<T> g_row_full = xt::broadcast(g_row, shape_t{B, 3});
    const xt::xarray<T> ones = xt::ones<T>(shape_t{B, 3});
    const axes_arg last = -1;

    const auto check_upstreams = [&](const erased_loss<T>& loss, const xt::xarray<T>& x, const xt::xarray<T>& y)
    {
        INFO(loss.name);
        const auto d = loss.grad(x, y, last, &m);
        const auto scaled_by = [](const xt::xarray<T>& u, const xt::xarray<T>& grad)
        { return xt::xarray<T>(xt::view(u, xt::all(), xt::all(), xt::newaxis()) * grad); };
        // ones: the gradient of the sum
        check_equal(loss.vjp(ones, x, y, last, &m).first, d.first);
        // 1 / B (a 0-d upstream): the gradient of the mean over the batch
        const xt::xarray<T> inv_b(T(1) / T(B));
        const auto mean = loss.vjp(inv_b, x, y, last, &m);
        check_close_t<T>(mean.first, xt::xarray<T>(d.first / T(B)));
        // batch-shaped: each slice's gradient scaled by its g
        const auto gv = loss.vjp(g, x, y, last, &m);
        check_close_t<T>(gv.first, scaled_by(g, d.first));
        // broadcastable: [B, 1] and [3] against the [B, 3] result
        check_equal(loss.vjp(g_col, x, y, last, &m).first, loss.vjp(g_col_full, x, y, last, &m).first);
        check_equal(loss.vjp(g_row, x, y, last, &m).first, loss.vjp(g_row_full, x, y, last, &m).first);
        if (!loss.integer_labels)
        {
            check_close_t<T>(mean.second, xt::xarray<T>(d.second / T(B)));
            check_close_t<T>(gv.second, scaled_by(g, d.second));
            check_equal(loss.vjp(g_col, x, y, last, &m).second, loss.vjp(g_col_full, x, y, last, &m).second);
        }
        // wrong shapes: std::invalid_argument naming the function
        const std::string fn = "xloss::" + loss.name;
        const xt::xarray<T> wrong = xt::ones<T>(shape_t{B, 2});
        const xt::xarray<T> too_long = xt::ones<T>(shape_t{B + 1});
        const xt::xarray<T> too_deep = xt::ones<T>(shape_t{1, B, 3});
        CHECK_THROWS_AS(loss.vjp(wrong, x, y, last, &m), std::invalid_argument);
        CHECK_THROWS_WITH(loss.vjp(wrong, x, y, last, &m), Catch::Contains(fn));
        CHECK_THROWS_WITH(loss.vjp(too_long, x, y, last, nullptr), Catch::Contains(fn));
        CHECK_THROWS_WITH(loss.vjp(too_deep, x, y, last, &m), Catch::Contains(fn));
        // the column kernel (axis 0, result [3, 7]) and all_axes (a 0-d result)
        const xt::xarray<T> g_cols = random_normal<T>({3, 7}, 1.0, 45);
        const auto dc = loss.grad(x, y, 0, nullptr);
        const auto vc = loss.vjp(g_cols, x, y, 0, nullptr);
        check_close_t<T>(vc.first, xt::xarray<T>(xt::view(g_cols, xt::newaxis(), xt::all(), xt::all()) * dc.first));
        const auto da = loss.grad(x, y, xloss::all_axes, nullptr);
        check_close_t<T>(loss.vjp(xt::xarray<T>(T(3)), x, y, xloss::all_axes, nullptr).first,
                         xt::xarray<T>(T(3) * da.first));
        CHECK_THROWS_WITH(loss.vjp(g, x, y, xloss::all_axes, nullptr), Catch::Contains(fn));
    };

    SECTION("the six losses with two floating inputs")
    {
        unsigned seed = 50;
        for (const auto& loss : floating_losses<T>())
        {
            const auto [x, y] = inputs_for<T>(loss.name, shape, seed += 2);
            check_upstreams(loss, x, y);
        }
    }
    SECTION("softmax_cross_entropy_with_integer_labels")
    {
        const xt::xarray<T> x = random_normal<T>(shape, 1.5, 60);
        // labels [B, 3] for axis -1; the axis 0 and all_axes calls need labels of their batch shapes
        const xt::xarray<T> labels = xt::cast<T>(random_labels(shape_t{B, 3}, 7, 61));
        const auto& loss = integer_cross_entropy<T>();
        const auto d = loss.grad(x, labels, last, &m);
        check_equal(loss.vjp(ones, x, labels, last, &m).first, d.first);
        check_close_t<T>(loss.vjp(g, x, labels, last, &m).first,
                         xt::xarray<T>(xt::view(g, xt::all(), xt::all(), xt::newaxis()) * d.first));
        check_equal(loss.vjp(g_col, x, labels, last, &m).first, loss.vjp(g_col_full, x, labels, last, &m).first);
        const xt::xarray<T> wrong = xt::ones<T>(shape_t{B, 2});
        CHECK_THROWS_AS(loss.vjp(wrong, x, labels, last, &m), std::invalid_argument);
        CHECK_THROWS_WITH(loss.vjp(wrong, x, labels, last, &m),
                          Catch::Contains("xloss::softmax_cross_entropy_with_integer_labels"));
    }
}

// -------------------------------------------------------------------------
// Masks

TEMPLATE_TEST_CASE("masked gradients: 0 off the mask, the subset's gradient on it, no NaN", "[grad][where]", float,
                   double)
{
    using T = TestType;
    const shape_t shape{5, 11};
    xt::xarray<bool> m = random_mask(shape, 0.6, 81);
    xt::view(m, 3, xt::all()) = false;  // an example with nothing selected
    const axes_arg last = -1;
    const axes_arg first = 0;

    // NaN / +-inf on the masked-out elements.
    const auto poison = [&](xt::xarray<T> a, unsigned salt)
    {
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            if (!m.flat(i))
            {
                const std::size_t r = (i + salt) % 3;
                a.flat(i) = r == 0 ? T(k_nan) : (r == 1 ? T(-k_inf) : T(k_inf));
            }
        }
        return a;
    };

    SECTION("the six losses with two floating inputs")
    {
        unsigned seed = 90;
        for (const auto& loss : floating_losses<T>())
        {
            INFO(loss.name);
            const auto [x, y] = inputs_for<T>(loss.name, shape, seed += 2);
            const auto d = loss.grad(x, y, last, &m);
            for (std::size_t i = 0; i < shape[0]; ++i)
            {
                INFO("row " << i);
                const auto row_m = xt::view(m, i, xt::all());
                const xt::xarray<T> sx = xt::filter(xt::view(x, i, xt::all()), row_m);
                const xt::xarray<T> sy = xt::filter(xt::view(y, i, xt::all()), row_m);
                const auto sub = loss.grad(sx, sy, last, nullptr);
                std::size_t k = 0;
                for (std::size_t j = 0; j < shape[1]; ++j)
                {
                    if (m(i, j))
                    {
                        CHECK(close(d.first(i, j), sub.first(k), tolerance<T>::rel, tolerance<T>::abs));
                        CHECK(close(d.second(i, j), sub.second(k), tolerance<T>::rel, tolerance<T>::abs));
                        ++k;
                    }
                    else
                    {
                        CHECK(d.first(i, j) == T(0));
                        CHECK(d.second(i, j) == T(0));
                    }
                }
            }
            // NaN and infinities under the mask reach neither the value nor the gradients
            const xt::xarray<T> bx = poison(x, 0);
            const xt::xarray<T> by = poison(y, 1);
            const auto bad = loss.grad(bx, by, last, &m);
            check_equal(bad.first, d.first);
            check_equal(bad.second, d.second);
            check_equal(loss.value(bx, by, last, &m), loss.value(x, y, last, &m));
            // the same through the column kernel
            const xt::xarray<bool> mt = xt::transpose(m);
            const auto dc = loss.grad(xt::transpose(x), xt::transpose(y), first, &mt);
            const auto bc = loss.grad(xt::transpose(bx), xt::transpose(by), first, &mt);
            check_equal(bc.first, dc.first);
            check_equal(bc.second, dc.second);
            check_close_t<T>(xt::xarray<T>(xt::transpose(dc.first)), d.first);
            check_close_t<T>(xt::xarray<T>(xt::transpose(dc.second)), d.second);
            // a batch-rank mask: masked examples get 0 everywhere, even over NaN
            const xt::xarray<bool> keep = {true, false, true, true, false};
            xt::xarray<T> nan_rows = x;
            xt::view(nan_rows, 1, xt::all()) = T(k_nan);
            xt::view(nan_rows, 4, xt::all()) = T(k_nan);
            const auto db = loss.grad(nan_rows, y, last, &keep);
            const auto plain = loss.grad(x, y, last, nullptr);
            for (std::size_t i = 0; i < shape[0]; ++i)
            {
                for (std::size_t j = 0; j < shape[1]; ++j)
                {
                    CHECK(db.first(i, j) == (keep(i) ? plain.first(i, j) : T(0)));
                    CHECK(db.second(i, j) == (keep(i) ? plain.second(i, j) : T(0)));
                }
            }
            // an all-true mask gives the unmasked gradient, exactly
            const xt::xarray<bool> yes = xt::ones<bool>(shape);
            const auto all_true = loss.grad(x, y, last, &yes);
            check_equal(all_true.first, plain.first);
            check_equal(all_true.second, plain.second);
        }
    }
    SECTION("softmax_cross_entropy_with_integer_labels")
    {
        const auto& loss = integer_cross_entropy<T>();
        const xt::xarray<T> x = random_normal<T>(shape, 1.5, 95);
        // labels on selected elements (the all-masked row keeps label 0, which is not read)
        xt::xarray<T> labels = xt::zeros<T>(shape_t{shape[0]});
        for (std::size_t i = 0; i < shape[0]; ++i)
        {
            for (std::size_t j = shape[1]; j-- > 0;)
            {
                if (m(i, j))
                {
                    labels(i) = T(j);
                    break;
                }
            }
        }
        const auto d = loss.grad(x, labels, last, &m);
        for (std::size_t i = 0; i < shape[0]; ++i)
        {
            INFO("row " << i);
            const auto row_m = xt::view(m, i, xt::all());
            const xt::xarray<T> sx = xt::filter(xt::view(x, i, xt::all()), row_m);
            if (sx.size() == 0)
            {
                for (std::size_t j = 0; j < shape[1]; ++j)
                {
                    CHECK(d.first(i, j) == T(0));
                }
                continue;
            }
            T sub_label = 0;  // the label's position among the selected elements
            for (std::size_t j = 0; j < static_cast<std::size_t>(labels(i)); ++j)
            {
                sub_label += m(i, j) ? T(1) : T(0);
            }
            const auto sub = loss.grad(sx, xt::xarray<T>(sub_label), last, nullptr);
            std::size_t k = 0;
            for (std::size_t j = 0; j < shape[1]; ++j)
            {
                if (m(i, j))
                {
                    CHECK(close(d.first(i, j), sub.first(k++), tolerance<T>::rel, tolerance<T>::abs));
                }
                else
                {
                    CHECK(d.first(i, j) == T(0));
                }
            }
        }
        const xt::xarray<T> bx = poison(x, 2);
        check_equal(loss.grad(bx, labels, last, &m).first, d.first);
        check_equal(loss.value(bx, labels, last, &m), loss.value(x, labels, last, &m));
    }
}

// -------------------------------------------------------------------------
// Shapes when an input broadcasts

TEMPLATE_TEST_CASE("gradient shapes follow the inputs when one broadcasts", "[grad][broadcast]", float, double)
{
    using T = TestType;
    const std::size_t B = 6, C = 9;
    const shape_t shape{B, C};
    const xt::xarray<bool> m = random_mask(shape, 0.8, 101);
    const axes_arg last = -1;
    const axes_arg first = 0;
    unsigned seed = 110;
    for (const auto& loss : floating_losses<T>())
    {
        INFO(loss.name);
        const auto [x, y_full] = inputs_for<T>(loss.name, shape, seed += 2);
        {
            INFO("second input [1, C] against [B, C]: its gradient is [1, C], the sum over B");
            const xt::xarray<T> y1 = xt::view(y_full, xt::range(0, 1), xt::all());
            const xt::xarray<T> yb = xt::broadcast(y1, shape);
            const auto d = loss.grad(x, y1, last, &m);
            const auto db = loss.grad(x, yb, last, &m);
            REQUIRE(d.first.shape() == shape_t{B, C});
            REQUIRE(d.second.shape() == shape_t{1, C});
            check_equal(d.first, db.first);
            const xt::xarray<T> summed = xt::sum(db.second, {0}, xt::keep_dims | xt::evaluation_strategy::immediate);
            check_close_t<T>(d.second, summed, 4.0);
            const auto v = loss.vjp(xt::xarray<T>(T(2)), x, y1, last, &m);
            REQUIRE(v.second.shape() == shape_t{1, C});
            check_close_t<T>(v.second, xt::xarray<T>(T(2) * d.second));
        }
        {
            INFO("second input [C] against [B, C]");
            const xt::xarray<T> y1 = xt::view(y_full, 0, xt::all());
            const xt::xarray<T> yb = xt::broadcast(y1, shape);
            const auto d = loss.grad(x, y1, last, nullptr);
            REQUIRE(d.second.shape() == shape_t{C});
            const xt::xarray<T> summed = xt::sum(loss.grad(x, yb, last, nullptr).second, {0},
                                                 xt::evaluation_strategy::immediate);
            check_close_t<T>(d.second, summed, 4.0);
        }
        {
            INFO("first input [1, C] against [B, C], reduced over axis 0");
            const xt::xarray<T> x1 = xt::view(x, xt::range(0, 1), xt::all());
            const xt::xarray<T> xb = xt::broadcast(x1, shape);
            const auto d = loss.grad(x1, y_full, first, &m);
            const auto db = loss.grad(xb, y_full, first, &m);
            REQUIRE(d.first.shape() == shape_t{1, C});
            REQUIRE(d.second.shape() == shape_t{B, C});
            check_equal(d.second, db.second);
            const xt::xarray<T> summed = xt::sum(db.first, {0}, xt::keep_dims | xt::evaluation_strategy::immediate);
            check_close_t<T>(d.first, summed, 4.0);
        }
    }
}

// -------------------------------------------------------------------------
// -inf logits, zero targets

TEMPLATE_TEST_CASE("-inf logits with zero labels get gradient 0", "[grad][edges]", float, double)
{
    using T = TestType;
    const T minf = T(-k_inf);
    // 3 x 19: full SIMD batches and a tail; every 4th logit is -inf with label 0.
    const shape_t shape{3, 19};
    xt::xarray<T> x = random_normal<T>(shape, 1.5, 121);
    xt::xarray<T> y = random_probabilities<T>(shape, -1, 122);
    xt::xarray<bool> finite = xt::ones<bool>(shape);
    for (std::size_t i = 0; i < x.size(); i += 4)
    {
        x.flat(i) = minf;
        y.flat(i) = T(0);
        finite.flat(i) = false;
    }

    SECTION("softmax_cross_entropy: gradient 0 there, the gradient without those elements elsewhere")
    {
        const auto vg = xloss::value_and_grad(xloss::softmax_cross_entropy, x, y);
        // dropping the -inf elements is the same problem: softmax gives them 0
        const xt::xarray<T> zeroed = xt::where(finite, x, T(0));
        const auto without = xloss::value_and_grad(xloss::softmax_cross_entropy, zeroed, y, -1, finite);
        check_close_t<T>(vg.value, without.value);
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            CHECK(std::isfinite(vg.grad.flat(i)));
            if (!finite.flat(i))
            {
                CHECK(vg.grad.flat(i) == T(0));
            }
            else
            {
                CHECK(close(vg.grad.flat(i), without.grad.flat(i), tolerance<T>::rel, tolerance<T>::abs));
            }
        }
        // through the column kernel
        const xt::xarray<T> xt_ = xt::transpose(x);
        const xt::xarray<T> yt_ = xt::transpose(y);
        const xt::xarray<T> dc = xloss::grad(xloss::softmax_cross_entropy, xt_, yt_, 0);
        check_close_t<T>(xt::xarray<T>(xt::transpose(dc)), vg.grad);
        // Optax's SafeSoftmaxCrossEntropyTest row: logits {-inf, 0, 0}, labels {0, 0.5, 0.5}:
        // value log 2; gradient {0, 0.5 - 0.5, 0.5 - 0.5} = {0, 0, 0}
        const xt::xarray<T> lx = {minf, T(0), T(0)};
        const xt::xarray<T> ly = {T(0), T(0.5), T(0.5)};
        const auto opt = xloss::value_and_grad(xloss::softmax_cross_entropy, lx, ly);
        CHECK(opt.value() == Approx(0.693147).margin(1e-6));
        CHECK(opt.grad(0) == T(0));
        CHECK(opt.grad(1) == Approx(0.0).margin(1e-7));
        CHECK(opt.grad(2) == Approx(0.0).margin(1e-7));
    }
    SECTION("softmax_cross_entropy_with_integer_labels: labels on finite logits")
    {
        const xt::xarray<int> labels = {1, 2, 3};
        const xt::xarray<T> d = xloss::grad(xloss::softmax_cross_entropy_with_integer_labels, x, labels);
        const xt::xarray<T> oh = one_hot<T>(shape, {1}, labels);
        check_close_t<T>(d, xloss::grad(xloss::softmax_cross_entropy, x, oh));
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            CHECK(std::isfinite(d.flat(i)));
            if (!finite.flat(i))
            {
                CHECK(d.flat(i) == T(0));
            }
        }
    }
    SECTION("kl losses: -inf log-predictions on zero targets get gradient 0")
    {
        xt::xarray<T> t = y;
        const auto dk = xloss::grad(xloss::kl_divergence, x, t);
        const auto dc = xloss::grad(xloss::convex_kl_divergence, x, t);
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            CHECK(std::isfinite(dk.flat(i)));
            CHECK(std::isfinite(dc.flat(i)));
            if (!finite.flat(i))
            {
                CHECK(dk.flat(i) == T(0));
                CHECK(dc.flat(i) == T(0));
            }
            else
            {
                // d/dlp = -t, and exp(lp) - t for the convex loss
                CHECK(dk.flat(i) == -t.flat(i));
                CHECK(close(dc.flat(i), std::exp(double(x.flat(i))) - t.flat(i), 1e-5, 1e-6));
            }
        }
    }
}

// -------------------------------------------------------------------------
// Integer labels == one-hot

TEMPLATE_TEST_CASE("integer-label cross entropy: value and gradient equal one-hot softmax_cross_entropy",
                   "[grad][integer_labels]", float, double)
{
    using T = TestType;
    const std::vector<axis_case> cases = {
        {"last axis", {5, 17}, -1, mask_kind::none},
        {"last axis, full mask", {5, 17}, -1, mask_kind::full},
        {"axis 0 (columns)", {17, 5}, 0, mask_kind::full},
        {"NCHW axis 1, batch mask", {2, 5, 3, 4}, 1, mask_kind::batch},
        {"{0, 2}", {3, 4, 5}, std::vector<int>{0, 2}, mask_kind::full},
        {"{2, 0} (listed order)", {3, 4, 5}, std::vector<int>{2, 0}, mask_kind::none},
        {"{-1, -2}", {2, 3, 4}, std::vector<int>{-1, -2}, mask_kind::none},
        {"all_axes", {3, 4}, xloss::all_axes, mask_kind::full},
    };
    const auto& integer = integer_cross_entropy<T>();
    const auto& probability = floating_losses<T>().at(0);
    REQUIRE(probability.name == "softmax_cross_entropy");
    unsigned seed = 130;
    for (const auto& c : cases)
    {
        INFO(c.name);
        const auto listed = listed_axes(c);
        const xt::xarray<T> x = random_normal<T>(c.shape, 1.5, ++seed);
        const xt::xarray<int> labels = random_labels(batch_shape(c.shape, listed), slice_length(c), ++seed);
        const xt::xarray<T> oh = one_hot<T>(c.shape, listed, labels);
        std::optional<xt::xarray<bool>> m;
        if (c.mask == mask_kind::full)
        {
            m = xt::xarray<bool>(random_mask(c.shape, 0.6, ++seed) || xt::cast<bool>(oh));
        }
        else if (c.mask == mask_kind::batch)
        {
            m = random_mask(batch_shape(c.shape, listed), 0.6, ++seed);
        }
        const xt::xarray<bool>* mp = m ? &*m : nullptr;
        const xt::xarray<T> label_values = xt::cast<T>(labels);
        check_close_t<T>(integer.value(x, label_values, c.axes, mp), probability.value(x, oh, c.axes, mp));
        check_close_t<T>(integer.grad(x, label_values, c.axes, mp).first, probability.grad(x, oh, c.axes, mp).first);
    }
}

// -------------------------------------------------------------------------
// Axis forms and input kinds

TEMPLATE_TEST_CASE("gradients: every axis form spelling agrees", "[grad][axes]", float, double)
{
    using T = TestType;
    const shape_t shape{3, 4, 5};
    const auto [a, b] = inputs_for<T>("cosine_similarity", shape, 141);
    const xt::xarray<bool> m = random_mask(shape, 0.7, 142);
    const auto& loss = xloss::cosine_similarity;

    SECTION("int, negative int, {k}, std::vector, std::array")
    {
        const auto d = xloss::grad<0, 1>(loss, a, b, 1, m);
        const auto check_pair = [&](const auto& p)
        {
            check_equal(p.first, d.first);
            check_equal(p.second, d.second);
        };
        check_pair(xloss::grad<0, 1>(loss, a, b, -2, m));
        check_pair(xloss::grad<0, 1>(loss, a, b, {1}, m));
        check_pair(xloss::grad<0, 1>(loss, a, b, std::vector<int>{1}, m));
        check_pair(xloss::grad<0, 1>(loss, a, b, std::array<int, 1>{1}, m));
        check_pair(xloss::value_and_grad<0, 1>(loss, a, b, {1}, m).grad);
        check_pair(xloss::vjp<0, 1>(loss, T(1), a, b, {1}, m));
    }
    SECTION("braced {0, 2} through grad, vjp and value_and_grad; options after it")
    {
        const xloss::cosine_options o{0.5};
        const auto d = xloss::grad<0, 1>(loss, a, b, std::vector<int>{0, 2}, m, o);
        const auto g = xloss::grad<0, 1>(loss, a, b, {0, 2}, m, o);
        check_equal(g.first, d.first);
        check_equal(g.second, d.second);
        check_close_t<T>(xloss::grad(loss, a, b, {2, 0}, m, o), d.first);
        const auto v = xloss::vjp(loss, T(1), a, b, {0, 2}, m, o);
        check_equal(v, d.first);
        const auto vg = xloss::value_and_grad(loss, a, b, {0, 2}, m, o);
        check_equal(vg.grad, d.first);
        check_equal(vg.value, loss(a, b, {0, 2}, m, o));
        REQUIRE(vg.value.shape() == shape_t{4});
    }
    SECTION("moving the reduced axis last transposes the gradient")
    {
        for (std::size_t k = 0; k < 3; ++k)
        {
            INFO("axis " << k);
            std::vector<std::size_t> perm, inverse(3);
            for (std::size_t ax = 0; ax < 3; ++ax)
            {
                if (ax != k)
                {
                    perm.push_back(ax);
                }
            }
            perm.push_back(k);
            for (std::size_t ax = 0; ax < 3; ++ax)
            {
                inverse[perm[ax]] = ax;
            }
            const xt::xarray<T> al = xt::transpose(a, perm);
            const xt::xarray<T> bl = xt::transpose(b, perm);
            const xt::xarray<bool> ml = xt::transpose(m, perm);
            const auto d = xloss::grad<0, 1>(xloss::sigmoid_focal_loss, a, xt::xarray<T>(xt::abs(xt::tanh(b))),
                                             static_cast<int>(k), m);
            const auto dl = xloss::grad<0, 1>(xloss::sigmoid_focal_loss, al, xt::xarray<T>(xt::abs(xt::tanh(bl))), -1,
                                              ml);
            check_close_t<T>(xt::xarray<T>(xt::transpose(dl.first, inverse)), d.first);
            check_close_t<T>(xt::xarray<T>(xt::transpose(dl.second, inverse)), d.second);
        }
    }
    SECTION("no_axes: the elementwise derivative; all_axes: one slice")
    {
        // no_axes cosine of single elements is sign(a b): gradient 0 (where defined)
        const auto dn = xloss::grad<0, 1>(loss, a, b, xloss::no_axes, m);
        REQUIRE(dn.first.shape() == shape);
        // (up to the rounding of 1/|a| - 1/|a|: the two terms are each 1/|a|)
        for (std::size_t i = 0; i < dn.first.size(); ++i)
        {
            CHECK(std::abs(dn.first.flat(i)) <= 1e-5 / std::abs(a.flat(i)));
            CHECK(std::abs(dn.second.flat(i)) <= 1e-5 / std::abs(b.flat(i)));
        }
        // focal no_axes: each element its own slice, equal to the gradient of the sum over any axis
        const xt::xarray<T> l = xt::abs(xt::tanh(b));
        check_close_t<T>(xloss::grad(xloss::sigmoid_focal_loss, a, l, xloss::no_axes),
                         xloss::grad(xloss::sigmoid_focal_loss, a, l, 1));
        // all_axes: one slice over everything == the flattened 1-D problem
        const xt::xarray<T> fa = xt::flatten(a);
        const xt::xarray<T> fb = xt::flatten(b);
        const xt::xarray<T> da = xloss::grad(loss, a, b, xloss::all_axes);
        xt::xarray<T> df = xloss::grad(loss, fa, fb);
        df.reshape(shape);
        check_close_t<T>(da, df);
    }
}

TEMPLATE_TEST_CASE("gradients of every input kind equal those of copies, with the input's shape", "[grad][inputs]",
                   float, double)
{
    using T = TestType;
    const shape_t shape{5, 19};
    const auto [a, b] = inputs_for<T>("cosine_similarity", shape, 151);
    const xt::xarray<bool> m = random_mask(shape, 0.7, 152);
    const auto& loss = xloss::cosine_distance;
    const auto rows = xloss::grad<0, 1>(loss, a, b, -1, m);
    const auto cols = xloss::grad<0, 1>(loss, a, b, 0, m);
    const auto check_pair = [](const auto& got, const auto& expected)
    {
        static_assert(std::is_same_v<std::decay_t<decltype(got.first)>, xt::xarray<T>>, "xt::xarray of T");
        check_close_t<T>(got.first, expected.first);
        check_close_t<T>(got.second, expected.second);
    };

    SECTION("column-major containers")
    {
        const xt::xarray<T, xt::layout_type::column_major> ac = a;
        const xt::xarray<T, xt::layout_type::column_major> bc = b;
        check_pair(xloss::grad<0, 1>(loss, ac, bc, -1, m), rows);
        check_pair(xloss::grad<0, 1>(loss, ac, bc, 0, m), cols);
        // integer-label cross entropy on column-major logits
        const xt::xarray<int> labels = random_labels(shape_t{5}, 19, 153);
        check_close_t<T>(xloss::grad(xloss::softmax_cross_entropy_with_integer_labels, ac, labels),
                         xloss::grad(xloss::softmax_cross_entropy_with_integer_labels, a, labels));
    }
    SECTION("xt::view into a larger array")
    {
        xt::xarray<T> big_a = random_normal<T>({7, 25}, 1.0, 154);
        xt::xarray<T> big_b = random_normal<T>({7, 25}, 1.0, 155);
        xt::view(big_a, xt::range(1, 6), xt::range(3, 22)) = a;
        xt::view(big_b, xt::range(1, 6), xt::range(3, 22)) = b;
        const auto va = xt::view(big_a, xt::range(1, 6), xt::range(3, 22));
        const auto vb = xt::view(big_b, xt::range(1, 6), xt::range(3, 22));
        check_pair(xloss::grad<0, 1>(loss, va, vb, -1, m), rows);
        check_pair(xloss::grad<0, 1>(loss, va, vb, 0, m), cols);
        // the softmax cross entropy on a view of logits
        const xt::xarray<T> p = random_probabilities<T>(shape, -1, 156);
        check_close_t<T>(xloss::grad(xloss::softmax_cross_entropy, va, p, -1, m),
                         xloss::grad(xloss::softmax_cross_entropy, a, p, -1, m));
    }
    SECTION("xt::strided_view with steps")
    {
        xt::xarray<T> big_a = random_normal<T>({10, 57}, 1.0, 157);
        xt::xarray<T> big_b = random_normal<T>({10, 57}, 1.0, 158);
        xt::strided_view(big_a, {xt::range(0, 10, 2), xt::range(1, 57, 3)}) = a;
        xt::strided_view(big_b, {xt::range(0, 10, 2), xt::range(1, 57, 3)}) = b;
        const auto sa = xt::strided_view(big_a, {xt::range(0, 10, 2), xt::range(1, 57, 3)});
        const auto sb = xt::strided_view(big_b, {xt::range(0, 10, 2), xt::range(1, 57, 3)});
        const auto got = xloss::grad<0, 1>(loss, sa, sb, -1, m);
        REQUIRE(got.first.shape() == shape);
        check_pair(got, rows);
        check_pair(xloss::grad<0, 1>(loss, sa, sb, 0, m), cols);
    }
    SECTION("xt::adapt over raw pointers")
    {
        std::vector<T> ba(a.begin(), a.end());
        std::vector<T> bb(b.begin(), b.end());
        const auto aa = xt::adapt(ba.data(), ba.size(), xt::no_ownership(), shape);
        const auto ab = xt::adapt(bb.data(), bb.size(), xt::no_ownership(), shape);
        const auto got = xloss::grad<0, 1>(loss, aa, ab, -1, m);
        check_equal(got.first, rows.first);
        check_equal(got.second, rows.second);
        check_pair(xloss::grad<0, 1>(loss, aa, ab, 0, m), cols);
    }
    SECTION("lazy expressions")
    {
        const xt::xarray<T> half = a / T(2);  // 2 * half == a exactly
        const auto got = xloss::grad<0, 1>(loss, T(2) * half, b, -1, m);
        check_pair(got, rows);
        // the chain rule through the lazy expression is the caller's: the
        // gradient is w.r.t. the expression's value, with its shape
        REQUIRE(got.first.shape() == shape);
    }
}

// -------------------------------------------------------------------------
// Cosine at the edges of the range

TEMPLATE_TEST_CASE("cosine gradients when the squared norms underflow or overflow", "[grad][cosine][edges]", float,
                   double)
{
    using T = TestType;
    // cos(s a, b) = cos(a, b), so d/d(s a) = (d/da) / s. float: s = 1e-30
    // (squared norms 1e-60: 0 in float) and 1e30 (inf); double: 1e-200, 1e200.
    const double tiny = std::is_same_v<T, float> ? 1e-30 : 1e-200;
    const double huge = std::is_same_v<T, float> ? 1e30 : 1e200;
    const auto [a, b] = inputs_for<T>("cosine_similarity", {3, 21}, 161);
    const auto d = xloss::grad<0, 1>(xloss::cosine_similarity, a, b);
    for (double s : {tiny, huge})
    {
        INFO("scale " << s);
        const xt::xarray<T> sa = xt::cast<T>(xt::xarray<double>(xt::cast<double>(a) * s));
        const auto ds = xloss::grad<0, 1>(xloss::cosine_similarity, sa, b);
        // compare d/d(s a) * s with d/da, in double
        const xt::xarray<double> rescaled = xt::cast<double>(ds.first) * s;
        std::size_t bad = 0;
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            bad += close(rescaled.flat(i), d.first.flat(i), 1e-4, 1e-6) ? 0 : 1;
        }
        INFO("d/d(s a) * s differs from d/da in " << bad << " of " << a.size() << " elements; first: "
                                                    << rescaled.flat(0) << " vs " << d.first.flat(0));
        CHECK(bad == 0);
        // d/db does not depend on the scale of a
        check_close_t<T>(ds.second, d.second, 10.0);
    }
}
