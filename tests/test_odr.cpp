// ODR hygiene: this and odr_second_tu.cpp both include the umbrella header and
// use the same losses; the program must link and agree with itself.
#include <catch2/catch.hpp>
#include <xloss/xloss.hpp>

double second_tu_loss();

TEST_CASE("the umbrella header links into two translation units")
{
    const xt::xarray<double> logits = {{1.0, 2.0, 3.0}};
    const xt::xarray<int> labels = {2};
    const double here = xloss::softmax_cross_entropy_with_integer_labels(logits, labels)(0);
    CHECK(here == second_tu_loss());
    CHECK(here == Approx(0.40760596444438).epsilon(1e-12));
}
