// xloss: Optax's training losses for xtensor expressions, with axis and
// where, on xsimd kernels, with gradients. Include this header for all of it.
#ifndef XLOSS_XLOSS_HPP
#define XLOSS_XLOSS_HPP

#include "config.hpp"
#include "axes.hpp"
#include "cross_entropy.hpp"
#include "kl_divergence.hpp"
#include "cosine.hpp"
#include "focal.hpp"
#include "binary_cross_entropy.hpp"
#include "poly_loss.hpp"
#include "regression.hpp"
#include "reductions.hpp"
#include "grad.hpp"

#endif
