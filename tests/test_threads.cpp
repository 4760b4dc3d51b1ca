// Thread safety: every loss, and value_and_grad, called from two threads at
// once on shared read-only inputs gives exactly the single-threaded results.
// The library keeps no mutable global or static state; this test is what
// ThreadSanitizer watches (.ci/robustness.sh builds it with
// -DXLOSS_SANITIZE=thread). Catch2's macros are not thread-safe, so the
// threads only count mismatches and the main thread checks the counts.
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

namespace
{
    // Iterations per thread: enough for the two threads to overlap many
    // times, few enough for a TSan build (~10x slower) to take seconds.
    constexpr int kIterations = 40;

    template <class T>
    bool identical(const xt::xarray<T>& a, const xt::xarray<T>& b)
    {
        if (a.shape() != b.shape())
        {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            const T u = a.flat(i), v = b.flat(i);
            if (!((std::isnan(u) && std::isnan(v)) || std::memcmp(&u, &v, sizeof(T)) == 0))
            {
                return false;
            }
        }
        return true;
    }

    // One evaluation: every array it produces, flattened into a list.
    template <class T>
    using outputs = std::vector<xt::xarray<T>>;

    template <class T>
    bool identical(const outputs<T>& a, const outputs<T>& b)
    {
        if (a.size() != b.size())
        {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            if (!identical(a[i], b[i]))
            {
                return false;
            }
        }
        return true;
    }

    // Runs `work` once on this thread, then kIterations times on each of two
    // threads released together; returns the number of results that differ
    // from the first run.
    template <class T>
    int mismatches_under_two_threads(const std::function<outputs<T>()>& work)
    {
        const outputs<T> expected = work();
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        int bad[2] = {0, 0};
        auto body = [&](int id) {
            ready.fetch_add(1);
            while (!go.load())
            {
                std::this_thread::yield();
            }
            for (int i = 0; i < kIterations; ++i)
            {
                if (!identical(work(), expected))
                {
                    ++bad[id];
                }
            }
        };
        std::thread a(body, 0), b(body, 1);
        while (ready.load() < 2)
        {
            std::this_thread::yield();
        }
        go.store(true);
        a.join();
        b.join();
        return bad[0] + bad[1];
    }

    // Shared read-only inputs of every shape class the engine plans
    // differently: the innermost axis (row lanes, with a tail), an outer axis
    // with a contiguous inner extent (column lanes), non-adjacent axes (a
    // permuted temporary), a broadcast second input and a strided view.
    template <class T>
    struct shared_inputs
    {
        xt::xarray<T> logits = xloss_test::random_normal<T>({6, 37}, 2.0, 1);
        xt::xarray<T> probs = xloss_test::random_probabilities<T>({6, 37}, -1, 2);
        xt::xarray<T> targets_row = xloss_test::random_probabilities<T>({1, 37}, -1, 3);
        xt::xarray<T> nchw = xloss_test::random_normal<T>({3, 5, 4, 9}, 1.5, 4);
        xt::xarray<T> nchw_probs = xloss_test::random_probabilities<T>({3, 5, 4, 9}, 1, 5);
        xt::xarray<bool> mask = xloss_test::random_mask({6, 37}, 0.7, 6);
        xt::xarray<bool> batch_mask = xloss_test::random_mask({6}, 0.7, 7);
        xt::xarray<bool> nchw_mask = xloss_test::random_mask({3, 1, 4, 9}, 0.8, 8);
        xt::xarray<int> labels{3, 0, 36, 12, 7, 20};
        xt::xarray<int> nchw_labels = xt::xarray<int>({{{0, 1, 2, 3, 4, 0, 1, 2, 3}, {4, 3, 2, 1, 0, 4, 3, 2, 1},
                                                          {2, 2, 2, 2, 2, 0, 0, 0, 0}, {1, 3, 1, 3, 1, 3, 1, 3, 1}},
                                                         {{0, 0, 0, 0, 0, 0, 0, 0, 0}, {4, 4, 4, 4, 4, 4, 4, 4, 4},
                                                          {1, 2, 3, 4, 0, 1, 2, 3, 4}, {3, 3, 3, 3, 3, 3, 3, 3, 3}},
                                                         {{2, 1, 0, 2, 1, 0, 2, 1, 0}, {0, 4, 0, 4, 0, 4, 0, 4, 0},
                                                          {1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 2, 1, 0, 3, 2, 1, 0, 3}}});
    };

    // Every call form of interest of one floating-input loss: value and
    // value_and_grad<0, 1>, over the shape classes above.
    template <class T, class Loss, class... Opts>
    outputs<T> floating_loss_work(const Loss& loss, const shared_inputs<T>& in, const Opts&... opts)
    {
        outputs<T> out;
        auto add_vg = [&](auto&& vg) {
            out.push_back(std::move(vg.value));
            out.push_back(std::move(vg.grad.first));
            out.push_back(std::move(vg.grad.second));
        };
        out.push_back(loss(in.logits, in.probs, -1, in.mask, opts...));
        add_vg(xloss::value_and_grad<0, 1>(loss, in.logits, in.probs, -1, in.mask, opts...));
        out.push_back(loss(in.logits, in.targets_row, 0, in.mask, opts...));  // broadcast y, column lanes
        add_vg(xloss::value_and_grad<0, 1>(loss, in.logits, in.targets_row, -1, in.batch_mask, opts...));
        out.push_back(loss(in.nchw, in.nchw_probs, 1, in.nchw_mask, opts...));
        add_vg(xloss::value_and_grad<0, 1>(loss, in.nchw, in.nchw_probs, 1, in.nchw_mask, opts...));
        out.push_back(loss(in.nchw, in.nchw_probs, std::vector<int>{3, 1}, opts...));  // permuted temporary
        add_vg(xloss::value_and_grad<0, 1>(loss, in.nchw, in.nchw_probs, std::vector<int>{1, 3}, opts...));
        auto strided = xt::view(in.nchw, xt::all(), xt::range(0, 5, 2), xt::all(), xt::range(1, 9, 3));
        auto strided_probs = xt::view(in.nchw_probs, xt::all(), xt::range(0, 5, 2), xt::all(), xt::range(1, 9, 3));
        out.push_back(loss(strided, strided_probs, xloss::all_axes, opts...));
        out.push_back(loss(in.logits, in.probs, xloss::no_axes, in.mask, opts...));
        return out;
    }
}

TEMPLATE_TEST_CASE("every loss gives the single-threaded result when two threads call it at once", "[threads]",
                   float, double)
{
    using T = TestType;
    const shared_inputs<T> in;

    SECTION("softmax_cross_entropy")
    {
        CHECK(mismatches_under_two_threads<T>([&] { return floating_loss_work(xloss::softmax_cross_entropy, in); }) == 0);
    }
    SECTION("softmax_cross_entropy_with_integer_labels")
    {
        const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
        CHECK(mismatches_under_two_threads<T>([&] {
                  outputs<T> out;
                  out.push_back(loss(in.logits, in.labels, -1, in.mask));
                  auto vg = xloss::value_and_grad(loss, in.logits, in.labels, -1, in.batch_mask);
                  out.push_back(std::move(vg.value));
                  out.push_back(std::move(vg.grad));
                  out.push_back(loss(in.nchw, in.nchw_labels, 1, in.nchw_mask));
                  auto vg2 = xloss::value_and_grad(loss, in.nchw, in.nchw_labels, 1);
                  out.push_back(std::move(vg2.value));
                  out.push_back(std::move(vg2.grad));
                  return out;
              }) == 0);
    }
    SECTION("kl_divergence")
    {
        const xt::xarray<T> logp = xt::log(in.probs);
        CHECK(mismatches_under_two_threads<T>([&] {
                  outputs<T> out = floating_loss_work(xloss::kl_divergence, in);
                  out.push_back(xloss::kl_divergence(logp, in.probs, -1, in.mask));
                  return out;
              }) == 0);
    }
    SECTION("convex_kl_divergence")
    {
        CHECK(mismatches_under_two_threads<T>([&] { return floating_loss_work(xloss::convex_kl_divergence, in); }) == 0);
    }
    SECTION("cosine_similarity")
    {
        CHECK(mismatches_under_two_threads<T>([&] {
                  outputs<T> out = floating_loss_work(xloss::cosine_similarity, in);
                  const outputs<T> eps = floating_loss_work(xloss::cosine_similarity, in, xloss::cosine_options{1e-3});
                  out.insert(out.end(), eps.begin(), eps.end());
                  return out;
              }) == 0);
    }
    SECTION("cosine_distance")
    {
        CHECK(mismatches_under_two_threads<T>([&] { return floating_loss_work(xloss::cosine_distance, in); }) == 0);
    }
    SECTION("sigmoid_focal_loss")
    {
        CHECK(mismatches_under_two_threads<T>([&] {
                  outputs<T> out = floating_loss_work(xloss::sigmoid_focal_loss, in);
                  const outputs<T> opt =
                      floating_loss_work(xloss::sigmoid_focal_loss, in, xloss::focal_options{0.25, 1.5});
                  out.insert(out.end(), opt.begin(), opt.end());
                  return out;
              }) == 0);
    }
}

TEST_CASE("different losses run concurrently on the same inputs", "[threads]")
{
    // Two different losses on the two threads, sharing inputs and mask.
    const shared_inputs<float> in;
    const auto expected_ce = xloss::softmax_cross_entropy(in.logits, in.probs, -1, in.mask);
    const auto expected_focal = xloss::grad(xloss::sigmoid_focal_loss, in.logits, in.probs, -1, in.mask);
    std::atomic<bool> go{false};
    int bad[2] = {0, 0};
    std::thread a([&] {
        while (!go.load())
        {
            std::this_thread::yield();
        }
        for (int i = 0; i < kIterations; ++i)
        {
            bad[0] += identical(xt::xarray<float>(xloss::softmax_cross_entropy(in.logits, in.probs, -1, in.mask)),
                                xt::xarray<float>(expected_ce))
                          ? 0
                          : 1;
        }
    });
    std::thread b([&] {
        while (!go.load())
        {
            std::this_thread::yield();
        }
        for (int i = 0; i < kIterations; ++i)
        {
            bad[1] += identical(xt::xarray<float>(xloss::grad(xloss::sigmoid_focal_loss, in.logits, in.probs, -1, in.mask)),
                                xt::xarray<float>(expected_focal))
                          ? 0
                          : 1;
        }
    });
    go.store(true);
    a.join();
    b.join();
    CHECK(bad[0] == 0);
    CHECK(bad[1] == 0);
}
