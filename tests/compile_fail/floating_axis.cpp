// Must not compile, with one sentence: an axis is an integer, not 1.0.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<float> labels = {{0.f, 1.f}};
    auto l = xloss::softmax_cross_entropy(logits, labels, 1.0);
    return static_cast<int>(l.size());
}
