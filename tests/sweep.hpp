// The axis-and-mask sweep shared by the generic tests: the axis forms of a case, its reduced
// axes, the kinds of mask and how the reference reads them, and one call
// helper that passes the case's axis form, the mask and any options.
#ifndef XLOSS_TESTS_SWEEP_HPP
#define XLOSS_TESTS_SWEEP_HPP

#include <algorithm>
#include <cstddef>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

namespace xloss_test
{
    // The backend's inline namespace (xloss/config.hpp): test_simd_vs_scalar
    // compiles these helpers on both backends into one program, and they must
    // not be merged at link time.
    inline namespace XLOSS_ABI_NAMESPACE
    {
        namespace sweep
        {

            enum class axes_form
            {
                list,  // std::vector<int> (possibly a single axis)
                none,  // xloss::no_axes
                all    // xloss::all_axes
            };

            struct axis_case
            {
                const char* name;
                shape_t shape;
                std::vector<int> axes;  // as passed, possibly negative (form == list)
                axes_form form = axes_form::list;
            };

            // The reduced axes, normalised and sorted.
            inline std::vector<std::size_t> reduced_axes(const axis_case& c)
            {
                std::vector<std::size_t> r;
                const auto rank = static_cast<int>(c.shape.size());
                if (c.form == axes_form::all)
                {
                    for (int a = 0; a < rank; ++a)
                    {
                        r.push_back(static_cast<std::size_t>(a));
                    }
                }
                else if (c.form == axes_form::list)
                {
                    for (int a : c.axes)
                    {
                        r.push_back(static_cast<std::size_t>(a < 0 ? a + rank : a));
                    }
                    std::sort(r.begin(), r.end());
                }
                return r;
            }

            // The reduced axes, normalised, in the order listed (integer labels
            // index a slice in this order).
            inline std::vector<std::size_t> listed_axes(const axis_case& c)
            {
                if (c.form != axes_form::list)
                {
                    return reduced_axes(c);
                }
                std::vector<std::size_t> r;
                const auto rank = static_cast<int>(c.shape.size());
                for (int a : c.axes)
                {
                    r.push_back(static_cast<std::size_t>(a < 0 ? a + rank : a));
                }
                return r;
            }

            inline bool is_reduced(const std::vector<std::size_t>& reduced, std::size_t a)
            {
                return std::find(reduced.begin(), reduced.end(), a) != reduced.end();
            }

            inline shape_t batch_shape(const shape_t& shape, const std::vector<std::size_t>& reduced)
            {
                shape_t b;
                for (std::size_t a = 0; a < shape.size(); ++a)
                {
                    if (!is_reduced(reduced, a))
                    {
                        b.push_back(shape[a]);
                    }
                }
                return b;
            }

            enum class mask_kind
            {
                none,
                full,        // input rank, full shape: masks elements
                batch,       // batch rank: masks whole slices (Optax's expand_dims(where, axis))
                per_class,   // input rank, 1 on the batch axes ([1, C]-style): broadcasts over the batch
                per_example  // input rank, 1 on the reduced axes ([B, 1]-style): broadcasts along the slice
            };

            inline const char* mask_name(mask_kind k)
            {
                switch (k)
                {
                    case mask_kind::none:
                        return "no mask";
                    case mask_kind::full:
                        return "full-rank mask";
                    case mask_kind::batch:
                        return "batch-rank mask";
                    case mask_kind::per_class:
                        return "[1, C]-style mask";
                    case mask_kind::per_example:
                        return "[B, 1]-style mask";
                }
                return "?";
            }

            inline xt::xarray<bool> make_mask(mask_kind k,
                                              const shape_t& shape,
                                              const std::vector<std::size_t>& reduced,
                                              unsigned seed)
            {
                shape_t s = shape;
                switch (k)
                {
                    case mask_kind::batch:
                        s = batch_shape(shape, reduced);
                        break;
                    case mask_kind::per_class:
                        for (std::size_t a = 0; a < s.size(); ++a)
                        {
                            s[a] = is_reduced(reduced, a) ? s[a] : 1;
                        }
                        break;
                    case mask_kind::per_example:
                        for (std::size_t a = 0; a < s.size(); ++a)
                        {
                            s[a] = is_reduced(reduced, a) ? 1 : s[a];
                        }
                        break;
                    default:
                        break;
                }
                return random_mask(s, 0.7, seed);
            }

            // The mask as the reference reads it: broadcast to the full shape (a
            // batch-rank mask gets extent-1 axes at the reduced positions first).
            inline xt::xarray<bool> expand_mask(const xt::xarray<bool>& m,
                                                const shape_t& shape,
                                                const std::vector<std::size_t>& reduced)
            {
                if (m.dimension() == shape.size())
                {
                    return xt::broadcast(m, shape);
                }
                shape_t s;
                std::size_t k = 0;
                for (std::size_t a = 0; a < shape.size(); ++a)
                {
                    s.push_back(is_reduced(reduced, a) ? 1 : m.shape()[k++]);
                }
                xt::xarray<bool> r = m;
                r.reshape(s);
                return xt::broadcast(r, shape);
            }

            // Calls the loss with the axis form of the case, the mask if any, and
            // the options if any.
            template <class Loss, class X, class Y, class... Opts>
            auto call(const Loss& loss,
                      const X& x,
                      const Y& y,
                      const axis_case& c,
                      const xt::xarray<bool>* mask,
                      const Opts&... opts)
            {
                switch (c.form)
                {
                    case axes_form::none:
                        return mask ? loss(x, y, xloss::no_axes, *mask, opts...)
                                    : loss(x, y, xloss::no_axes, opts...);
                    case axes_form::all:
                        return mask ? loss(x, y, xloss::all_axes, *mask, opts...)
                                    : loss(x, y, xloss::all_axes, opts...);
                    default:
                        return mask ? loss(x, y, c.axes, *mask, opts...) : loss(x, y, c.axes, opts...);
                }
            }
        }
    }  // inline namespace XLOSS_ABI_NAMESPACE
}

#endif
