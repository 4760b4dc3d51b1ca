// Must not compile, with one sentence: vjp takes xtensor expressions.
#include <vector>

#include <xloss/xloss.hpp>

int main()
{
    std::vector<double> a = {1.0, 2.0};
    auto d = xloss::vjp(xloss::cosine_similarity, 1.0, a, a);
    return static_cast<int>(d.size());
}
