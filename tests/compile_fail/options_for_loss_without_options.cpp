// Must not compile, with one sentence: kl_divergence takes no options.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> a = {{1.f, 2.f}};
    auto l = xloss::kl_divergence(a, a, xloss::focal_options{});
    return static_cast<int>(l.size());
}
