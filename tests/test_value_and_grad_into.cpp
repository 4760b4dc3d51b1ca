// value_and_grad_into: the same value and gradient as value_and_grad, for a
// few losses and call forms (mask, axis list, mean), written into the three
// kinds of buffer a training loop owns (xt::xtensor, xt::xarray, xt::adapt
// over a std::vector), with the value returned or written into a caller's
// buffer; a buffer of another shape is refused, untouched. The
// gradients themselves are checked by the generic tests through
// value_and_grad; here equality with it is the whole contract, so the
// comparisons are exact. Double only, to keep the instantiations few. Then
// what the direct path saves: the bytes the call allocates, counted by a
// replacement of the global operator new (this executable only), against
// value_and_grad's; and the buffers that must take the copying path (a dx
// over x's own memory, a column-major dx) still get the right gradient.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xtensor.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

namespace
{
    std::atomic<std::size_t> allocated_bytes{0};
    std::atomic<std::size_t> allocations{0};
}

// Counts every allocation through operator new (xtensor's containers use
// std::allocator, which comes here). Every form of new and delete that
// pairs with malloc and free is replaced, so that no block allocated by one
// (the nothrow or array forms included) is freed by another's counterpart:
// AddressSanitizer reports such a mismatch.
namespace
{
    void* counted_allocation(std::size_t n) noexcept
    {
        allocated_bytes += n;
        ++allocations;
        return std::malloc(n == 0 ? 1 : n);
    }

    void* counted_or_throw(std::size_t n)
    {
        if (void* p = counted_allocation(n))
        {
            return p;
        }
        throw std::bad_alloc();
    }
}

void* operator new(std::size_t n)
{
    return counted_or_throw(n);
}

void* operator new[](std::size_t n)
{
    return counted_or_throw(n);
}

void* operator new(std::size_t n, const std::nothrow_t&) noexcept
{
    return counted_allocation(n);
}

void* operator new[](std::size_t n, const std::nothrow_t&) noexcept
{
    return counted_allocation(n);
}

// GCC sees free() in a replacement operator delete and warns of a mismatch:
// here the matching operator new is malloc().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept
{
    std::free(p);
}

void operator delete[](void* p) noexcept
{
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}

void operator delete[](void* p, std::size_t) noexcept
{
    std::free(p);
}

void operator delete(void* p, const std::nothrow_t&) noexcept
{
    std::free(p);
}

void operator delete[](void* p, const std::nothrow_t&) noexcept
{
    std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace
{
    using namespace xloss_test;

    // Bytes allocated while f runs.
    template <class F>
    std::size_t bytes_allocated_by(F&& f)
    {
        const std::size_t before = allocated_bytes.load();
        f();
        return allocated_bytes.load() - before;
    }

    // Allocations made while f runs.
    template <class F>
    std::size_t allocations_by(F&& f)
    {
        const std::size_t before = allocations.load();
        f();
        return allocations.load() - before;
    }

    // [B=3, T=2, V=4] logits of a padded sequence batch, its labels and the
    // [B, T] mask of real positions (row 2 has one real position; the label
    // under padding is out of range on purpose: masked labels are not read).
    const xt::xtensor<double, 3> logits = {{{0.5, -1.0, 2.0, 0.0}, {1.5, 0.25, -0.5, 3.0}},
                                           {{-2.0, 0.0, 0.75, 1.0}, {0.0, 0.0, 0.0, 0.0}},
                                           {{4.0, -3.0, 0.5, 1.25}, {9.0, 9.0, 9.0, 9.0}}};
    const xt::xtensor<int, 2> labels = {{2, 3}, {0, 1}, {1, -100}};
    const xt::xtensor<bool, 2> real = {{true, true}, {true, true}, {true, false}};

    template <class Buffer, class Value, class Expected>
    void check_same(const Buffer& dx, const Value& value, const Expected& expected)
    {
        check_equal(value, expected.value);
        check_equal(dx, expected.grad);
    }
}

TEST_CASE("value_and_grad_into equals value_and_grad", "[grad][into]")
{
    constexpr auto mean_ce = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);

    SECTION("mean over real positions with a batch-rank mask, into xt::xtensor")
    {
        const auto expected = xloss::value_and_grad(mean_ce, logits, labels, -1, real);
        xt::xtensor<double, 3> dx = xt::zeros<double>(logits.shape());
        const double* buffer = dx.data();
        const auto value = xloss::value_and_grad_into(dx, mean_ce, logits, labels, -1, real);
        check_same(dx, value, expected);
        CHECK(dx.data() == buffer);  // written in place, not replaced
    }

    SECTION("per-example loss, no mask, axis as a braced list, into xt::xarray")
    {
        const xt::xarray<double> probs = xt::full_like(logits, 0.25);
        const auto expected = xloss::value_and_grad(xloss::softmax_cross_entropy, logits, probs, {2});
        xt::xarray<double> dx = xt::zeros<double>(logits.shape());
        const auto value = xloss::value_and_grad_into(dx, xloss::softmax_cross_entropy, logits, probs, {2});
        check_same(dx, value, expected);
    }

    SECTION("a loss with options, into xt::adapt over a std::vector (an rvalue adaptor)")
    {
        const xt::xarray<double> targets = logits * 0.5 + 1.0;
        const xloss::cosine_options opts{1e-8};
        const auto expected = xloss::value_and_grad(xloss::cosine_similarity, logits, targets, -1, real,
                                                    opts);
        std::vector<double> storage(logits.size(), -7.0);
        const auto value = xloss::value_and_grad_into(xt::adapt(storage, logits.shape()),
                                                      xloss::cosine_similarity, logits, targets, -1, real,
                                                      opts);
        check_same(xt::adapt(storage, logits.shape()), value, expected);
        CHECK(storage.size() == logits.size());
    }
}

TEST_CASE("value_and_grad_into refuses a buffer of another shape", "[grad][into][errors]")
{
    const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
    auto message = [&](auto& dx)
    {
        try
        {
            xloss::value_and_grad_into(dx, loss, logits, labels, -1, real);
        }
        catch (const std::invalid_argument& e)
        {
            return std::string(e.what());
        }
        return std::string("no exception");
    };

    xt::xtensor<double, 3> transposed = xt::full_like(xt::xtensor<double, 3>::from_shape({3, 4, 2}), 5.0);
    CHECK(message(transposed)
          == "xloss::value_and_grad_into: the gradient buffer has shape [3, 4, 2] but x has shape [3, 2, 4]");
    CHECK(transposed(0, 0, 0) == 5.0);  // refused before any write

    xt::xarray<double> flat = xt::zeros<double>({24});
    CHECK(message(flat)
          == "xloss::value_and_grad_into: the gradient buffer has shape [24] but x has shape [3, 2, 4]");
    CHECK(flat.dimension() == 1);  // not resized
}

TEST_CASE("value_and_grad_into writes a row-major buffer directly: the gradient is not allocated",
          "[grad][into]")
{
    // [256, 1000] logits: a 2 MB gradient, next to a few KB of planning.
    const xt::xtensor<double, 2> x = xt::cast<double>(xt::reshape_view(xt::arange<int>(256000) % 37, {256, 1000})) / 9.0;
    xt::xtensor<int, 1> y = xt::xtensor<int, 1>::from_shape({256});
    for (std::size_t i = 0; i < y.size(); ++i)
    {
        y(i) = static_cast<int>((i * 13) % 1000);
    }
    xloss::cross_entropy_options o;
    o.label_smoothing = 0.1;
    const auto loss = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
    const std::size_t gradient_bytes = x.size() * sizeof(double);
    xt::xtensor<double, 2> dx = xt::zeros<double>(x.shape());
    xloss::value_and_grad_into(dx, loss, x, y, -1, o);  // warm up
    const auto expected = xloss::value_and_grad(loss, x, y, -1, o);
    // The counter sees value_and_grad's gradient (so it would see ours)...
    CHECK(bytes_allocated_by([&] { xloss::value_and_grad(loss, x, y, -1, o); }) >= gradient_bytes);
    // ...and value_and_grad_into allocates a small fraction of it.
    const double* buffer = dx.data();
    const std::size_t into = bytes_allocated_by([&] { xloss::value_and_grad_into(dx, loss, x, y, -1, o); });
    CAPTURE(into, gradient_bytes);
    CHECK(into < gradient_bytes / 100);
    CHECK(dx.data() == buffer);
    check_equal(dx, expected.grad);
}

TEST_CASE("value_and_grad_into: buffers that take the copying path get the same gradient", "[grad][into]")
{
    constexpr auto mean_ce = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
    const auto expected = xloss::value_and_grad(mean_ce, logits, labels, -1, real);
    SECTION("dx is x itself: the passes must not read what they wrote")
    {
        xt::xtensor<double, 3> x = logits;
        const auto value = xloss::value_and_grad_into(x, mean_ce, x, labels, -1, real);
        check_same(x, value, expected);
    }
    SECTION("a column-major dx")
    {
        xt::xarray<double, xt::layout_type::column_major> dx = xt::zeros<double>(logits.shape());
        const auto value = xloss::value_and_grad_into(dx, mean_ce, logits, labels, -1, real);
        check_equal(value, expected.value);
        check_equal(xt::xarray<double>(dx), expected.grad);
    }
}

TEST_CASE("value_and_grad_into with a value buffer equals value_and_grad", "[grad][into]")
{
    constexpr auto mean_ce = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    xt::xtensor<double, 3> dx = xt::zeros<double>(logits.shape());

    SECTION("mean into a 0-d xt::xtensor")
    {
        const auto expected = xloss::value_and_grad(mean_ce, logits, labels, -1, real);
        xt::xtensor<double, 0> value = xt::xtensor<double, 0>::from_shape({});
        value() = -1.0;
        xloss::value_and_grad_into(value, dx, mean_ce, logits, labels, -1, real);
        check_same(dx, value, expected);
    }
    SECTION("per-slice values into a [B, T] xt::xarray, axis as a braced list")
    {
        const auto expected = xloss::value_and_grad(ce, logits, labels, {2}, real);
        xt::xarray<double> value = xt::full_like(xt::xarray<double>::from_shape({3, 2}), -1.0);
        const double* buffer = value.data();
        xloss::value_and_grad_into(value, dx, ce, logits, labels, {2}, real);
        check_same(dx, value, expected);
        CHECK(value.data() == buffer);
    }
    SECTION("a float value buffer for double results takes the copying path")
    {
        const auto expected = xloss::value_and_grad(ce, logits, labels, -1, real);
        xt::xtensor<float, 2> value = xt::zeros<float>({3, 2});
        xloss::value_and_grad_into(value, dx, ce, logits, labels, -1, real);
        check_equal(xt::xarray<double>(xt::cast<double>(value)), xt::xarray<double>(xt::cast<float>(expected.value)));
        check_equal(dx, expected.grad);
    }
    SECTION("a value buffer of another shape is refused before any write")
    {
        xt::xtensor<double, 1> value = xt::full_like(xt::xtensor<double, 1>::from_shape({6}), 5.0);
        std::string message = "no exception";
        try
        {
            xloss::value_and_grad_into(value, dx, ce, logits, labels, -1, real);
        }
        catch (const std::invalid_argument& e)
        {
            message = e.what();
        }
        CHECK(message == "xloss::value_and_grad_into: the value buffer has shape [6] but the result has shape [3, 2]");
        CHECK(value(0) == 5.0);
        xt::xtensor<double, 1> not_0d = xt::zeros<double>({1});
        CHECK_THROWS_AS(xloss::value_and_grad_into(not_0d, dx, mean_ce, logits, labels, -1, real),
                        std::invalid_argument);
    }
}

TEST_CASE("a training step with value_and_grad_into allocates nothing after the first call", "[grad][into]")
{
    // A classifier's minibatch ([64, 10]: short rows, run on the tiled kernel
    // and its staging tiles), label smoothing, xloss::mean into a 0-d value.
    xt::xtensor<double, 2> x = xt::xtensor<double, 2>::from_shape({64, 10});
    xt::xtensor<int, 1> y = xt::xtensor<int, 1>::from_shape({64});
    for (std::size_t i = 0; i < x.size(); ++i)
    {
        x.data()[i] = static_cast<double>((i * 7) % 11) / 4.0 - 1.0;
    }
    for (std::size_t i = 0; i < y.size(); ++i)
    {
        y(i) = static_cast<int>((i * 3) % 10);
    }
    xloss::cross_entropy_options o;
    o.label_smoothing = 0.1;
    constexpr auto mean_ce = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
    xt::xtensor<double, 2> dx = xt::zeros<double>(x.shape());
    xt::xtensor<double, 0> value = xt::xtensor<double, 0>::from_shape({});
    auto step = [&] { xloss::value_and_grad_into(value, dx, mean_ce, x, y, -1, o); };
    step();  // the first call on this thread sizes its scratch
    for (int i = 0; i < 3; ++i)
    {
        CHECK(allocations_by(step) == 0);
    }
    const auto expected = xloss::value_and_grad(mean_ce, x, y, -1, o);
    check_same(dx, value, expected);

    // Per-slice values with a batch-rank mask, over the middle axis of a
    // [3, 4, 2] tensor (strided slices, tiled), into an [3, 2] value buffer.
    const xt::xtensor<double, 3> z = xt::transpose(logits, {0, 2, 1});
    xt::xtensor<double, 3> dz = xt::zeros<double>(z.shape());
    xt::xtensor<double, 2> values = xt::zeros<double>({3, 2});
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    auto strided_step = [&] { xloss::value_and_grad_into(values, dz, ce, z, labels, 1, real); };
    strided_step();
    CHECK(allocations_by(strided_step) == 0);
    const auto strided_expected = xloss::value_and_grad(ce, z, labels, 1, real);
    check_same(dz, values, strided_expected);

    // Padded positions left out by ignore_index instead of a mask (the
    // slice mask it makes is kept scratch too), xloss::mean into a 0-d value.
    xloss::cross_entropy_options ignoring;
    ignoring.ignore_index = -100;
    xt::xtensor<double, 3> dlogits = xt::zeros<double>(logits.shape());
    auto ignoring_step = [&] { xloss::value_and_grad_into(value, dlogits, mean_ce, logits, labels, -1, ignoring); };
    ignoring_step();
    CHECK(allocations_by(ignoring_step) == 0);
    check_same(dlogits, value, xloss::value_and_grad(mean_ce, logits, labels, -1, real));

    // The counter does count: the value-returning form allocates its result.
    CHECK(allocations_by([&] { xloss::value_and_grad_into(dx, mean_ce, x, y, -1, o); }) > 0);
}

TEST_CASE(
    "column-major and transposed inputs are read where they are, without a copy; lazy ones chunk by chunk",
    "[inputs][into]")
{
    // [512, 300] doubles (1.2 MB) reduced over the last axis, stored column-major.
    const xt::xtensor<double, 2> rows = xt::cast<double>(xt::reshape_view(xt::arange<int>(153600) % 29, {512, 300})) / 7.0;
    xt::xtensor<int, 1> y = xt::xtensor<int, 1>::from_shape({512});
    for (std::size_t i = 0; i < y.size(); ++i)
    {
        y(i) = static_cast<int>((i * 17) % 300);
    }
    const std::size_t input_bytes = rows.size() * sizeof(double);
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    const auto expected = ce(rows, y, -1);
    const xt::xtensor<double, 2, xt::layout_type::column_major> columns = rows;
    const xt::xtensor<double, 2> transposed_copy = xt::transpose(rows);
    const auto view = xt::transpose(transposed_copy);
    ce(columns, y, -1);  // warm up this thread's scratch
    std::size_t bytes = bytes_allocated_by([&] { check_close<double>(ce(columns, y, -1), expected); });
    CAPTURE(bytes, input_bytes);
    CHECK(bytes < input_bytes / 100);
    bytes = bytes_allocated_by([&] { check_close<double>(ce(view, y, -1), expected); });
    CHECK(bytes < input_bytes / 100);
    // A lazy expression is evaluated a chunk at a time (about 256 KiB), not
    // whole; the counter sees that chunk.
    const auto lazy = rows * 1.0;
    bytes = bytes_allocated_by([&] { check_equal(ce(lazy, y, -1), expected); });
    CAPTURE(bytes);
    CHECK(bytes > input_bytes / 8);
    CHECK(bytes < input_bytes / 2);
}

TEST_CASE("value_and_grad_into writes a column-major dx of a column-major x directly", "[grad][into]")
{
    // [512, 300] doubles reduced over the last axis, x and dx column-major:
    // the gradient is computed in x's memory order, which is dx's.
    const xt::xtensor<double, 2> rows = xt::cast<double>(
                                            xt::reshape_view(xt::arange<int>(153600) % 31, {512, 300}))
                                        / 8.0;
    xt::xtensor<int, 1> y = xt::xtensor<int, 1>::from_shape({512});
    for (std::size_t i = 0; i < y.size(); ++i)
    {
        y(i) = static_cast<int>((i * 11) % 300);
    }
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    const xt::xtensor<double, 2, xt::layout_type::column_major> columns = rows;
    xt::xtensor<double, 2, xt::layout_type::column_major> dx = xt::zeros<double>(rows.shape());
    xloss::value_and_grad_into(dx, ce, columns, y, -1);  // warm up
    const auto expected = xloss::value_and_grad(ce, columns, y, -1);
    const double* buffer = dx.data();
    const std::size_t gradient_bytes = rows.size() * sizeof(double);
    const std::size_t into = bytes_allocated_by([&] { xloss::value_and_grad_into(dx, ce, columns, y, -1); });
    CAPTURE(into, gradient_bytes);
    CHECK(into < gradient_bytes / 100);
    CHECK(dx.data() == buffer);
    check_equal(xt::xarray<double>(dx), expected.grad);
    // The same gradient as for the row-major copy of x, up to the order of
    // the sums.
    check_close<double>(xt::xarray<double>(dx), xloss::grad(ce, rows, y, -1));

    // A row-major x into a column-major dx: computed row-major, then copied
    // into dx's order.
    xt::xtensor<double, 2, xt::layout_type::column_major> from_rows = xt::zeros<double>(rows.shape());
    xloss::value_and_grad_into(from_rows, ce, rows, y, -1);
    check_equal(xt::xarray<double>(from_rows), xloss::grad(ce, rows, y, -1));
}
