// Must not compile: integer labels are not differentiable.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<int> labels = {1};
    auto d = xloss::grad<1>(xloss::softmax_cross_entropy_with_integer_labels, logits, labels);
    return static_cast<int>(d.size());
}
