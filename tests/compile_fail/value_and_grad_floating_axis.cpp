// Must not compile, with one sentence: value_and_grad takes an integer axis.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<double> logits = {{1.0, 2.0}};
    xt::xarray<double> labels = {{0.0, 1.0}};
    auto [value, d] = xloss::value_and_grad(xloss::sigmoid_focal_loss, logits, labels, 0.5,
                                            xloss::focal_options{});
    return static_cast<int>(value.size() + d.size());
}
