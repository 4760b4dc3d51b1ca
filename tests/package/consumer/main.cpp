// A user's program: links xloss::xloss and nothing else of ours.
#include <cmath>
#include <cstdio>

#include <xloss/xloss.hpp>
#include <xtensor/xarray.hpp>

int main()
{
    const xt::xarray<double> logits = {{1.0, 2.0, 3.0}};
    const xt::xarray<int> labels = {2};
    const auto loss = xloss::softmax_cross_entropy_with_integer_labels(logits, labels);
    const double expected = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
    std::printf("xloss %d.%d.%d: loss %.8f (expected %.8f)\n", XLOSS_VERSION_MAJOR, XLOSS_VERSION_MINOR,
                XLOSS_VERSION_PATCH, loss(0), expected);
    return std::abs(loss(0) - expected) < 1e-12 ? 0 : 1;
}
