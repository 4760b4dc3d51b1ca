// Must not compile: the integer-label loss takes class indices, not probabilities.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<float> labels = {1.f};
    auto l = xloss::softmax_cross_entropy_with_integer_labels(logits, labels);
    return static_cast<int>(l.size());
}
