// Must not compile: softmax_cross_entropy takes probabilities, not class indices.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<int> labels = {{0, 1}};
    auto l = xloss::softmax_cross_entropy(logits, labels);
    return static_cast<int>(l.size());
}
