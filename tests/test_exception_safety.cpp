// Exception safety: a call that throws (bad axis, bad mask shape,
// out-of-range label, bad upstream shape) leaves the caller's inputs exactly
// as they were (compared with copies, byte for byte), throws the same
// exception again when repeated, and leaves nothing behind that changes the
// next valid call. Leaks on the throwing paths are checked by running this
// test under ASan/LSan (.ci/robustness.sh, -DXLOSS_SANITIZE=address,undefined).
#include <cstddef>
#include <cstring>
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
    template <class A>
    std::vector<unsigned char> bytes_of(const A& a)
    {
        std::vector<unsigned char> out(a.size() * sizeof(typename A::value_type));
        std::size_t at = 0;
        for (const auto& v : a)
        {
            std::memcpy(out.data() + at, &v, sizeof(v));
            at += sizeof(v);
        }
        return out;
    }

    // Calls `f` twice; both calls must throw E with the same message, which
    // names the function. Returns the message.
    template <class E, class F>
    std::string throws_twice(F&& f, const std::string& function)
    {
        std::string first, second;
        for (std::string* message : {&first, &second})
        {
            bool thrown = false;
            try
            {
                f();
            }
            catch (const E& e)
            {
                thrown = true;
                *message = e.what();
            }
            REQUIRE(thrown);
        }
        CHECK(first == second);
        CHECK(first.rfind("xloss::" + function + ": ", 0) == 0);
        return first;
    }

    // The inputs every case shares, with snapshots of their bytes. The
    // floating inputs hold NaN and -inf so that any write-back would show.
    template <class T>
    struct guarded_inputs
    {
        xt::xarray<T> x = xloss_test::random_normal<T>({4, 6, 5}, 2.0, 11);
        xt::xarray<T> y = xloss_test::random_probabilities<T>({4, 6, 5}, -1, 12);
        xt::xarray<bool> mask = xloss_test::random_mask({4, 6, 5}, 0.6, 13);
        xt::xarray<int> labels = {{0, 1, 2, 3, 4, 0}, {1, 2, 3, 4, 0, 1}, {2, 3, 4, 0, 1, 2}, {3, 4, 0, 1, 2, 3}};
        xt::xarray<T> upstream = xloss_test::random_normal<T>({4, 6}, 1.0, 14);
        std::vector<T> raw = std::vector<T>(4 * 6 * 5, T(0.25));  // behind an xt::adapt

        std::vector<std::vector<unsigned char>> snapshot;

        guarded_inputs()
        {
            x(0, 0, 0) = std::numeric_limits<T>::quiet_NaN();
            x(1, 2, 3) = -std::numeric_limits<T>::infinity();
            mask(0, 0, 0) = false;
            mask(1, 2, 3) = false;
            raw[7] = T(-3);
            snapshot = take();
        }

        std::vector<std::vector<unsigned char>> take() const
        {
            return {bytes_of(x), bytes_of(y), bytes_of(mask), bytes_of(labels), bytes_of(upstream), bytes_of(raw)};
        }

        void check_unchanged() const
        {
            const auto now = take();
            const char* names[] = {"x", "y", "mask", "labels", "upstream", "adapted buffer"};
            for (std::size_t i = 0; i < now.size(); ++i)
            {
                INFO("input " << names[i]);
                CHECK(now[i] == snapshot[i]);
            }
        }
    };

    // For one floating-input loss: every failure kind, through the value and
    // the gradient entry points, on containers, views and an adapted buffer.
    template <class T, class Loss>
    void check_floating_loss(const Loss& loss)
    {
        guarded_inputs<T> in;
        const std::string fn = Loss::rule::name;
        auto adapted = xt::adapt(in.raw, std::vector<std::size_t>{4, 6, 5});
        auto view = xt::view(in.x, xt::all(), xt::range(1, 6), xt::all());
        auto view_y = xt::view(in.y, xt::all(), xt::range(1, 6), xt::all());

        // The valid results before any failure, to compare with afterwards.
        const xt::xarray<T> before = loss(in.x, in.y, -1, in.mask);
        const auto before_grads = xloss::value_and_grad<0, 1>(loss, in.x, in.y, -1, in.mask);

        SECTION("axis out of range")
        {
            throws_twice<std::invalid_argument>([&] { return loss(in.x, in.y, 3); }, fn);
            throws_twice<std::invalid_argument>([&] { return loss(in.x, in.y, -4, in.mask); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::grad(loss, in.x, in.y, 7); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::value_and_grad<0, 1>(loss, view, view_y, 5); }, fn);
            throws_twice<std::invalid_argument>([&] { return loss(adapted, in.y, std::vector<int>{0, 9}); }, fn);
        }
        SECTION("repeated axis")
        {
            throws_twice<std::invalid_argument>([&] { return loss(in.x, in.y, std::vector<int>{1, 1}); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::grad<1>(loss, in.x, in.y, std::vector<int>{2, -1}); }, fn);
            throws_twice<std::invalid_argument>([&] { return loss(adapted, view_y, std::vector<int>{0, -3}); }, fn);
        }
        SECTION("mask of a wrong rank or shape")
        {
            const xt::xarray<bool> wrong_rank = xt::ones<bool>({4, 6, 5, 1});
            const xt::xarray<bool> wrong_shape = xt::ones<bool>({4, 3, 5});
            const xt::xarray<bool> wrong_batch = xt::ones<bool>({4, 5});
            throws_twice<std::invalid_argument>([&] { return loss(in.x, in.y, -1, wrong_rank); }, fn);
            throws_twice<std::invalid_argument>([&] { return loss(in.x, in.y, -1, wrong_shape); }, fn);
            throws_twice<std::invalid_argument>([&] { return loss(in.x, in.y, -1, wrong_batch); }, fn);
            throws_twice<std::invalid_argument>(
                [&] { return xloss::value_and_grad<0, 1>(loss, in.x, in.y, -1, wrong_shape); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::grad(loss, adapted, in.y, 2, wrong_batch); }, fn);
        }
        SECTION("upstream gradient of a wrong shape")
        {
            const xt::xarray<T> wrong = xt::ones<T>({6, 4});
            const xt::xarray<T> too_many = xt::ones<T>({1, 4, 6});
            throws_twice<std::invalid_argument>([&] { return xloss::vjp(loss, wrong, in.x, in.y, -1, in.mask); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::vjp<0, 1>(loss, too_many, in.x, in.y); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::vjp<1>(loss, wrong, view, view_y); }, fn);
        }
        SECTION("inputs that do not broadcast")
        {
            const xt::xarray<T> other = xt::ones<T>({4, 6, 3});
            throws_twice<std::invalid_argument>([&] { return loss(in.x, other); }, fn);
            throws_twice<std::invalid_argument>([&] { return xloss::grad<0, 1>(loss, in.x, other, 0); }, fn);
        }

        in.check_unchanged();
        // The inputs behind the views and the adapted buffer are untouched too
        // (they are part of the snapshot), and a valid call still gives the
        // results it gave before any failure.
        xloss_test::check_equal(xt::xarray<T>(loss(in.x, in.y, -1, in.mask)), before);
        const auto after_grads = xloss::value_and_grad<0, 1>(loss, in.x, in.y, -1, in.mask);
        xloss_test::check_equal(after_grads.value, before_grads.value);
        xloss_test::check_equal(after_grads.grad.first, before_grads.grad.first);
        xloss_test::check_equal(after_grads.grad.second, before_grads.grad.second);
        // A contract violation is not a sticky state: the next valid call on
        // the adapted buffer and the view works.
        CHECK_NOTHROW(loss(adapted, in.y, std::vector<int>{0, 2}));
        CHECK_NOTHROW(xloss::grad(loss, view, view_y, 1));
    }
}

TEMPLATE_TEST_CASE("a throwing call leaves the inputs unchanged and can be repeated", "[exception_safety]", float,
                   double)
{
    using T = TestType;
    SECTION("softmax_cross_entropy")
    {
        check_floating_loss<T>(xloss::softmax_cross_entropy);
    }
    SECTION("kl_divergence")
    {
        check_floating_loss<T>(xloss::kl_divergence);
    }
    SECTION("convex_kl_divergence")
    {
        check_floating_loss<T>(xloss::convex_kl_divergence);
    }
    SECTION("cosine_similarity")
    {
        check_floating_loss<T>(xloss::cosine_similarity);
    }
    SECTION("cosine_distance")
    {
        check_floating_loss<T>(xloss::cosine_distance);
    }
    SECTION("sigmoid_focal_loss")
    {
        check_floating_loss<T>(xloss::sigmoid_focal_loss);
    }
}

TEMPLATE_TEST_CASE("integer labels: a throwing call leaves logits and labels unchanged", "[exception_safety]", float,
                   double)
{
    using T = TestType;
    guarded_inputs<T> in;
    const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
    const std::string fn = "softmax_cross_entropy_with_integer_labels";
    const xt::xarray<T> before = loss(in.x, in.labels, -1, in.mask);
    const auto before_grad = xloss::value_and_grad(loss, in.x, in.labels, -1, in.mask);

    SECTION("label out of range, in the value and the gradient")
    {
        xt::xarray<int> bad = in.labels;
        bad(2, 3) = 5;  // n = 5
        const auto bad_before = bytes_of(bad);
        const std::string m = throws_twice<std::out_of_range>([&] { return loss(in.x, bad); }, fn);
        CHECK(m.find("5") != std::string::npos);
        throws_twice<std::out_of_range>([&] { return xloss::grad(loss, in.x, bad, -1, in.mask); }, fn);
        throws_twice<std::out_of_range>([&] { return xloss::vjp(loss, in.upstream, in.x, bad); }, fn);
        bad(2, 3) = -1;
        throws_twice<std::out_of_range>([&] { return xloss::value_and_grad(loss, in.x, bad); }, fn);
        bad(2, 3) = 5;
        CHECK(bytes_of(bad) == bad_before);
    }
    SECTION("labels of a wrong shape, bad axis, bad mask, bad upstream")
    {
        const xt::xarray<int> wrong = xt::zeros<int>({6, 4});
        throws_twice<std::invalid_argument>([&] { return loss(in.x, wrong); }, fn);
        throws_twice<std::invalid_argument>([&] { return loss(in.x, in.labels, 3); }, fn);
        throws_twice<std::invalid_argument>([&] { return loss(in.x, in.labels, -1, xt::xarray<bool>(xt::ones<bool>({5}))); }, fn);
        throws_twice<std::invalid_argument>(
            [&] { return xloss::vjp(loss, xt::xarray<T>(xt::ones<T>({4, 5})), in.x, in.labels); }, fn);
    }

    in.check_unchanged();
    xloss_test::check_equal(xt::xarray<T>(loss(in.x, in.labels, -1, in.mask)), before);
    const auto after_grad = xloss::value_and_grad(loss, in.x, in.labels, -1, in.mask);
    xloss_test::check_equal(after_grad.value, before_grad.value);
    xloss_test::check_equal(after_grad.grad, before_grad.grad);
}

TEST_CASE("many throwing calls in a row leave no memory behind", "[exception_safety]")
{
    // Under LSan a leak on any throwing path (temporaries planned before the
    // check that fails: broadcast inputs, the planned mask, the labels) shows
    // here as a report at exit. Each call plans large temporaries first.
    const xt::xarray<float> x = xloss_test::random_normal<float>({64, 33}, 1.0, 21);
    const xt::xarray<float> y_row = xloss_test::random_probabilities<float>({1, 33}, -1, 22);
    const xt::xarray<bool> mask = xloss_test::random_mask({64, 33}, 0.5, 23);
    xt::xarray<int> labels = xt::zeros<int>({64});
    labels(63) = 33;
    const xt::xarray<float> bad_up = xt::ones<float>({63});
    int thrown = 0;
    for (int i = 0; i < 200; ++i)
    {
        try
        {
            (void)xloss::vjp(xloss::softmax_cross_entropy, bad_up, x, 2.0f * y_row, -1, mask);
        }
        catch (const std::invalid_argument&)
        {
            ++thrown;
        }
        try
        {
            (void)xloss::grad(xloss::softmax_cross_entropy_with_integer_labels, xt::transpose(xt::transpose(x)), labels,
                              -1, mask);
        }
        catch (const std::out_of_range&)
        {
            ++thrown;
        }
    }
    CHECK(thrown == 400);
}
