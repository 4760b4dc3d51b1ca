// Must not compile, with one sentence: grad takes the call forms of the loss.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<float> labels = {{0.f, 1.f}};
    auto d = xloss::grad(xloss::softmax_cross_entropy, logits, labels, -1, true);
    return static_cast<int>(d.size());
}
