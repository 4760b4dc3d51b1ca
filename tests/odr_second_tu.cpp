#include <xloss/xloss.hpp>

double second_tu_loss()
{
    const xt::xarray<double> logits = {{1.0, 2.0, 3.0}};
    const xt::xarray<int> labels = {2};
    return xloss::softmax_cross_entropy_with_integer_labels(logits, labels)(0);
}
