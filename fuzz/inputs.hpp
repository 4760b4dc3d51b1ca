// The decoded call's inputs, materialised per value type: x, y or the
// integer labels, the where mask and the upstream gradient, from the input's
// value bytes and then its fill generator. Does not depend on xloss.
#ifndef XLOSS_FUZZ_INPUTS_HPP
#define XLOSS_FUZZ_INPUTS_HPP

#include <cstddef>
#include <cstdint>
#include <limits>

#include <xtensor/xarray.hpp>

#include "case.hpp"
#include "model.hpp"

namespace xloss_fuzz
{
    template <class T, class Label>
    struct inputs
    {
        xt::xarray<T> x, y;
        xt::xarray<Label> labels;
        xt::xarray<bool> mask;
        xt::xarray<T> upstream;
        T upstream_scalar = T(1);
    };

    // One integer label from its byte: in range, or (with the label
    // parameter's bit 7) one of the edge values around it.
    inline long long decode_label(std::uint8_t b, const case_t& c, long long n)
    {
        if (b < 224 || (c.label_param & 0x80) == 0)
        {
            return n > 0 ? static_cast<long long>(b) % n : 0;
        }
        static const long long odd[] = {-1, 0, 1, 2, -1000, 2147483647, -2147483647 - 1, 3};
        return (b & 7) == 1 ? n : (b & 7) == 7 ? n + 1 : odd[b & 7];
    }

    template <class T, class Label>
    void materialise_second(const case_t& c, const model_t& m, lcg& g, inputs<T, Label>& in)
    {
        const std::size_t L = c.tail.size();
        if (c.integer_labels)
        {
            in.labels = xt::xarray<Label>::from_shape(c.y_shape);
            for (std::size_t i = 0; i < in.labels.size(); ++i)
            {
                const std::uint8_t b = i < L ? c.tail[(i * 7 + c.label_param) % L] : g.next();
                in.labels.flat(i) = static_cast<Label>(decode_label(b, c, static_cast<long long>(m.n)));
            }
            return;
        }
        in.y = xt::xarray<T>::from_shape(c.y_shape);
        for (std::size_t i = 0; i < in.y.size(); ++i)
        {
            in.y.flat(i) = i < L ? decode_value<T>(c.tail[L - 1 - i], c.y_scale)
                                 : fill_value<T>(c, g, c.y_scale);
        }
    }

    template <class T, class Label>
    void materialise_mask_and_upstream(const case_t& c, const model_t& m, lcg& g, inputs<T, Label>& in)
    {
        const std::size_t L = c.tail.size();
        if (c.mkind != mask_kind::none)
        {
            in.mask = xt::xarray<bool>::from_shape(m.mask_shape);
            for (std::size_t i = 0; i < in.mask.size(); ++i)
            {
                const std::uint8_t b = g.next();
                if (c.mask_density == 5)
                {
                    in.mask.flat(i) = i < L ? (c.tail[(i + c.mask_param) % L] >> 7) != 0 : (b & 1) != 0;
                }
                else
                {
                    in.mask.flat(i) = (b & 3) < c.mask_density;
                }
            }
        }
        in.upstream = xt::xarray<T>::from_shape(m.up_shape);
        for (std::size_t i = 0; i < in.upstream.size(); ++i)
        {
            const std::uint8_t b = g.next();
            // Mostly finite, sometimes NaN (it must not leak from empty slices).
            in.upstream.flat(i) = (c.up_param & 1) && (b & 15) == 0
                                      ? std::numeric_limits<T>::quiet_NaN()
                                      : decode_value<T>(static_cast<std::uint8_t>(16 + b % 240), 0);
        }
        in.upstream_scalar = decode_value<T>(static_cast<std::uint8_t>(16 + c.up_param % 240), 0);
    }

    template <class T, class Label>
    inputs<T, Label> materialise(const case_t& c, const model_t& m)
    {
        inputs<T, Label> in;
        lcg g{c.seed * 2654435761ULL + 1};
        const std::size_t L = c.tail.size();
        in.x = xt::xarray<T>::from_shape(c.x_shape);
        for (std::size_t i = 0; i < in.x.size(); ++i)
        {
            in.x.flat(i) = i < L ? decode_value<T>(c.tail[i], c.x_scale) : fill_value<T>(c, g, c.x_scale);
        }
        materialise_second(c, m, g, in);
        materialise_mask_and_upstream(c, m, g, in);
        return in;
    }
}

#endif
