// Must not compile, with one sentence: a scalar bool is not a where mask.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<float> labels = {{0.f, 1.f}};
    auto l = xloss::softmax_cross_entropy(logits, labels, -1, true);
    return static_cast<int>(l.size());
}
