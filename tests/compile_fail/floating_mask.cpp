// Must not compile, with one sentence: a where mask holds bool (or integral) values.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> a = {{1.f, 2.f}};
    xt::xarray<float> mask = {{1.f, 0.f}};
    auto l = xloss::kl_divergence(a, a, -1, mask);
    return static_cast<int>(l.size());
}
