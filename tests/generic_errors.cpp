// Generic error behaviour of every catalogue entry (generic.hpp: compiled
// once per entry): each error path throws the documented exception type
// with a message that names the function and the offending axis, shape or
// label; a throwing call leaves the caller's inputs exactly as they were
// (compared byte for byte), throws the same exception again when repeated,
// and leaves nothing behind that changes the next valid call. Leaks on the
// throwing paths are checked by running this under ASan/LSan
// (.ci/robustness.sh, -DXLOSS_SANITIZE=address,undefined). In float only:
// the checks run at the boundary, before anything depends on the value type
// (generic.hpp, layout_cases).
#include <cstddef>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xview.hpp>

#include "generic.hpp"

using namespace xloss_test;

namespace
{
    template <class Exception, class F>
    std::string message_of(F&& f)
    {
        try
        {
            f();
        }
        catch (const Exception& e)
        {
            return e.what();
        }
        catch (const std::exception& e)
        {
            FAIL("wrong exception type: " << e.what());
        }
        FAIL("no exception");
        return {};
    }

    bool contains(const std::string& s, const std::string& part)
    {
        return s.find(part) != std::string::npos;
    }

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
    // starts with "xloss::<function>: ". Returns the message.
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
}

TEMPLATE_LIST_TEST_CASE("errors name the function and the offending axis, shape or label",
                        "[generic][errors]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const std::string fn = std::string("xloss::") + E::name + ": ";
    const auto o = E::option_cases()[0];

    SECTION("axes out of range or repeated")
    {
        const auto in = make_inputs<E, T>({2, 3}, {1}, 1);
        auto m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, 2); });
        INFO(m);
        CHECK(contains(m, fn));
        CHECK(contains(m, "axis 2"));
        CHECK(contains(m, "rank 2"));
        m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, -3); });
        CHECK(contains(m, fn));
        CHECK(contains(m, "axis -3"));
        m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, std::vector<int>{1, -1}); });
        CHECK(contains(m, fn));
        CHECK(contains(m, "repeated"));
        CHECK(contains(m, "rank 2"));
        m = message_of<std::invalid_argument>([&] { E::grad(o, in.x, in.y, 7); });
        CHECK(contains(m, fn));
        CHECK(contains(m, "axis 7"));
    }
    SECTION("an unsigned axis never counts from the end, and prints unsigned")
    {
        const auto in = make_inputs<E, T>({2, 3}, {1}, 1);
        auto m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, std::size_t(-1)); });
        INFO(m);
        CHECK(contains(m, fn));
        CHECK(contains(m, "axis 18446744073709551615 is out of range"));
        m = message_of<std::invalid_argument>(
            [&] {
                E::call(o, in.x, in.y, std::vector<std::size_t>{1, 2});
            });
        CHECK(contains(m, "axis 2 is out of range"));
        m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, 1ll << 40); });
        CHECK(contains(m, "axis 1099511627776 is out of range"));
        m = message_of<std::invalid_argument>(
            [&] { E::call(o, in.x, in.y, std::numeric_limits<long long>::min()); });
        CHECK(contains(m, "axis -9223372036854775808 is out of range"));
        // In range, an unsigned axis is the axis it names.
        check_equal(E::call(o, in.x, in.y, std::size_t(1)), E::call(o, in.x, in.y, 1));
    }
    SECTION("a second input that does not fit names both shapes")
    {
        const xt::xarray<T> a = E::template make_x<T>({2, 3}, 2);
        if constexpr (E::integer_labels)
        {
            // labels of the input's rank, or of the batch rank and another extent
            const xt::xarray<int> wrong_rank = xt::zeros<int>({2, 3});
            auto m = message_of<std::invalid_argument>([&] { E::call(o, a, wrong_rank); });
            INFO(m);
            CHECK(contains(m, fn));
            CHECK(contains(m, "[2, 3]"));
            CHECK(contains(m, "[2]"));
            const xt::xarray<int> wrong_shape = {0, 1, 2};
            m = message_of<std::invalid_argument>([&] { E::call(o, a, wrong_shape); });
            CHECK(contains(m, "[3]"));
            // Broadcastable labels of the batch rank are accepted: [1] against batch [2].
            const xt::xarray<int> one = {1};
            CHECK(E::call(o, a, one).size() == 2);
        }
        else
        {
            const xt::xarray<T> b = E::template make_y<T>({2, 4}, {1}, 3);
            const auto m = message_of<std::invalid_argument>([&] { E::call(o, a, b); });
            INFO(m);
            CHECK(contains(m, fn));
            CHECK(contains(m, "[2, 3]"));
            CHECK(contains(m, "[2, 4]"));
        }
    }
    SECTION("masks of another rank or shape name both shapes")
    {
        const auto in = make_inputs<E, T>({2, 3, 4}, {2}, 4);
        const xt::xarray<bool> rank1 = xt::ones<bool>({4});
        auto m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, -1, rank1); });
        INFO(m);
        CHECK(contains(m, fn));
        CHECK(contains(m, "[4]"));
        CHECK(contains(m, "[2, 3, 4]"));
        const xt::xarray<bool> bad_full = xt::ones<bool>({2, 3, 5});
        m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, -1, bad_full); });
        CHECK(contains(m, "[2, 3, 5]"));
        CHECK(contains(m, "[2, 3, 4]"));
        const xt::xarray<bool> bad_batch = xt::ones<bool>({3, 3});
        m = message_of<std::invalid_argument>([&] { E::call(o, in.x, in.y, -1, bad_batch); });
        CHECK(contains(m, "[3, 3]"));
        CHECK(contains(m, "[2, 3]"));
    }
    SECTION("an upstream gradient that does not broadcast names both shapes")
    {
        const auto in = make_inputs<E, T>({2, 3}, {1}, 5);
        const xt::xarray<T> g = xt::ones<T>({3});
        const auto m = message_of<std::invalid_argument>([&] { E::vjp(o, g, in.x, in.y); });
        INFO(m);
        CHECK(contains(m, fn));
        CHECK(contains(m, "[3]"));
        CHECK(contains(m, "[2]"));
    }
    SECTION("invalid options name the function, the option and its value, before any other check")
    {
        const auto in = make_inputs<E, T>({2, 3}, {1}, 6);
        const xt::xarray<T> g = xt::ones<T>({2});
        const xt::xarray<bool> mask = {true, false};
        // Inputs that do not broadcast and an axis out of range: the option is
        // still what the message names, since options are checked on entry.
        const xt::xarray<T> wide = E::template make_x<T>({2, 5}, 7);
        for (const auto& bad : E::invalid_option_cases())
        {
            INFO(bad.message);
            const std::string expected = fn + bad.message;
            const auto o_bad = bad.options;
            CHECK(throws_twice<std::invalid_argument>([&] { E::call(o_bad, in.x, in.y); }, E::name)
                  == expected);
            auto m = message_of<std::invalid_argument>([&] { E::call(o_bad, in.x, in.y, -1, mask); });
            CHECK(m == expected);
            m = message_of<std::invalid_argument>([&] { E::call(o_bad, in.x, in.y, 5); });
            CHECK(m == expected);
            if constexpr (!E::integer_labels)
            {
                m = message_of<std::invalid_argument>([&] { E::call(o_bad, wide, in.y); });
                CHECK(m == expected);
            }
            m = message_of<std::invalid_argument>([&] { E::grad(o_bad, in.x, in.y); });
            CHECK(m == expected);
            m = message_of<std::invalid_argument>([&] { E::vjp(o_bad, g, in.x, in.y); });
            CHECK(m == expected);
            m = message_of<std::invalid_argument>([&] { E::value_and_grad(o_bad, in.x, in.y, -1); });
            CHECK(m == expected);
            if constexpr (E::differentiable[1])
            {
                m = message_of<std::invalid_argument>([&] { E::template grad<0, 1>(o_bad, in.x, in.y); });
                CHECK(m == expected);
            }
        }
        // Valid options at the ends of their ranges are accepted.
        for (const auto& ok : E::option_cases())
        {
            CHECK_NOTHROW(E::call(ok, in.x, in.y));
        }
    }
    if constexpr (E::integer_labels)
    {
        SECTION("labels out of range name the label and the number of classes")
        {
            const xt::xarray<T> logits = xt::zeros<T>({2, 3});
            const xt::xarray<int> too_big = {0, 3};
            auto m = message_of<std::out_of_range>([&] { E::call(o, logits, too_big); });
            INFO(m);
            CHECK(contains(m, fn));
            CHECK(contains(m, "label 3"));
            CHECK(contains(m, "3 classes"));
            const xt::xarray<long long> negative = {-1, 0};
            m = message_of<std::out_of_range>([&] { E::call(o, logits, negative); });
            CHECK(contains(m, "label -1"));
            m = message_of<std::out_of_range>([&] { E::grad(o, logits, too_big); });
            CHECK(contains(m, "label 3"));
        }
    }
}

TEMPLATE_LIST_TEST_CASE("a throwing call leaves the inputs unchanged and can be repeated",
                        "[generic][exception_safety]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const std::string fn = E::name;
    const auto o = E::option_cases()[0];
    const shape_t shape{4, 6, 5};
    xt::xarray<bool> mask = random_mask(shape, 0.6, 13);
    mask(0, 0, 0) = false;
    mask(1, 2, 3) = false;
    auto in = make_inputs<E, T>(shape, {2}, 11, &mask);
    // NaN and -inf in the floating inputs, so that any write-back would show
    in.x(0, 0, 0) = std::numeric_limits<T>::quiet_NaN();
    in.x(1, 2, 3) = -std::numeric_limits<T>::infinity();
    const xt::xarray<T> upstream = random_normal<T>({4, 6}, 1.0, 14);
    std::vector<T> raw(in.x.begin(), in.x.end());  // behind an xt::adapt
    raw[7] = T(-3);
    const auto take = [&]
    {
        return std::vector<std::vector<unsigned char>>{bytes_of(in.x), bytes_of(in.y), bytes_of(mask),
                                                       bytes_of(upstream), bytes_of(raw)};
    };
    const auto snapshot = take();
    auto adapted = xt::adapt(raw, std::vector<std::size_t>{4, 6, 5});
    auto view = xt::view(in.x, xt::all(), xt::range(1, 6), xt::all());

    // The valid results before any failure, to compare with afterwards.
    const xt::xarray<T> before = E::call(o, in.x, in.y, -1, mask);
    const auto before_grads = all_grads<E>(o, in.x, in.y, -1, mask);

    SECTION("axis out of range")
    {
        throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, in.y, 3); }, fn);
        throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, in.y, -4, mask); }, fn);
        throws_twice<std::invalid_argument>([&] { return E::grad(o, in.x, in.y, 7); }, fn);
        throws_twice<std::invalid_argument>([&] { return all_grads<E>(o, adapted, in.y, 5); }, fn);
        throws_twice<std::invalid_argument>(
            [&] {
                return E::call(o, adapted, in.y, std::vector<int>{0, 9});
            },
            fn);
    }
    SECTION("repeated axis")
    {
        throws_twice<std::invalid_argument>(
            [&] {
                return E::call(o, in.x, in.y, std::vector<int>{1, 1});
            },
            fn);
        throws_twice<std::invalid_argument>(
            [&] {
                return all_grads<E>(o, in.x, in.y, std::vector<int>{2, -1});
            },
            fn);
        throws_twice<std::invalid_argument>(
            [&] {
                return E::call(o, adapted, in.y, std::vector<int>{0, -3});
            },
            fn);
    }
    SECTION("mask of a wrong rank or shape")
    {
        const xt::xarray<bool> wrong_rank = xt::ones<bool>({4, 6, 5, 1});
        const xt::xarray<bool> wrong_shape = xt::ones<bool>({4, 3, 5});
        const xt::xarray<bool> wrong_batch = xt::ones<bool>({4, 5});
        throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, in.y, -1, wrong_rank); }, fn);
        throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, in.y, -1, wrong_shape); }, fn);
        throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, in.y, -1, wrong_batch); }, fn);
        throws_twice<std::invalid_argument>([&] { return all_grads<E>(o, in.x, in.y, -1, wrong_shape); }, fn);
        throws_twice<std::invalid_argument>([&] { return E::grad(o, adapted, in.y, -1, wrong_batch); }, fn);
    }
    SECTION("upstream gradient of a wrong shape")
    {
        const xt::xarray<T> wrong = xt::ones<T>({6, 4});
        const xt::xarray<T> too_many = xt::ones<T>({1, 4, 6});
        throws_twice<std::invalid_argument>([&] { return E::vjp(o, wrong, in.x, in.y, -1, mask); }, fn);
        throws_twice<std::invalid_argument>([&] { return all_vjps<E>(o, too_many, in.x, in.y); }, fn);
        throws_twice<std::invalid_argument>([&] { return all_vjps<E>(o, wrong, adapted, in.y); }, fn);
    }
    SECTION("a second input that does not fit")
    {
        if constexpr (E::integer_labels)
        {
            const xt::xarray<int> wrong = xt::zeros<int>({6, 4});
            throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, wrong); }, fn);
            throws_twice<std::invalid_argument>([&] { return E::grad(o, in.x, wrong, -1, mask); }, fn);
        }
        else
        {
            const xt::xarray<T> other = xt::ones<T>({4, 6, 3});
            throws_twice<std::invalid_argument>([&] { return E::call(o, in.x, other); }, fn);
            throws_twice<std::invalid_argument>([&] { return all_grads<E>(o, in.x, other, 0); }, fn);
        }
    }
    if constexpr (E::integer_labels)
    {
        SECTION("label out of range, in the value and the gradient")
        {
            xt::xarray<int> bad = in.y;
            bad(2, 3) = 5;  // n = 5
            const auto bad_before = bytes_of(bad);
            const std::string m = throws_twice<std::out_of_range>([&] { return E::call(o, in.x, bad); }, fn);
            CHECK(m.find("5") != std::string::npos);
            throws_twice<std::out_of_range>([&] { return E::grad(o, in.x, bad, -1, mask); }, fn);
            throws_twice<std::out_of_range>([&] { return E::vjp(o, upstream, in.x, bad); }, fn);
            bad(2, 3) = -1;
            throws_twice<std::out_of_range>([&] { return E::value_and_grad(o, in.x, bad); }, fn);
            bad(2, 3) = 5;
            CHECK(bytes_of(bad) == bad_before);
        }
    }

    const auto now = take();
    const char* names[] = {"x", "y", "mask", "upstream", "adapted buffer"};
    for (std::size_t i = 0; i < now.size(); ++i)
    {
        INFO("input " << names[i]);
        CHECK(now[i] == snapshot[i]);
    }
    // A valid call still gives the results it gave before any failure, and
    // a contract violation is not a sticky state: the next valid call on the
    // adapted buffer and the view works.
    check_equal(xt::xarray<T>(E::call(o, in.x, in.y, -1, mask)), before);
    const auto after_grads = all_grads<E>(o, in.x, in.y, -1, mask);
    check_equal(after_grads.first, before_grads.first);
    check_equal(after_grads.second, before_grads.second);
    CHECK_NOTHROW(E::call(o, adapted, in.y, -1));
    if constexpr (E::integer_labels)
    {
        CHECK_NOTHROW(E::grad(o, view, xt::xarray<int>(xt::zeros<int>({4, 5})), 1));
    }
    else
    {
        CHECK_NOTHROW(E::grad(o, view, xt::view(in.y, xt::all(), xt::range(1, 6), xt::all()), 1));
    }
}

TEMPLATE_LIST_TEST_CASE("many throwing calls in a row leave no memory behind",
                        "[generic][exception_safety]",
                        layout_cases)
{
    // Under LSan a leak on any throwing path (temporaries planned before the
    // check that fails: broadcast inputs, the planned mask, the labels) shows
    // here as a report at exit. Each call plans large temporaries first.
    using E = typename TestType::entry;
    using T = typename TestType::T;
    const xt::xarray<bool> mask = random_mask({64, 33}, 0.5, 23);
    auto in = make_inputs<E, T>({64, 33}, {1}, 21);
    const xt::xarray<T> bad_up = xt::ones<T>({63});
    const auto o = E::option_cases()[0];
    int thrown = 0;
    for (int i = 0; i < 200; ++i)
    {
        try
        {
            (void)E::vjp(o, bad_up, T(2) * in.x, in.y, -1, mask);
        }
        catch (const std::invalid_argument&)
        {
            ++thrown;
        }
    }
    CHECK(thrown == 200);
    if constexpr (E::integer_labels)
    {
        in.y(63) = 33;
        for (int i = 0; i < 200; ++i)
        {
            try
            {
                (void)E::grad(o, xt::transpose(xt::transpose(in.x)), in.y, -1, mask);
            }
            catch (const std::out_of_range&)
            {
                ++thrown;
            }
        }
        CHECK(thrown == 400);
    }
}
