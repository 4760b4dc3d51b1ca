// Must not compile, with one sentence: a std::vector is not an xtensor expression.
#include <vector>

#include <xloss/xloss.hpp>

int main()
{
    std::vector<float> a = {1.f, 2.f};
    auto l = xloss::cosine_similarity(a, a);
    return static_cast<int>(l.size());
}
