// Must not compile, with one sentence: at most axis, where and options follow the inputs.
#include <xloss/xloss.hpp>

int main()
{
    xt::xarray<float> a = {{1.f, 2.f}};
    xt::xarray<bool> mask = {{true, false}};
    auto l = xloss::cosine_similarity(a, a, -1, mask, xloss::cosine_options{}, 1);
    return static_cast<int>(l.size());
}
