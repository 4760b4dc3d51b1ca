// Must not compile, with one sentence: focal loss does not take cosine_options.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> logits = {{1.f, 2.f}};
    xt::xarray<float> labels = {{0.f, 1.f}};
    auto l = xloss::sigmoid_focal_loss(logits, labels, -1, xloss::cosine_options{1e-8});
    return static_cast<int>(l.size());
}
