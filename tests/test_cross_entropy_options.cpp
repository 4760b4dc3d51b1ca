// cross_entropy_options against PyTorch: F.cross_entropy with label_smoothing,
// ignore_index, weight, integer and probability targets, reduction none / sum / mean
// (xloss's loss, xloss::sum, xloss::mean), plus z * logsumexp^2, values and
// gradients from torch.autograd in float64 (tests/reference/
// generate_ce_options.py). Where every label is ignored torch's mean is NaN
// (0 / 0); xloss::mean gives 0 and gradient 0, as SPEC.md says. Then the
// properties torch cannot show: ignore_index equals the batch-rank mask of
// the same slices, masked or not; class weights of any broadcast shape equal
// the same weights in full, on every kernel shape; a mask over whole classes
// equals the loss on the remaining classes and their weights; and the errors.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

namespace
{
    using namespace xloss_test;

    struct torch_case
    {
        const char* name;
        bool integer_labels;
        double label_smoothing;
        double z_loss;
        std::optional<std::int64_t> ignore_index;
        std::string reduction;
        std::vector<double> weight, logits, labels, value, grad;  // weight: [C], empty when none
    };

    const std::vector<torch_case> torch_cases = {
#include "reference/ce_options_torch.inc"
    };

    constexpr std::size_t B = 5, C = 4;

    template <class T>
    xt::xarray<T> as_array(const std::vector<double>& v, std::vector<std::size_t> shape)
    {
        xt::xarray<double> a = xt::adapt(v, shape);
        return xt::cast<T>(a);
    }

    // value_and_grad w.r.t. the logits of the case's loss and reduction.
    template <class T, class Loss, class Labels>
    auto run(const Loss& loss, const torch_case& c, const Labels& labels)
    {
        xloss::cross_entropy_options o;
        o.label_smoothing = c.label_smoothing;
        o.z_loss = c.z_loss;
        o.ignore_index = c.ignore_index;
        if (!c.weight.empty())
        {
            o.class_weights = as_array<double>(c.weight, {C});
        }
        const xt::xarray<T> x = as_array<T>(c.logits, {B, C});
        if (c.reduction == "sum")
        {
            return xloss::value_and_grad(xloss::sum(loss), x, labels, -1, o);
        }
        if (c.reduction == "mean")
        {
            return xloss::value_and_grad(xloss::mean(loss), x, labels, -1, o);
        }
        return xloss::value_and_grad(loss, x, labels, -1, o);
    }

    template <class T>
    void check_case(const torch_case& c)
    {
        INFO(c.name << ", eps " << c.label_smoothing << ", z " << c.z_loss << ", " << c.reduction
                    << (c.weight.empty() ? "" : ", weighted"));
        const double rel = std::is_same_v<T, float> ? 1e-5 : 1e-12;
        const double abs = std::is_same_v<T, float> ? 1e-6 : 1e-14;
        auto compare = [&](const auto& vg)
        {
            const xt::xarray<double> value = xt::cast<double>(vg.value);
            REQUIRE(value.size() == c.value.size());
            for (std::size_t i = 0; i < value.size(); ++i)
            {
                CHECK(close(value.flat(i), c.value[i], rel, abs));
            }
            const xt::xarray<double> grad = xt::cast<double>(vg.grad);
            for (std::size_t i = 0; i < grad.size(); ++i)
            {
                CHECK(close(grad.flat(i), c.grad[i], rel, abs));
            }
        };
        if (c.integer_labels)
        {
            xt::xarray<int> labels = xt::cast<int>(as_array<double>(c.labels, {B}));
            compare(run<T>(xloss::softmax_cross_entropy_with_integer_labels, c, labels));
        }
        else
        {
            compare(run<T>(xloss::softmax_cross_entropy, c, as_array<T>(c.labels, {B, C})));
        }
    }
}

TEST_CASE("cross_entropy_options: PyTorch's cross_entropy with label_smoothing, ignore_index and weight, plus z-loss",
          "[cross_entropy][options][reference]")
{
    REQUIRE(torch_cases.size() == 135);
    for (const auto& c : torch_cases)
    {
        check_case<double>(c);
        check_case<float>(c);
    }
}

TEST_CASE("cross_entropy_options: every label ignored gives 0 and gradient 0, not NaN",
          "[cross_entropy][options]")
{
    const xt::xarray<double> x = {{1.0, 2.0, 3.0}, {0.5, -1.0, 2.0}};
    const xt::xarray<int> labels = {-100, -100};
    xloss::cross_entropy_options o;
    o.ignore_index = -100;
    o.label_smoothing = 0.1;
    const auto vg = xloss::value_and_grad(xloss::mean(xloss::softmax_cross_entropy_with_integer_labels), x,
                                          labels, -1, o);
    CHECK(vg.value() == 0.0);
    CHECK(xt::all(xt::equal(vg.grad, 0.0)));
}

TEST_CASE("cross_entropy_options: ignore_index equals the batch-rank mask of the same slices",
          "[cross_entropy][options]")
{
    const xt::xarray<double> x = {{{1.0, 2.0, 3.0, -1.0}, {0.5, -1.0, 2.0, 0.0}, {3.0, 3.0, -2.0, 1.0}},
                                  {{0.0, 0.25, -3.0, 2.0}, {1.5, 1.5, 1.5, 1.5}, {-0.5, 4.0, 1.0, 0.0}}};
    const xt::xarray<int> labels = {{2, 7, 0}, {3, 1, 7}};  // 7: ignored (and out of range)
    const xt::xarray<int> kept_labels = {{2, 0, 0}, {3, 1, 0}};
    const xt::xarray<bool> rows = {{true, false, true}, {true, true, false}};
    const xt::xarray<bool> elements = {{{true, true, true, false}}, {{true, false, true, true}}};
    for (const double eps : {0.0, 0.2})
    {
        xloss::cross_entropy_options ignoring, plain;
        ignoring.ignore_index = 7;
        ignoring.label_smoothing = plain.label_smoothing = eps;
        ignoring.z_loss = plain.z_loss = 0.01;
        const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
        check_equal(loss(x, labels, -1, ignoring), loss(x, kept_labels, -1, rows, plain));
        const auto a = xloss::value_and_grad(xloss::mean(loss), x, labels, -1, ignoring);
        const auto b = xloss::value_and_grad(xloss::mean(loss), x, kept_labels, -1, rows, plain);
        check_equal(a.value, b.value);
        check_equal(a.grad, b.grad);
        // with an element mask too: the ignored slices leave as the masked rows do
        const xt::xarray<bool> both = elements && xt::view(rows, xt::all(), xt::all(), xt::newaxis());
        const auto c = xloss::value_and_grad(xloss::mean(loss), x, labels, -1, elements, ignoring);
        const auto d = xloss::value_and_grad(xloss::mean(loss), x, kept_labels, -1, both, plain);
        check_equal(c.value, d.value);
        check_equal(c.grad, d.grad);
    }
}

TEST_CASE("cross_entropy_options: an unsigned label is never a negative ignore_index",
          "[cross_entropy][options]")
{
    const xt::xarray<double> x = {{1.0, 2.0, 3.0}};
    const xt::xarray<std::uint64_t> labels = {std::numeric_limits<std::uint64_t>::max()};
    xloss::cross_entropy_options o;
    o.ignore_index = -1;
    CHECK_THROWS_WITH(xloss::softmax_cross_entropy_with_integer_labels(x, labels, -1, o),
                      Catch::Contains("label 18446744073709551615 is out of range"));
}

TEST_CASE("cross_entropy_options: the errors name the function and the option", "[cross_entropy][options][errors]")
{
    const xt::xarray<double> x = {{1.0, 2.0, 3.0}};
    const xt::xarray<double> y = {{0.0, 0.0, 1.0}};
    xloss::cross_entropy_options o;
    o.ignore_index = -100;
    CHECK_THROWS_MATCHES(xloss::softmax_cross_entropy(x, y, -1, o), std::invalid_argument,
                         Catch::Message("xloss::softmax_cross_entropy: option ignore_index = -100 needs integer "
                                        "labels (use a batch-rank where mask with probability labels)"));
}

namespace
{
    // A loss's value and d/dlogits under options, for comparing two calls.
    template <class Loss, class X, class Y, class... A>
    auto value_and_grad_of(const Loss& loss, const X& x, const Y& y, const A&... a)
    {
        return xloss::value_and_grad(loss, x, y, a...);
    }

    template <class R>
    void check_same(const R& a, const R& b)
    {
        check_close<double>(a.value, b.value);
        check_close<double>(a.grad, b.grad);
    }
}

TEST_CASE("cross_entropy_options: class weights of any broadcast shape equal the same weights in full",
          "[cross_entropy][options][weights]")
{
    // [C] weights are read in place, by class; full-shape ones element by
    // element. Both, on rows (innermost axis, long and short: the tiled
    // transpose), on NCHW (axis 1, tiled) and on planes too long to tile.
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    const auto& pce = xloss::softmax_cross_entropy;
    struct layout_case
    {
        std::vector<std::size_t> shape;
        int axis;
    };
    for (const layout_case& lc : {layout_case{{9, 37}, -1}, layout_case{{40, 5}, -1}, layout_case{{2, 3, 4, 5}, 1},
                                  layout_case{{2, 3000, 9}, 1}})
    {
        const std::size_t a = lc.axis < 0 ? lc.shape.size() - 1 : static_cast<std::size_t>(lc.axis);
        const std::size_t n = lc.shape[a];
        INFO("shape " << lc.shape.size() << "-d, " << n << " classes on axis " << a);
        const xt::xarray<double> x = random_normal<double>(lc.shape, 1.5, 7);
        std::vector<std::size_t> class_shape(lc.shape.size() - a, 1);
        class_shape[0] = n;
        const xt::xarray<double> w = xt::eval(random_uniform<double>(class_shape, 0.1, 2.0, 8));
        const xt::xarray<double> w_full = xt::eval(xt::broadcast(w, lc.shape));
        std::vector<std::size_t> batch = lc.shape;
        batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(a));
        const xt::xarray<int> labels = random_labels(batch, n, 9);
        const xt::xarray<double> probs = random_probabilities<double>(lc.shape, lc.axis, 10);
        xloss::cross_entropy_options by_class, full;
        by_class.label_smoothing = full.label_smoothing = 0.1;
        by_class.z_loss = full.z_loss = 0.01;
        by_class.class_weights = w;
        full.class_weights = w_full;
        check_same(value_and_grad_of(ce, x, labels, lc.axis, by_class), value_and_grad_of(ce, x, labels, lc.axis, full));
        check_same(value_and_grad_of(xloss::mean(ce), x, labels, lc.axis, by_class),
                   value_and_grad_of(xloss::mean(ce), x, labels, lc.axis, full));
        check_same(value_and_grad_of(pce, x, probs, lc.axis, by_class), value_and_grad_of(pce, x, probs, lc.axis, full));
        // weights of ones are no weights
        xloss::cross_entropy_options ones = by_class, none = by_class;
        ones.class_weights = xt::xarray<double>(xt::ones<double>(class_shape));
        none.class_weights.reset();
        check_same(value_and_grad_of(ce, x, labels, lc.axis, ones), value_and_grad_of(ce, x, labels, lc.axis, none));
        check_same(value_and_grad_of(pce, x, probs, lc.axis, ones), value_and_grad_of(pce, x, probs, lc.axis, none));
    }
}

TEST_CASE("cross_entropy_options: a mask over whole classes equals the loss on the other classes and their weights",
          "[cross_entropy][options][weights][where]")
{
    const xt::xarray<double> x = random_normal<double>({6, 5}, 1.5, 11);
    const xt::xarray<double> w = {0.5, 2.0, 1.25, 0.75, 3.0};
    const xt::xarray<int> labels = {0, 4, 2, 2, 1, 4};  // class 2 is masked out: +inf there, unless smoothing is 1
    const xt::xarray<bool> keep = {true, true, false, true, true};
    const xt::xarray<bool> mask = xt::broadcast(keep, std::vector<std::size_t>{6, 5});
    const xt::xarray<double> x_kept = xt::view(x, xt::all(), xt::keep(0, 1, 3, 4));
    const xt::xarray<double> w_kept = {0.5, 2.0, 0.75, 3.0};
    const xt::xarray<int> labels_kept = {0, 3, 0, 0, 1, 3};  // the rows with class 2 are compared apart
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    for (const double eps : {0.0, 0.3, 1.0})
    {
        INFO("label_smoothing " << eps);
        xloss::cross_entropy_options o, o_kept;
        o.label_smoothing = o_kept.label_smoothing = eps;
        o.z_loss = o_kept.z_loss = 0.02;
        o.class_weights = w;
        o_kept.class_weights = w_kept;
        const auto full = xloss::value_and_grad(ce, x, labels, -1, mask, o);
        const auto kept = xloss::value_and_grad(ce, x_kept, labels_kept, -1, o_kept);
        for (const std::size_t r : {0, 1, 4, 5})
        {
            CHECK(close(full.value(r), kept.value(r), 1e-13, 1e-15));
            for (std::size_t k = 0, j = 0; k < 5; ++k)
            {
                if (keep(k))
                {
                    CHECK(close(full.grad(r, k), kept.grad(r, j++), 1e-13, 1e-15));
                }
                else
                {
                    CHECK(full.grad(r, k) == 0.0);
                }
            }
        }
        // a label on a masked-out class: probability 0, an infinite loss, unless
        // smoothing takes the label's whole share (then the sums differ from
        // the kept row's in the lanes they fall in: equal up to rounding)
        if (eps == 1)
        {
            CHECK(close(full.value(2), kept.value(2), 1e-13, 1e-15));
        }
        else
        {
            CHECK(full.value(2) == std::numeric_limits<double>::infinity());
        }
    }
}

TEST_CASE("cross_entropy_options: class weights that do not broadcast name both shapes",
          "[cross_entropy][options][weights][errors]")
{
    const xt::xarray<double> x = xt::zeros<double>({2, 3});
    const xt::xarray<int> labels = {0, 2};
    xloss::cross_entropy_options o;
    o.class_weights = xt::xarray<double>{1.0, 2.0};
    CHECK_THROWS_MATCHES(xloss::softmax_cross_entropy_with_integer_labels(x, labels, -1, o), std::invalid_argument,
                         Catch::Message("xloss::softmax_cross_entropy_with_integer_labels: option class_weights of "
                                        "shape [2] does not broadcast to the input shape [2, 3]"));
}
