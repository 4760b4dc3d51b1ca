// The catalogue of losses: one entry per loss with everything the generic
// tests and the fuzzer know about it (its function object, its options and
// representative values of them, input generators for its domain, which
// inputs are differentiable, a long-double reference of one slice, and the
// properties that do not hold for it). Generic tests iterate over
// `catalogue` (Catch2's TEMPLATE_LIST_TEST_CASE, or for_each_entry) and never
// name a loss: a new loss adds an entry here, not a copy of every test.
//
// The order of `catalogue` is fixed: the fuzzer's loss byte indexes it, so
// that its corpus and regression inputs keep their meaning. New losses are
// appended.
//
// Every entry E has:
//   E::name, E::loss                  "xloss::<name>" and the public function object
//   E::integer_labels                 y holds one class index per slice (batch shape)
//   E::differentiable                 {d/dx, d/dy} exist
//   E::options, E::has_options        the option aggregate (no_options when none)
//   E::option_cases()                 representative options, the defaults first
//   E::invalid_option_cases()         options the loss rejects, each with its message
//                                     after "xloss::<name>: " ("option alpha = 1.5 is outside [0, 1]")
//   E::options_from(values)           options from named values (reference file, fuzzer)
//   E::describe(options)              the options, for messages
//   E::call / grad / vjp / value_and_grad (o, args...)
//                                     the entry points with the options last (dropped
//                                     when the loss has none)
//   E::make_x<T>(shape, seed)         first input, inside the domain where the loss is smooth
//   E::make_y<T>(shape, reduced, seed) second input likewise (reduced: the reduced axes,
//                                     in the listed order; labels of the batch shape)
//   E::make_hard<T>(x, y, slice_size, seed)
//                                     adds the domain's special points to smooth inputs
//                                     (-inf logits on zero labels, zero targets, zero
//                                     vectors, saturated logits), for value-level checks
//   E::reference<T>(slice_in, options)  long-double value and gradients of one slice
//   E::in_domain(x, y)                is a selected element where the reference means something
//   E::scale_free                     the value does not scale with the inputs' magnitude
//   E::one_element_grad_is_rounding   on a one-element slice the gradient is 0 up to
//                                     rounding that no relative tolerance can compare
#ifndef XLOSS_TESTS_CATALOGUE_HPP
#define XLOSS_TESTS_CATALOGUE_HPP

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include <xloss/xloss.hpp>

#include "random.hpp"
#include "slice_reference.hpp"

namespace xloss_test
{
    // The backend's inline namespace (xloss/config.hpp): test_simd_vs_scalar
    // compiles these helpers on both backends into one program, and they must
    // not be merged at link time.
    inline namespace XLOSS_ABI_NAMESPACE
    {
        using shape_t = std::vector<std::size_t>;

        // The options of a loss that has none (never passed to it).
        struct no_options
        {
        };

        // Options a loss must reject with std::invalid_argument, and the whole
        // message after "xloss::<name>: ".
        template <class Options>
        struct invalid_option
        {
            Options options;
            std::string message;
        };

        // Named option values: "epsilon", "alpha" (nullopt: none), "gamma".
        using option_values = std::map<std::string, std::optional<double>>;

        // The batch shape: `shape` without the reduced axes.
        inline shape_t batch_shape_of(const shape_t& shape, const std::vector<std::size_t>& reduced)
        {
            shape_t b;
            for (std::size_t a = 0; a < shape.size(); ++a)
            {
                if (std::find(reduced.begin(), reduced.end(), a) == reduced.end())
                {
                    b.push_back(shape[a]);
                }
            }
            return b;
        }

        // options_from / describe of an option aggregate with one double member.
        template <class Options>
        Options one_option_from(const option_values& v, const char* key, double Options::*member)
        {
            Options o;
            if (v.count(key) && v.at(key))
            {
                o.*member = *v.at(key);
            }
            return o;
        }

        template <class Options>
        std::string describe_one_option(const Options& o, const char* key, double Options::*member)
        {
            std::ostringstream s;
            s << key << " " << o.*member;
            return s.str();
        }

        // What every entry shares: the entry points with the options appended.
        template <class Self, class Options>
        struct entry_base
        {
            using options = Options;
            static constexpr bool has_options = !std::is_same_v<Options, no_options>;

            // f(a..., o), or f(a...) when the loss has no options.
            template <class F, class... A>
            static decltype(auto) with_options(const options& o, F&& f, const A&... a)
            {
                if constexpr (has_options)
                {
                    return f(a..., o);
                }
                else
                {
                    (void)o;
                    return f(a...);
                }
            }

            template <class... A>
            static auto call(const options& o, const A&... a)
            {
                return with_options(
                    o, [](const auto&... b) { return Self::loss(b...); }, a...);
            }

            template <std::size_t... I, class... A>
            static auto grad(const options& o, const A&... a)
            {
                return with_options(
                    o, [](const auto&... b) { return xloss::grad<I...>(Self::loss, b...); }, a...);
            }

            template <std::size_t... I, class... A>
            static auto vjp(const options& o, const A&... a)
            {
                return with_options(
                    o, [](const auto&... b) { return xloss::vjp<I...>(Self::loss, b...); }, a...);
            }

            template <std::size_t... I, class... A>
            static auto value_and_grad(const options& o, const A&... a)
            {
                return with_options(
                    o, [](const auto&... b) { return xloss::value_and_grad<I...>(Self::loss, b...); }, a...);
            }

            static std::vector<options> option_cases()
            {
                return {options{}};
            }

            static std::vector<invalid_option<options>> invalid_option_cases()
            {
                return {};
            }

            static options options_from(const option_values&)
            {
                return options{};
            }

            static std::string describe(const options&)
            {
                return "default options";
            }

            // The weight each slice that takes part counts for in xloss::mean's D.
            static ld mean_weight(const options&)
            {
                return 1;
            }

            // The label whose slices take no part (ignore_index), if any.
            static std::optional<long long> ignored_label(const options&)
            {
                return std::nullopt;
            }

            template <class T, class X, class Y>
            static void make_hard(X&, Y&, std::size_t, unsigned)
            {
            }

            static constexpr bool scale_free = false;
            static constexpr bool one_element_grad_is_rounding = false;
        };

        // ---------------------------------------------------------------------
        // Cross entropy

        namespace detail
        {
            // The softmax normaliser over the selected elements: the shift (the
            // largest selected logit, 0 when that is infinite), z and log(z).
            struct normaliser
            {
                ld shift, z, logz;
            };

            // The one value of a 0-d weight array, 1 when none is given.
            inline ld scalar_weight(const std::optional<xt::xarray<double>>& a)
            {
                return a ? static_cast<ld>(a->flat(0)) : ld(1);
            }

            inline normaliser softmax_normaliser(const slice_in& in)
            {
                ld mx = -std::numeric_limits<ld>::infinity();
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        mx = std::max(mx, in.x[k]);
                    }
                }
                const ld shift = std::isinf(mx) ? 0 : mx;
                ld z = 0;
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    z += in.sel[k] ? std::exp(in.x[k] - shift) : 0;
                }
                return {shift, z, std::log(z)};
            }
        }

        // What both cross entropies share of their options in the catalogue.
        template <class Self>
        struct cross_entropy_entry_base : entry_base<Self, xloss::cross_entropy_options>
        {
            using options = xloss::cross_entropy_options;

            // Defaults; label smoothing; z-loss; full smoothing with z-loss; class
            // weights (0-d, so that the slice reference takes one number: the
            // test file checks [C] and full-shape weights against PyTorch) with
            // both. The last case is the one the generic gradient tests use.
            static std::vector<options> option_cases()
            {
                return {options{}, options{0.1, std::nullopt, 0, std::nullopt},
                        options{0, std::nullopt, 0.01, std::nullopt}, options{1, std::nullopt, 0.05, std::nullopt},
                        options{0.2, std::nullopt, 0.02, xt::xarray<double>(0.5)}};
            }

            static std::vector<invalid_option<options>> invalid_option_cases()
            {
                const double nan = std::numeric_limits<double>::quiet_NaN();
                return {{options{1.5, std::nullopt, 0, std::nullopt}, "option label_smoothing = 1.5 is outside [0, 1]"},
                        {options{-0.1, std::nullopt, 0, std::nullopt},
                         "option label_smoothing = -0.1 is outside [0, 1]"},
                        {options{nan, std::nullopt, 0, std::nullopt}, "option label_smoothing = nan is outside [0, 1]"},
                        {options{0, std::nullopt, -1, std::nullopt}, "option z_loss = -1 is outside [0, inf)"},
                        {options{0, std::nullopt, nan, std::nullopt}, "option z_loss = nan is outside [0, inf)"}};
            }

            // The fuzzer's named values: alpha is the label smoothing (none: 0,
            // and with integer labels ignore_index 1), epsilon the z-loss, gamma
            // a 0-d class weight (0 among them).
            static options options_from(const option_values& v)
            {
                options o;
                if (v.count("alpha") && v.at("alpha"))
                {
                    o.label_smoothing = *v.at("alpha");
                }
                else if (Self::integer_labels)
                {
                    o.ignore_index = 1;
                }
                if (v.count("epsilon") && v.at("epsilon"))
                {
                    o.z_loss = *v.at("epsilon");
                }
                if (v.count("gamma") && v.at("gamma") && std::isfinite(*v.at("gamma")))
                {
                    o.class_weights = xt::xarray<double>(*v.at("gamma"));
                }
                return o;
            }

            // The weight a slice counts for in xloss::mean (the 0-d class weight
            // with integer labels: PyTorch's weighted mean).
            static ld mean_weight(const options& o)
            {
                return Self::integer_labels ? detail::scalar_weight(o.class_weights) : ld(1);
            }

            static std::optional<long long> ignored_label(const options& o)
            {
                if (o.ignore_index)
                {
                    return static_cast<long long>(*o.ignore_index);
                }
                return std::nullopt;
            }

            static std::string describe(const options& o)
            {
                std::ostringstream s;
                s << "label_smoothing " << o.label_smoothing << ", z_loss " << o.z_loss;
                if (o.ignore_index)
                {
                    s << ", ignore_index " << *o.ignore_index;
                }
                if (o.class_weights)
                {
                    s << ", class_weights " << o.class_weights->flat(0);
                }
                return s.str();
            }
        };

        namespace detail
        {
            // The options' terms of one slice, on r holding the plain loss (value
            // and gradients) of the slice: the label share scaled by 1 - eps, the
            // smoothing term added, both times the (0-d) class weight w, then the
            // z-loss and its gradient w.r.t. the logits.
            template <class T>
            void add_options(const slice_in& in, const normaliser& nz, const xloss::cross_entropy_options& o,
                             slice_result& r)
            {
                const ld eps = o.label_smoothing, zl = o.z_loss, g = in.g, ag = budget_of(g);
                const ld w = scalar_weight(o.class_weights), aw = std::fabs(w);
                std::size_t K = 0;
                ld sum_shifted = 0, abs_shifted = 0;
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        ++K;
                        sum_shifted += in.x[k] - nz.shift;
                        abs_shifted += std::fabs(in.x[k] - nz.shift);
                    }
                }
                const ld lse = nz.shift + nz.logz;
                const ld smooth = eps * (nz.logz - sum_shifted / static_cast<ld>(K));
                const ld z = zl * lse * lse;
                const ld label_part = eps == 1 ? 0 : (1 - eps) * r.value.value;  // 0, even where it is inf
                r.value.value = (w == 0 ? 0 : w * (label_part + smooth)) + z;
                r.value.scale = aw * ((1 - eps) * r.value.scale + eps * (std::fabs(nz.logz) + abs_shifted / K + 1))
                                + zl * (std::fabs(lse) + 1) * (std::fabs(lse) + 1);
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        const ld p = std::exp(in.x[k] - nz.shift) / nz.z;
                        r.dx[k].value = w * ((1 - eps) * r.dx[k].value + g * eps * (p - 1 / static_cast<ld>(K)))
                                        + g * 2 * zl * lse * p;
                        r.dx[k].scale = aw * (r.dx[k].scale + ag * eps) + ag * 2 * zl * (std::fabs(lse) + 1);
                        r.dy[k].value = eps == 1 || w == 0 ? 0 : w * (1 - eps) * r.dy[k].value;
                        r.dy[k].scale *= aw;
                    }
                }
            }

            inline bool any_option(const xloss::cross_entropy_options& o)
            {
                return o.label_smoothing != 0 || o.z_loss != 0 || o.class_weights;
            }
        }

        struct softmax_cross_entropy_entry : cross_entropy_entry_base<softmax_cross_entropy_entry>
        {
            static constexpr const char* name = "softmax_cross_entropy";
            static constexpr const auto& loss = xloss::softmax_cross_entropy;
            static constexpr bool integer_labels = false;
            static constexpr std::array<bool, 2> differentiable{true, true};

            template <class T>
            static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
            {
                return random_normal<T>(shape, 1.5, seed);
            }

            template <class T>
            static xt::xarray<T> make_y(const shape_t& shape, const std::vector<std::size_t>&, unsigned seed)
            {
                return shape.empty() ? random_uniform<T>(shape, 0, 1, seed)
                                     : random_probabilities<T>(shape, -1, seed);
            }

            // -inf logits with zero labels, one element in 7, where a slice has
            // other elements (a slice of only -inf logits has no softmax).
            template <class T, class X, class Y>
            static void make_hard(X& x, Y& y, std::size_t slice_size, unsigned)
            {
                for (std::size_t i = 0; i < x.size() && slice_size >= 4; i += 7)
                {
                    x.flat(i) = -std::numeric_limits<T>::infinity();
                    y.flat(i) = 0;
                }
            }

            template <class T>
            static slice_result reference(const slice_in& in, const options& o)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;  // 0 for every loss, gradients 0
                }
                const ld g = in.g, ag = budget_of(g);
                const auto [shift, z, logz] = detail::softmax_normaliser(in);
                ld value = 0, scale = 0, sy = 0, say = 0;
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k] && in.y[k] != 0)
                    {
                        const ld d = in.x[k] - shift;
                        value += in.y[k] * (logz - d);
                        scale += std::fabs(in.y[k]) * (std::fabs(logz) + std::fabs(d) + 1);
                        sy += in.y[k];
                        say += std::fabs(in.y[k]);
                    }
                }
                r.value = {value, scale, say * tiny<T>()};
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        const ld d = in.x[k] - shift;
                        const ld p = std::exp(d) / z;
                        r.dx[k] = {g * (sy * p - in.y[k]), ag * (say * p + std::fabs(in.y[k])),
                                   ag * say * tiny<T>()};
                        r.dy[k] = {g * (logz - d), ag * (std::fabs(logz) + std::fabs(d) + 1), 0};
                    }
                }
                if (detail::any_option(o))
                {
                    detail::add_options<T>(in, detail::normaliser{shift, z, logz}, o, r);
                }
                return r;
            }

            // -inf logits are in the contract (with any label: +inf or 0 contribution).
            static bool in_domain(ld x, ld y)
            {
                return !std::isnan(x) && x != std::numeric_limits<ld>::infinity() && std::isfinite(y);
            }
        };

        struct softmax_cross_entropy_with_integer_labels_entry
            : cross_entropy_entry_base<softmax_cross_entropy_with_integer_labels_entry>
        {
            static constexpr const char* name = "softmax_cross_entropy_with_integer_labels";
            static constexpr const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
            static constexpr bool integer_labels = true;
            static constexpr std::array<bool, 2> differentiable{true, false};

            template <class T>
            static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
            {
                return random_normal<T>(shape, 1.5, seed);
            }

            // Labels of the batch shape in [0, n), n the slice's size.
            template <class T>
            static xt::xarray<int> make_y(const shape_t& shape,
                                          const std::vector<std::size_t>& reduced,
                                          unsigned seed)
            {
                std::size_t n = 1;
                for (auto a : reduced)
                {
                    n *= shape[a];
                }
                return random_labels(batch_shape_of(shape, reduced), n, seed);
            }

            template <class T>
            static slice_result reference(const slice_in& in, const options& o)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                const ld g = in.g, ag = budget_of(g);
                const auto [shift, z, logz] = detail::softmax_normaliser(in);
                const auto l = static_cast<std::size_t>(in.label);
                if (!in.sel[l])
                {
                    r.value = {std::numeric_limits<ld>::infinity(), 0, 0};
                }
                else
                {
                    const ld d = in.x[l] - shift;
                    r.value = {logz - d, std::fabs(logz) + std::fabs(d) + 1, 0};
                }
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        const ld p = std::exp(in.x[k] - shift) / z;
                        const ld onehot = (k == l) ? 1 : 0;
                        r.dx[k] = {g * (p - onehot), ag * (p + 1), ag * tiny<T>()};
                    }
                }
                if (detail::any_option(o))
                {
                    detail::add_options<T>(in, detail::normaliser{shift, z, logz}, o, r);
                }
                return r;
            }

            static bool in_domain(ld x, ld)
            {
                return !std::isnan(x) && x != std::numeric_limits<ld>::infinity();
            }
        };

        // ---------------------------------------------------------------------
        // KL divergence

        namespace detail
        {
            template <class T>
            slice_result kl_reference(const slice_in& in, bool convex)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                const ld g = in.g, ag = budget_of(g);
                approx v;
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (!in.sel[k])
                    {
                        continue;
                    }
                    const ld lp = in.x[k], t = in.y[k];
                    const ld log_t = t != 0 ? std::log(t) : 0;
                    if (ignoring("double_denormal_log") && std::is_same_v<T, double> && t > 0
                        && t < tiny<T>())
                    {
                        r.grad_checkable = false;  // known: xsimd 8.1's double log is wrong for denormals
                    }
                    if (t != 0)
                    {
                        v.value += t * (log_t - lp);
                        v.scale += std::fabs(t) * (std::fabs(log_t) + std::fabs(lp) + 1);
                        v.floor += tiny<T>();
                    }
                    ld dx = -t, dxs = std::fabs(t);
                    ld dy = (t != 0 ? log_t + 1 : 0) - lp, dys = std::fabs(log_t) + 2 + std::fabs(lp);
                    if (convex)
                    {
                        const ld e = std::exp(lp);
                        v.value += e - t;
                        v.scale += e + std::fabs(t);
                        v.floor += tiny<T>();
                        dx += e;
                        dxs += e;
                        dy -= 1;
                    }
                    r.dx[k] = {g * dx, ag * dxs, ag * tiny<T>()};
                    r.dy[k] = {g * dy, ag * dys, 0};
                }
                r.value = v;
                return r;
            }

            template <class Self>
            struct kl_entry : entry_base<Self, no_options>
            {
                static constexpr bool integer_labels = false;
                static constexpr std::array<bool, 2> differentiable{true, true};

                // log-predictions in about [-3, 0], targets in [0.05, 1)
                template <class T>
                static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
                {
                    return xt::xarray<T>(random_normal<T>(shape, 0.5, seed) - T(1.5));
                }

                template <class T>
                static xt::xarray<T> make_y(const shape_t& shape,
                                            const std::vector<std::size_t>&,
                                            unsigned seed)
                {
                    return random_uniform<T>(shape, 0.05, 1.0, seed);
                }

                // Zero targets, one element in 5.
                template <class T, class X, class Y>
                static void make_hard(X&, Y& y, std::size_t, unsigned)
                {
                    for (std::size_t i = 0; i < y.size(); i += 5)
                    {
                        y.flat(i) = 0;
                    }
                }

                static bool in_domain(ld x, ld y)
                {
                    return std::isfinite(x) && std::isfinite(y) && y >= 0;
                }
            };
        }

        struct kl_divergence_entry : detail::kl_entry<kl_divergence_entry>
        {
            static constexpr const char* name = "kl_divergence";
            static constexpr const auto& loss = xloss::kl_divergence;

            template <class T>
            static slice_result reference(const slice_in& in, const options&)
            {
                return detail::kl_reference<T>(in, false);
            }
        };

        struct convex_kl_divergence_entry : detail::kl_entry<convex_kl_divergence_entry>
        {
            static constexpr const char* name = "convex_kl_divergence";
            static constexpr const auto& loss = xloss::convex_kl_divergence;

            template <class T>
            static slice_result reference(const slice_in& in, const options&)
            {
                return detail::kl_reference<T>(in, true);
            }
        };

        // ---------------------------------------------------------------------
        // Cosine

        namespace detail
        {
            // Bug (XLOSS_FUZZ_IGNORE=cosine_tiny): a vector whose largest selected
            // magnitude is a denormal below 1 / max() takes the rescaled path,
            // where 1 / scale overflows to inf; and with epsilon > 0, epsilon /
            // scale^2 overflows to inf below sqrt(epsilon / max()), and the
            // gradient of that vector comes out 0.
            template <class T>
            bool cosine_tiny(const slice_in& in, ld eps)
            {
                ld max_a = 0, max_b = 0;
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        max_a = std::max(max_a, std::fabs(in.x[k]));
                        max_b = std::max(max_b, std::fabs(in.y[k]));
                    }
                }
                const ld big = static_cast<ld>(std::numeric_limits<T>::max());
                const ld limit = std::max(1 / big, eps > 0 ? 4 * std::sqrt(eps / big) : ld(0));
                return (max_a > 0 && max_a < limit) || (max_b > 0 && max_b < limit);
            }

            // The library works in units of s = 2^ilogb(largest magnitude)
            // (bounded below when epsilon > 0, see scale_of in cosine.hpp) and
            // multiplies by g and then 1 / s last: what underflows in the scaled
            // units (below min() there) is lost, and comes back multiplied by
            // 1 / s. That is the absolute floor of a gradient entry:
            // (2 |g| + 1) min() / s, where s < 1.
            inline ld cosine_unit(const std::vector<ld>& v, const std::vector<char>& sel, ld eps)
            {
                ld largest = 0;
                for (std::size_t k = 0; k < v.size(); ++k)
                {
                    if (sel[k])
                    {
                        largest = std::max(largest, std::fabs(v[k]));
                    }
                }
                if (!(largest > 0) || !std::isfinite(largest))
                {
                    return ld(1);
                }
                int e = std::ilogb(largest);
                if (eps > 0)
                {
                    e = std::max(e, std::ilogb(std::sqrt(eps)) - 40);
                }
                return std::min(ld(1), std::ldexp(ld(1), e));
            }

            template <class T>
            slice_result cosine_reference(const slice_in& in, double epsilon, bool distance)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                const ld g = in.g, ag = budget_of(g);
                const std::size_t n = in.x.size();
                const ld eps = static_cast<ld>(static_cast<T>(epsilon));
                ld dot = 0, aa = 0, bb = 0, sab = 0;
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (in.sel[k])
                    {
                        dot += in.x[k] * in.y[k];
                        sab += std::fabs(in.x[k] * in.y[k]);
                        aa += in.x[k] * in.x[k];
                        bb += in.y[k] * in.y[k];
                    }
                }
                if (ignoring("cosine_tiny") && cosine_tiny<T>(in, eps))
                {
                    r.value.value = std::numeric_limits<ld>::quiet_NaN();  // no claim
                    r.grad_checkable = false;
                    return r;
                }
                const ld na = std::sqrt(std::max(aa, eps)), nb = std::sqrt(std::max(bb, eps));
                const ld denom = na * nb;
                const ld cosine = denom == 0 ? 0 : dot / denom;
                const ld cs = denom == 0 ? 0 : sab / denom;
                r.value = {distance ? 1 - cosine : cosine, cs + 1, 0};
                // The gradient jumps where a squared norm crosses epsilon.
                const auto near = [&](ld n2) { return eps > 0 && std::fabs(n2 - eps) <= 1e-3L * eps; };
                r.grad_checkable = !near(aa) && !near(bb);
                if (denom == 0)
                {
                    return r;
                }
                const ld gg = distance ? -g : g;
                const ld self_a = aa > eps ? cosine / (na * na) : 0;
                const ld self_b = bb > eps ? cosine / (nb * nb) : 0;
                const ld underflow = (2 * std::fabs(gg) + 1) * tiny<T>();
                const ld floor_a = underflow / cosine_unit(in.x, in.sel, eps);
                const ld floor_b = underflow / cosine_unit(in.y, in.sel, eps);
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (in.sel[k])
                    {
                        const ld a = in.x[k], b = in.y[k];
                        r.dx[k] = {gg * (b / denom - self_a * a),
                                   ag * (std::fabs(b) / denom + std::fabs(a) * (cs + 1) / (na * na)),
                                   floor_a};
                        r.dy[k] = {gg * (a / denom - self_b * b),
                                   ag * (std::fabs(a) / denom + std::fabs(b) * (cs + 1) / (nb * nb)),
                                   floor_b};
                    }
                }
                return r;
            }

            template <class Self, bool Distance>
            struct cosine_entry : entry_base<Self, xloss::cosine_options>
            {
                using options = xloss::cosine_options;
                static constexpr bool integer_labels = false;
                static constexpr std::array<bool, 2> differentiable{true, true};
                static constexpr bool scale_free = true;
                // cos of one element is sign(a b): its gradient is 0 up to the
                // rounding of two terms of size 1 / |a|.
                static constexpr bool one_element_grad_is_rounding = true;

                // The default; an epsilon that clips the squared norm of the odd
                // short slice; one that clips many.
                static std::vector<options> option_cases()
                {
                    return {options{}, options{1e-3}, options{0.3}};
                }

                static std::vector<invalid_option<options>> invalid_option_cases()
                {
                    return {{options{-1}, "option epsilon = -1 is outside [0, inf)"},
                            {options{std::numeric_limits<double>::quiet_NaN()},
                             "option epsilon = nan is outside [0, inf)"},
                            {options{std::numeric_limits<double>::infinity()},
                             "option epsilon = inf is outside [0, inf)"}};
                }

                static options options_from(const option_values& v)
                {
                    return one_option_from(v, "epsilon", &options::epsilon);
                }

                static std::string describe(const options& o)
                {
                    return describe_one_option(o, "epsilon", &options::epsilon);
                }

                template <class T>
                static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
                {
                    return random_normal<T>(shape, 1.0, seed);
                }

                template <class T>
                static xt::xarray<T> make_y(const shape_t& shape,
                                            const std::vector<std::size_t>&,
                                            unsigned seed)
                {
                    return xt::xarray<T>(random_normal<T>(shape, 1.0, seed) + T(0.3));
                }

                // Zero elements of the first input, one in 3.
                template <class T, class X, class Y>
                static void make_hard(X& x, Y&, std::size_t, unsigned)
                {
                    for (std::size_t i = 0; i < x.size(); i += 3)
                    {
                        x.flat(i) = 0;
                    }
                }

                template <class T>
                static slice_result reference(const slice_in& in, const options& o)
                {
                    return cosine_reference<T>(in, o.epsilon, Distance);
                }

                static bool in_domain(ld x, ld y)
                {
                    return std::isfinite(x) && std::isfinite(y);
                }
            };
        }

        struct cosine_similarity_entry : detail::cosine_entry<cosine_similarity_entry, false>
        {
            static constexpr const char* name = "cosine_similarity";
            static constexpr const auto& loss = xloss::cosine_similarity;
        };

        struct cosine_distance_entry : detail::cosine_entry<cosine_distance_entry, true>
        {
            static constexpr const char* name = "cosine_distance";
            static constexpr const auto& loss = xloss::cosine_distance;
        };

        // ---------------------------------------------------------------------
        // Focal

        namespace detail
        {
            template <class T>
            void focal_element(ld x,
                               ld l,
                               std::optional<double> alpha,
                               double gamma,
                               ld g,
                               approx& v,
                               approx& dx,
                               approx& dy)
            {
                const ld G = gamma, ag = budget_of(g);
                const ld e = std::exp(-std::fabs(x));
                const ld rr = 1 / (1 + e);
                const ld p = x >= 0 ? rr : e * rr;
                const ld q = x >= 0 ? e * rr : rr;
                const ld mlp = std::max(-x, ld(0)) + std::log1p(e);
                const ld mlq = std::max(x, ld(0)) + std::log1p(e);
                const ld ce = l * mlp + (1 - l) * mlq;
                const ld u = p * (1 - l) + q * l;
                const auto powg = [&](ld b)
                { return gamma == 0 ? ld(1) : (b <= 0 ? ld(0) : std::pow(b, G)); };
                const ld ug = powg(u);
                const ld w = alpha ? *alpha * l + (1 - *alpha) * (1 - l) : 1;
                // The type's exp flushes results below its normal range, so u
                // may be off by ~min: budget the change of u^gamma over that.
                const ld du_floor = gamma == 0
                                        ? 0
                                        : powg(u + 4 * tiny<T>()) - powg(std::max(u - 4 * tiny<T>(), ld(0)));
                v.value += w * ce * ug;
                v.scale += std::fabs(w * ce) * ug * (1 + G);
                v.floor += std::fabs(w * ce) * du_floor + tiny<T>();
                const ld dug = (u > 0 && gamma != 0) ? G * ug / u : 0;
                // p - l as p (1 - l) - q l: with l = 1 and large x, p - 1 loses
                // q even in long double. The scale is that of the two terms:
                // p itself carries a relative error, so a soft label near p
                // leaves p - l known only to epsilon times p (1 - l) + q l.
                const ld p_minus_l = p * (1 - l) - q * l;
                const ld p_minus_l_scale = p * (1 - l) + q * l;
                const ld d0 = p_minus_l * ug + ce * dug * (1 - 2 * l) * p * q;
                const ld s0 = (p_minus_l_scale * ug + std::fabs(ce * dug * (1 - 2 * l) * p * q)) * (1 + G);
                // q - p = -tanh(x / 2), not the difference: for |x| near
                // long double's epsilon, e rounds to 1 even here.
                const ld q_minus_p = -std::tanh(x / 2);
                ld d1 = w * (-x * ug + ce * dug * q_minus_p);
                ld s1 = std::fabs(w) * (std::fabs(x) * ug + std::fabs(ce * dug * q_minus_p)) * (1 + G);
                if (alpha)
                {
                    d1 += (2 * *alpha - 1) * ce * ug;
                    s1 += std::fabs((2 * *alpha - 1) * ce) * ug * (1 + G);
                }
                const ld f = (p_minus_l_scale + std::fabs(x) + 2 * std::fabs(ce) * (1 + G)) * du_floor
                             + tiny<T>();
                dx = {g * w * d0, ag * std::fabs(w) * s0, ag * f};
                dy = {g * d1, ag * s1, ag * f};
            }
        }

        struct sigmoid_focal_loss_entry : entry_base<sigmoid_focal_loss_entry, xloss::focal_options>
        {
            static constexpr const char* name = "sigmoid_focal_loss";
            static constexpr const auto& loss = xloss::sigmoid_focal_loss;
            static constexpr bool integer_labels = false;
            static constexpr std::array<bool, 2> differentiable{true, true};

            // The defaults (no alpha, gamma 2); alpha with gamma 1.5; alpha with
            // the default gamma; gamma < 1 (u^gamma steep near 0); gamma 0 (the
            // sigmoid cross entropy) with alpha 0.75; gamma 1; gamma 3.
            static std::vector<options> option_cases()
            {
                return {options{},
                        options{0.25, 1.5},
                        options{0.25, 2.0},
                        options{std::nullopt, 0.5},
                        options{0.75, 0.0},
                        options{0.75, 1.0},
                        options{std::nullopt, 3.0},
                        options{std::nullopt, 2.0, xt::xarray<double>(0.25)}};
            }

            // alpha outside [0, 1] or NaN; gamma negative, NaN or infinite; both
            // (alpha is named first).
            static std::vector<invalid_option<options>> invalid_option_cases()
            {
                const double nan = std::numeric_limits<double>::quiet_NaN();
                return {{options{1.5, 2.0}, "option alpha = 1.5 is outside [0, 1]"},
                        {options{-0.25, 2.0}, "option alpha = -0.25 is outside [0, 1]"},
                        {options{1.0000001, 2.0}, "option alpha = 1.0000001 is outside [0, 1]"},
                        {options{nan, 2.0}, "option alpha = nan is outside [0, 1]"},
                        {options{std::nullopt, -1.0}, "option gamma = -1 is outside [0, inf)"},
                        {options{0.25, nan}, "option gamma = nan is outside [0, inf)"},
                        {options{std::nullopt, std::numeric_limits<double>::infinity()},
                         "option gamma = inf is outside [0, inf)"},
                        {options{1.5, -1.0}, "option alpha = 1.5 is outside [0, 1]"},
                        {options{std::nullopt, 2.0, xt::xarray<double>{0.25, 1.5}},
                         "option class_alpha = 1.5 is outside [0, 1]"},
                        {options{0.25, 2.0, xt::xarray<double>(0.25)},
                         "options alpha and class_alpha are both given (class_alpha replaces alpha: give one)"}};
            }

            // alpha and gamma as named; with gamma 1.5 the alpha goes to
            // class_alpha instead (0-d), so that the fuzzer reaches both.
            static options options_from(const option_values& v)
            {
                options o;
                if (v.count("alpha"))
                {
                    o.alpha = v.at("alpha");
                }
                if (v.count("gamma") && v.at("gamma"))
                {
                    o.gamma = *v.at("gamma");
                }
                if (o.alpha && o.gamma == 1.5)
                {
                    o.class_alpha = xt::xarray<double>(*o.alpha);
                    o.alpha.reset();
                }
                return o;
            }

            static std::string describe(const options& o)
            {
                std::ostringstream s;
                s << "alpha ";
                if (o.alpha)
                {
                    s << *o.alpha;
                }
                else
                {
                    s << "none";
                }
                s << ", gamma " << o.gamma;
                if (o.class_alpha)
                {
                    s << ", class_alpha " << o.class_alpha->flat(0);
                }
                return s.str();
            }

            template <class T>
            static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
            {
                return random_normal<T>(shape, 2.0, seed);
            }

            // Soft labels away from 0 and 1, where (1 - p_t)^gamma is smooth for gamma < 1.
            template <class T>
            static xt::xarray<T> make_y(const shape_t& shape, const std::vector<std::size_t>&, unsigned seed)
            {
                return random_uniform<T>(shape, 0.05, 0.95, seed);
            }

            // Saturated logits up to +-40 (one in 2) and hard labels 0 and 1 (one in 3 each).
            template <class T, class X, class Y>
            static void make_hard(X& x, Y& y, std::size_t, unsigned seed)
            {
                const auto big = random_uniform<double>({x.size()}, -40, 40, seed);
                for (std::size_t i = 0; i < x.size(); i += 2)
                {
                    x.flat(i) = static_cast<T>(big(i));
                }
                for (std::size_t i = 0; i < y.size(); ++i)
                {
                    y.flat(i) = i % 3 == 0 ? T(0) : (i % 3 == 1 ? T(1) : y.flat(i));
                }
            }

            template <class T>
            static slice_result reference(const slice_in& in, const options& o)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        // class_alpha is 0-d in the catalogue: the alpha of every element.
                        const auto alpha = o.class_alpha ? std::optional<double>(o.class_alpha->flat(0)) : o.alpha;
                        detail::focal_element<T>(in.x[k], in.y[k], alpha, o.gamma, in.g, r.value, r.dx[k], r.dy[k]);
                    }
                }
                return r;
            }

            static bool in_domain(ld x, ld y)
            {
                return std::isfinite(x) && y >= 0 && y <= 1;
            }
        };

        // ---------------------------------------------------------------------
        // Regression: squared error, l2, Huber, log-cosh of e = x - y

        namespace detail
        {
            // log(cosh(e)) without overflow, and to full precision for tiny e.
            inline ld log_cosh_of(ld e)
            {
                const ld a = std::fabs(e);
                const ld half = std::sinh(a / 2);  // cosh a - 1 = 2 sinh^2(a / 2), exact for tiny a
                return a < 1 ? std::log1p(2 * half * half)
                             : a - std::log(ld(2)) + std::log1p(std::exp(-2 * a));
            }

            // One form of the regression entries: f(e), f'(e) and a bound of |f''|.
            struct regression_terms
            {
                ld value, slope, curvature;
            };

            template <class Self, class Options>
            struct regression_entry : entry_base<Self, Options>
            {
                static constexpr bool integer_labels = false;
                static constexpr std::array<bool, 2> differentiable{true, true};

                template <class T>
                static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
                {
                    return random_normal<T>(shape, 1.0, seed);
                }

                template <class T>
                static xt::xarray<T> make_y(const shape_t& shape,
                                            const std::vector<std::size_t>&,
                                            unsigned seed)
                {
                    return random_normal<T>(shape, 1.0, seed);
                }

                // Large errors (+-1e3, one element in 3): log-cosh's overflow
                // region, Huber's linear side.
                template <class T, class X, class Y>
                static void make_hard(X& x, Y&, std::size_t, unsigned)
                {
                    for (std::size_t i = 0; i < x.size(); i += 3)
                    {
                        x.flat(i) = static_cast<T>(i % 2 == 0 ? 1e3 : -1e3);
                    }
                }

                // The value sums f(e); the rounding of e = x - y (relative to
                // |x| + |y|) moves f by f' times it, and the slope by f''.
                template <class T>
                static slice_result reference(const slice_in& in, const Options& o)
                {
                    slice_result r;
                    if (!start(in, r))
                    {
                        return r;
                    }
                    const ld g = in.g, ag = budget_of(g);
                    for (std::size_t k = 0; k < in.x.size(); ++k)
                    {
                        if (!in.sel[k])
                        {
                            continue;
                        }
                        const ld e = in.x[k] - in.y[k];
                        const ld size = std::fabs(in.x[k]) + std::fabs(in.y[k]);
                        const regression_terms f = Self::terms(e, o);
                        r.value.value += f.value;
                        r.value.scale += std::fabs(f.value) + std::fabs(f.slope) * size;
                        r.value.floor += tiny<T>();
                        const ld ds = ag * (std::fabs(f.slope) + f.curvature * size);
                        r.dx[k] = {g * f.slope, ds, ag * tiny<T>()};
                        r.dy[k] = {-g * f.slope, ds, ag * tiny<T>()};
                    }
                    return r;
                }

                static bool in_domain(ld x, ld y)
                {
                    return std::isfinite(x) && std::isfinite(y);
                }
            };
        }

        struct squared_error_entry : detail::regression_entry<squared_error_entry, no_options>
        {
            static constexpr const char* name = "squared_error";
            static constexpr const auto& loss = xloss::squared_error;

            static detail::regression_terms terms(ld e, const options&)
            {
                return {e * e, 2 * e, 2};
            }
        };

        struct l2_loss_entry : detail::regression_entry<l2_loss_entry, no_options>
        {
            static constexpr const char* name = "l2_loss";
            static constexpr const auto& loss = xloss::l2_loss;

            static detail::regression_terms terms(ld e, const options&)
            {
                return {e * e / 2, e, 1};
            }
        };

        struct huber_loss_entry : detail::regression_entry<huber_loss_entry, xloss::huber_options>
        {
            static constexpr const char* name = "huber_loss";
            static constexpr const auto& loss = xloss::huber_loss;

            // The default (1), a small delta (most errors on the linear side), a large one.
            static std::vector<options> option_cases()
            {
                return {options{}, options{0.25}, options{3.0}};
            }

            static std::vector<invalid_option<options>> invalid_option_cases()
            {
                return {{options{-0.5}, "option delta = -0.5 is outside [0, inf)"},
                        {options{std::numeric_limits<double>::quiet_NaN()},
                         "option delta = nan is outside [0, inf)"}};
            }

            static options options_from(const option_values& v)
            {
                return one_option_from(v, "delta", &options::delta);
            }

            static std::string describe(const options& o)
            {
                return describe_one_option(o, "delta", &options::delta);
            }

            static detail::regression_terms terms(ld e, const options& o)
            {
                const ld d = o.delta, a = std::fabs(e);
                if (a <= d)
                {
                    return {e * e / 2, e, 1};
                }
                return {d * (a - d / 2), e < 0 ? -d : d, 0};
            }
        };

        struct log_cosh_entry : detail::regression_entry<log_cosh_entry, no_options>
        {
            static constexpr const char* name = "log_cosh";
            static constexpr const auto& loss = xloss::log_cosh;

            static detail::regression_terms terms(ld e, const options&)
            {
                return {detail::log_cosh_of(e), std::tanh(e), 1};
            }
        };

        // ---------------------------------------------------------------------
        // KL divergence with log targets

        struct kl_divergence_with_log_targets_entry
            : entry_base<kl_divergence_with_log_targets_entry, no_options>
        {
            static constexpr const char* name = "kl_divergence_with_log_targets";
            static constexpr const auto& loss = xloss::kl_divergence_with_log_targets;
            static constexpr bool integer_labels = false;
            static constexpr std::array<bool, 2> differentiable{true, true};

            // log-predictions in about [-3, 0]; log targets in [-3, 0]
            template <class T>
            static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
            {
                return xt::xarray<T>(random_normal<T>(shape, 0.5, seed) - T(1.5));
            }

            template <class T>
            static xt::xarray<T> make_y(const shape_t& shape, const std::vector<std::size_t>&, unsigned seed)
            {
                return random_uniform<T>(shape, -3.0, 0.0, seed);
            }

            // -inf log targets (targets of probability 0), one element in 5;
            // every other one against a -inf log-prediction too.
            template <class T, class X, class Y>
            static void make_hard(X& x, Y& y, std::size_t, unsigned)
            {
                const T minus_inf = -std::numeric_limits<T>::infinity();
                for (std::size_t i = 0; i < y.size(); i += 5)
                {
                    y.flat(i) = minus_inf;
                    if (i % 10 == 0 && i < x.size())
                    {
                        x.flat(i) = minus_inf;
                    }
                }
            }

            template <class T>
            static slice_result reference(const slice_in& in, const options&)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                const ld g = in.g, ag = budget_of(g);
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    const ld lp = in.x[k], lt = in.y[k];
                    if (!in.sel[k] || lt == -std::numeric_limits<ld>::infinity())
                    {
                        continue;  // a target of probability 0: value and gradients 0
                    }
                    const ld t = std::exp(lt);
                    const ld size = std::fabs(lt) + std::fabs(lp) + 1;
                    // The type's exp flushes below its normal range: an absolute
                    // error of min() in t, times the factor it multiplies.
                    r.value.value += t * (lt - lp);
                    r.value.scale += t * size;
                    r.value.floor += tiny<T>() * size;
                    r.dx[k] = {-g * t, ag * t, ag * tiny<T>()};
                    r.dy[k] = {g * t * (lt - lp + 1), ag * t * (size + 1), ag * tiny<T>() * size};
                }
                return r;
            }

            // -inf log targets are in the contract, against any log-prediction.
            static bool in_domain(ld x, ld y)
            {
                const ld inf = std::numeric_limits<ld>::infinity();
                return !std::isnan(y) && y != inf && (std::isfinite(x) || (y == -inf && x == -inf));
            }
        };

        // ---------------------------------------------------------------------
        // Poly-1 cross entropy

        struct poly_loss_cross_entropy_entry : entry_base<poly_loss_cross_entropy_entry, xloss::poly_options>
        {
            static constexpr const char* name = "poly_loss_cross_entropy";
            static constexpr const auto& loss = xloss::poly_loss_cross_entropy;
            static constexpr bool integer_labels = false;
            static constexpr std::array<bool, 2> differentiable{true, true};

            // The default (2); Poly-1's -1; 0 (softmax cross entropy); a large 5.5.
            static std::vector<options> option_cases()
            {
                return {options{}, options{-1.0}, options{0.0}, options{5.5}};
            }

            static std::vector<invalid_option<options>> invalid_option_cases()
            {
                return {{options{std::numeric_limits<double>::quiet_NaN()},
                         "option epsilon = nan is outside (-inf, inf)"},
                        {options{-std::numeric_limits<double>::infinity()},
                         "option epsilon = -inf is outside (-inf, inf)"}};
            }

            static options options_from(const option_values& v)
            {
                options o;
                if (v.count("epsilon") && v.at("epsilon"))
                {
                    o.epsilon = *v.at("epsilon");
                }
                return o;
            }

            static std::string describe(const options& o)
            {
                std::ostringstream s;
                s << "epsilon " << o.epsilon;
                return s.str();
            }

            template <class T>
            static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
            {
                return softmax_cross_entropy_entry::make_x<T>(shape, seed);
            }

            template <class T>
            static xt::xarray<T> make_y(const shape_t& shape,
                                        const std::vector<std::size_t>& reduced,
                                        unsigned seed)
            {
                return softmax_cross_entropy_entry::make_y<T>(shape, reduced, seed);
            }

            // As softmax cross entropy: -inf logits with zero labels.
            template <class T, class X, class Y>
            static void make_hard(X& x, Y& y, std::size_t slice_size, unsigned seed)
            {
                softmax_cross_entropy_entry::make_hard<T>(x, y, slice_size, seed);
            }

            template <class T>
            static slice_result reference(const slice_in& in, const options& o)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                const ld g = in.g, ag = budget_of(g), eps = o.epsilon, aeps = std::fabs(eps);
                const auto [shift, z, logz] = detail::softmax_normaliser(in);
                ld ce = 0, ce_scale = 0, sy = 0, say = 0, q = 0, qa = 0;
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k] && in.y[k] != 0)
                    {
                        const ld d = in.x[k] - shift;
                        const ld p = std::exp(d) / z;
                        ce += in.y[k] * (logz - d);
                        ce_scale += std::fabs(in.y[k]) * (std::fabs(logz) + std::fabs(d) + 1);
                        sy += in.y[k];
                        say += std::fabs(in.y[k]);
                        q += in.y[k] * p;
                        qa += std::fabs(in.y[k]) * p;
                    }
                }
                // poly term S(y (1 - p)) = L - q
                r.value = {ce + eps * (sy - q), ce_scale + aeps * (say + qa), (1 + aeps) * say * tiny<T>()};
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        const ld d = in.x[k] - shift;
                        const ld p = std::exp(d) / z;
                        const ld y = in.y[k];
                        r.dx[k] = {g * (p * (sy + eps * q) - y * (1 + eps * p)),
                                   ag * (p * (say + aeps * qa) + std::fabs(y) * (1 + aeps * p)),
                                   ag * (1 + aeps) * say * tiny<T>()};
                        r.dy[k] = {g * (logz - d + eps * (1 - p)),
                                   ag * (std::fabs(logz) + std::fabs(d) + 1 + aeps * (1 + p)),
                                   ag * aeps * tiny<T>()};
                    }
                }
                return r;
            }

            static bool in_domain(ld x, ld y)
            {
                return softmax_cross_entropy_entry::in_domain(x, y);
            }
        };

        // ---------------------------------------------------------------------
        // Sigmoid binary cross entropy: w (pw y softplus(-x) + (1 - y) softplus(x)),
        // a hard label taking its own term alone. The generic machinery passes
        // the reference no per-element arrays: its option cases give the weight
        // arrays as 0-d arrays (one value, broadcast to every shape); the loss's
        // own test checks [C] and [B, 1] weights against PyTorch.

        namespace detail
        {
            template <class T>
            void bce_element(ld x, ld l, ld w, ld pw, ld g, approx& v, approx& dx, approx& dy)
            {
                const ld ag = budget_of(g);
                const ld e = std::exp(-std::fabs(x));
                const ld rr = 1 / (1 + e);
                const ld p = x >= 0 ? rr : e * rr;
                const ld q = x >= 0 ? e * rr : rr;
                const ld mlp = std::max(-x, ld(0)) + std::log1p(e);
                const ld mlq = std::max(x, ld(0)) + std::log1p(e);
                const ld ce = l == 0 ? mlq : (l == 1 ? pw * mlp : pw * l * mlp + (1 - l) * mlq);
                v.value += w * ce;
                v.scale += std::fabs(w * ce);
                v.floor += tiny<T>();
                const ld d0 = (1 - l) * p - pw * l * q;
                const ld s0 = (1 - l) * p + std::fabs(pw) * l * q;
                const ld d1 = pw * mlp - mlq;
                const ld s1 = std::fabs(pw) * mlp + mlq + std::fabs(x);
                dx = {g * w * d0, ag * std::fabs(w) * s0, ag * tiny<T>()};
                dy = {g * w * d1, ag * std::fabs(w) * s1, ag * tiny<T>()};
            }
        }

        struct sigmoid_binary_cross_entropy_entry
            : entry_base<sigmoid_binary_cross_entropy_entry, xloss::binary_cross_entropy_options>
        {
            static constexpr const char* name = "sigmoid_binary_cross_entropy";
            static constexpr const auto& loss = xloss::sigmoid_binary_cross_entropy;
            static constexpr bool integer_labels = false;
            static constexpr std::array<bool, 2> differentiable{true, true};

            // None; weights 0.5; pos_weight 3; both (0-d arrays, see above).
            static std::vector<options> option_cases()
            {
                const xt::xarray<double> half(0.5), three(3.0), two(2.0), quarter(0.25);
                options w, pw, both;
                w.weights = half;
                pw.pos_weight = three;
                both.weights = two;
                both.pos_weight = quarter;
                return {options{}, w, pw, both};
            }

            // Named values as 0-d weight arrays (what reaches the weight stream
            // from the fuzzer): alpha is the weights, gamma the pos_weight; a
            // missing or non-finite value gives none. 0-d, because the fuzzer's
            // inputs may be 0-d too, and a [1] array does not broadcast to
            // shape [] (the library rightly refuses it; the fuzzer found it).
            static options options_from(const option_values& v)
            {
                const auto array_of = [&](const char* key) -> std::optional<xt::xarray<double>>
                {
                    if (!v.count(key) || !v.at(key) || !std::isfinite(*v.at(key)))
                    {
                        return std::nullopt;
                    }
                    return xt::xarray<double>(*v.at(key));
                };
                options o;
                o.weights = array_of("alpha");
                o.pos_weight = array_of("gamma");
                return o;
            }

            static std::string describe(const options& o)
            {
                std::ostringstream s;
                s << "weights ";
                if (o.weights)
                {
                    s << o.weights->flat(0);
                }
                else
                {
                    s << "none";
                }
                s << ", pos_weight ";
                if (o.pos_weight)
                {
                    s << o.pos_weight->flat(0);
                }
                else
                {
                    s << "none";
                }
                return s.str();
            }

            // Focal loss's logits and hard points (saturated logits, hard labels).
            template <class T>
            static xt::xarray<T> make_x(const shape_t& shape, unsigned seed)
            {
                return sigmoid_focal_loss_entry::make_x<T>(shape, seed);
            }

            // Soft labels over all of [0, 1] (the loss is smooth in them).
            template <class T>
            static xt::xarray<T> make_y(const shape_t& shape, const std::vector<std::size_t>&, unsigned seed)
            {
                return random_uniform<T>(shape, 0.0, 1.0, seed);
            }

            template <class T, class X, class Y>
            static void make_hard(X& x, Y& y, std::size_t slice_size, unsigned seed)
            {
                sigmoid_focal_loss_entry::make_hard<T>(x, y, slice_size, seed);
            }

            template <class T>
            static slice_result reference(const slice_in& in, const options& o)
            {
                slice_result r;
                if (!start(in, r))
                {
                    return r;
                }
                const ld w = detail::scalar_weight(o.weights), pw = detail::scalar_weight(o.pos_weight);
                for (std::size_t k = 0; k < in.x.size(); ++k)
                {
                    if (in.sel[k])
                    {
                        detail::bce_element<T>(in.x[k], in.y[k], w, pw, in.g, r.value, r.dx[k], r.dy[k]);
                    }
                }
                return r;
            }

            static bool in_domain(ld x, ld y)
            {
                return sigmoid_focal_loss_entry::in_domain(x, y);
            }
        };

        // ---------------------------------------------------------------------
        // The catalogue, in the fuzzer's order (new losses are appended).

        using catalogue = std::tuple<softmax_cross_entropy_entry,
                                     softmax_cross_entropy_with_integer_labels_entry,
                                     kl_divergence_entry,
                                     convex_kl_divergence_entry,
                                     cosine_similarity_entry,
                                     cosine_distance_entry,
                                     sigmoid_focal_loss_entry,
                                     squared_error_entry,
                                     l2_loss_entry,
                                     huber_loss_entry,
                                     log_cosh_entry,
                                     kl_divergence_with_log_targets_entry,
                                     poly_loss_cross_entropy_entry,
                                     sigmoid_binary_cross_entropy_entry>;

        inline constexpr std::size_t catalogue_size = std::tuple_size_v<catalogue>;

        // f(E{}) for each entry E, in order.
        template <class F>
        void for_each_entry(F&& f)
        {
            std::apply([&](auto... e) { (f(e), ...); }, catalogue{});
        }
    }  // inline namespace XLOSS_ABI_NAMESPACE
}

// Every entry's kernels, declared extern where CMake compiled them once.
#include "kernel_instances.hpp"

#endif
