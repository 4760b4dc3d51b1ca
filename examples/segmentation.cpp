// Semantic segmentation: per-pixel cross entropy on NCHW logits [N, C, H, W],
// reduced over the class axis (axis = 1) with no transpose, integer labels
// [N, H, W], and the usual "255 = ignore" convention as a where mask
// [N, H, W] (the batch rank: it masks whole pixels). Ignored pixels keep
// their out-of-range label 255; xloss does not check labels it does not read.
// Then the sigmoid focal loss on per-class binary masks (one-hot targets), as
// used for dense detection and multi-label segmentation.
//
// Checks: the loss at a few pixels against a direct computation; ignored
// pixels give exactly 0 (and throw out_of_range when not masked); the focal
// loss over classes equals the elementwise focal loss (xloss::no_axes) summed
// and matches a direct computation at a pixel. Exits non-zero otherwise.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>

#include <xloss/xloss.hpp>
#include <xtensor/xoperation.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

namespace
{
    constexpr std::size_t N = 2, C = 5, H = 7, W = 9;
    constexpr std::uint8_t ignore_label = 255;
}

int main()
{
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.5f);
    std::uniform_int_distribution<int> cls(0, C - 1);
    std::bernoulli_distribution ignored(0.15);

    xt::xtensor<float, 4> logits = xt::zeros<float>({N, C, H, W});
    for (auto& v : logits)
    {
        v = normal(rng);
    }
    xt::xtensor<std::uint8_t, 3> labels = xt::zeros<std::uint8_t>({N, H, W});
    for (auto& l : labels)
    {
        l = ignored(rng) ? ignore_label : static_cast<std::uint8_t>(cls(rng));
    }
    // Element-wise comparison (operator!= on xtensor expressions compares whole arrays).
    const xt::xtensor<bool, 3> valid = xt::not_equal(labels, ignore_label);

    // --- cross entropy over classes, axis = 1 -------------------------------
    const auto loss = xloss::softmax_cross_entropy_with_integer_labels(logits, labels, 1, valid);  // [N, H,
                                                                                                   // W]
    const float n_valid = static_cast<float>(xt::sum(valid)());
    const float mean = xt::sum(loss)() / n_valid;

    std::size_t per_class[C] = {};
    std::size_t n_ignored = 0;
    for (auto l : labels)
    {
        (l == ignore_label ? n_ignored : per_class[l]) += 1;
    }
    std::printf("logits [%zu, %zu, %zu, %zu], axis = 1\n", N, C, H, W);
    std::printf("pixels per class:");
    for (std::size_t c = 0; c < C; ++c)
    {
        std::printf(" %zu:%zu", c, per_class[c]);
    }
    std::printf("  ignored (255): %zu\n", n_ignored);
    std::printf("mean cross entropy over %g valid pixels: %.6f\n", n_valid, mean);

    int failures = 0;
    auto expect = [&](bool ok, const char* what)
    {
        std::printf("  %-62s %s\n", what, ok ? "ok" : "FAILED");
        failures += ok ? 0 : 1;
    };

    // A few pixels by hand: logsumexp over the class axis minus the label's logit.
    const std::size_t pixels[][3] = {{0, 0, 0}, {0, 3, 4}, {1, 6, 8}, {1, 2, 5}, {0, 6, 0}};
    bool pixels_ok = true;
    for (const auto& p : pixels)
    {
        const std::size_t n = p[0], h = p[1], w = p[2];
        double want = 0;
        if (valid(n, h, w))
        {
            double m = -INFINITY, z = 0;
            for (std::size_t c = 0; c < C; ++c)
            {
                m = std::max(m, static_cast<double>(logits(n, c, h, w)));
            }
            for (std::size_t c = 0; c < C; ++c)
            {
                z += std::exp(logits(n, c, h, w) - m);
            }
            want = m + std::log(z) - logits(n, labels(n, h, w), h, w);
        }
        const bool ok = std::abs(loss(n, h, w) - want) <= 1e-5 * std::max(1.0, want);
        std::printf("  pixel (%zu, %zu, %zu) label %3d: xloss %.6f, direct %.6f%s\n", n, h, w,
                    labels(n, h, w), loss(n, h, w), want, ok ? "" : "  MISMATCH");
        pixels_ok = pixels_ok && ok;
    }
    expect(pixels_ok, "cross entropy at sample pixels matches the direct computation");
    bool ignored_zero = true;
    for (std::size_t i = 0; i < labels.size(); ++i)
    {
        ignored_zero = ignored_zero && (valid.data()[i] || loss.data()[i] == 0.0f);
    }
    expect(ignored_zero, "ignored pixels (label 255) contribute exactly 0");
    // Without the mask, 255 is an ordinary label, and out of range for C classes.
    bool threw = false;
    try
    {
        (void)xloss::softmax_cross_entropy_with_integer_labels(logits, labels, 1);
    }
    catch (const std::out_of_range& e)
    {
        threw = true;
        std::printf("  unmasked call: std::out_of_range: %s\n", e.what());
    }
    expect(threw, "without the mask, label 255 throws std::out_of_range");

    // --- sigmoid focal loss on per-class binary masks -------------------------
    // Target c at a pixel is 1 where the pixel belongs to class c: C independent
    // binary masks. alpha = 0.25, gamma = 2 as in RetinaNet.
    xt::xtensor<float, 4> targets = xt::zeros<float>({N, C, H, W});
    for (std::size_t n = 0; n < N; ++n)
    {
        for (std::size_t h = 0; h < H; ++h)
        {
            for (std::size_t w = 0; w < W; ++w)
            {
                if (valid(n, h, w))
                {
                    targets(n, labels(n, h, w), h, w) = 1.0f;
                }
            }
        }
    }
    const xloss::focal_options focal{0.25, 2.0};
    const auto focal_per_pixel = xloss::sigmoid_focal_loss(logits, targets, 1, valid, focal);  // [N, H, W]
    std::printf("mean focal loss over valid pixels: %.6f\n", xt::sum(focal_per_pixel)() / n_valid);

    // The same mask at the input's rank, [N, 1, H, W], broadcasts over classes;
    // with no_axes it gives Optax's elementwise focal loss.
    const auto valid4 = xt::view(valid, xt::all(), xt::newaxis(), xt::all(), xt::all());
    const auto focal_elementwise = xloss::sigmoid_focal_loss(logits, targets, xloss::no_axes, valid4, focal);
    const float summed = xt::sum(focal_elementwise, {1})(0, 0, 0);
    expect(std::abs(summed - focal_per_pixel(0, 0, 0)) <= 1e-6f * std::max(1.0f, summed)
               && std::abs(xt::sum(focal_elementwise)() - xt::sum(focal_per_pixel)())
                      <= 1e-5f * xt::sum(focal_per_pixel)(),
           "focal over axis 1 == elementwise focal (no_axes) summed");

    // One pixel's focal loss by hand: p = sigmoid(x), ce = -log(p_t),
    // loss = alpha_t (1 - p_t)^2 ce, summed over the C binary masks.
    {
        const std::size_t n = 1, h = 3, w = 2;
        double want = 0;
        for (std::size_t c = 0; valid(n, h, w) && c < C; ++c)
        {
            const double x = logits(n, c, h, w), y = targets(n, c, h, w);
            const double p = 1 / (1 + std::exp(-x));
            const double p_t = y * p + (1 - y) * (1 - p);
            const double alpha_t = y * 0.25 + (1 - y) * 0.75;
            want += alpha_t * (1 - p_t) * (1 - p_t) * -std::log(p_t);
        }
        std::printf("  focal at pixel (%zu, %zu, %zu): xloss %.6f, direct %.6f\n", n, h, w,
                    focal_per_pixel(n, h, w), want);
        expect(valid(n, h, w) && std::abs(focal_per_pixel(n, h, w) - want) <= 1e-5 * std::max(1.0, want),
               "focal loss at a pixel matches the direct computation");
    }

    std::printf("%s\n", failures == 0 ? "segmentation: all checks pass" : "segmentation: FAILED");
    return failures == 0 ? 0 : 1;
}
