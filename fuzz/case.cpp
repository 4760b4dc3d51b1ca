// Decoding of the fuzz input's bytes (format: case.hpp). Compiled once and
// linked into both backend builds: it does not depend on xloss.
#include "case.hpp"

#include <algorithm>
#include <array>

namespace xloss_fuzz
{
    namespace
    {
        const int scale_exps[] = {0, 0, 0, 0, -130, -64, 40, 64};

        struct reader
        {
            const std::uint8_t* data;
            std::size_t size;
            std::size_t at = 0;
            std::uint8_t next()
            {
                return at < size ? data[at++] : 0;
            }
        };

        std::size_t product(const shape_t& s)
        {
            std::size_t p = 1;
            for (auto e : s)
            {
                p *= e;
            }
            return p;
        }

        shape_t derive_shape(const shape_t& base, std::uint8_t b)
        {
            shape_t s = base;
            for (std::size_t d = 0; d < s.size(); ++d)
            {
                if (b & (1u << d))
                {
                    s[d] = 1;
                }
            }
            const std::size_t drop = std::min<std::size_t>((b >> 4) & 3, s.size());
            s.erase(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(drop));
            return s;
        }

        // Bytes 0-7: the loss and the input shapes.
        void decode_shapes(reader& r, case_t& c, const std::vector<loss_info>& losses)
        {
            c.loss = r.next() % losses.size();
            c.loss_name = losses[c.loss].name;
            c.integer_labels = losses[c.loss].integer_labels;
            const std::size_t rank = r.next() % 5;
            std::array<std::size_t, 4> ext{};
            for (auto& e : ext)
            {
                const std::uint8_t b = r.next();
                e = b < 128 ? b % 9 : b % 41;
            }
            c.base.assign(ext.begin(), ext.begin() + static_cast<std::ptrdiff_t>(rank));
            // Cap the element count (soft: ~4096).
            while (product(c.base) > 4096)
            {
                auto it = std::max_element(c.base.begin(), c.base.end());
                *it /= 2;
            }
            const std::uint8_t xb = r.next();
            const std::uint8_t yb = r.next();
            c.x_shape = derive_shape(c.base, xb & 0x3f);
            if (c.integer_labels)
            {
                c.x_shape = derive_shape(c.base, xb & 0x0f);  // logits keep their rank
                c.y_mode = yb % 5;
                c.y_ones = yb >> 3;
                return;
            }
            c.y_shape = derive_shape(c.base, yb & 0x3f);
            if ((yb & 0x40) && !c.y_shape.empty())
            {
                c.y_shape[(yb >> 7) % c.y_shape.size()] += 1;  // a shape that may not broadcast
            }
            if ((xb & 0x40) && !c.x_shape.empty())
            {
                c.x_shape[0] += 2;
            }
        }

        // Byte 14: the options (which of them a loss reads: fuzz_options.hpp).
        void decode_options(std::uint8_t ob, case_t& c)
        {
            c.pass_options = ob & 1;
            static const double epsilons[] = {0, 1e-8, 1e-3, 1, 0, 1e-12, 1e-300, 4};
            static const double gammas[] = {2, 0, 1, 0.5, 1.5, 3, 2, 4.25};
            static const double alphas[] = {-1, 0.25, 0, 1, 0.5, -1, 0.75, -1};
            c.epsilon = epsilons[(ob >> 1) & 7];
            c.gamma = gammas[(ob >> 1) & 7];
            const double a = alphas[(ob >> 4) & 7];
            if (a >= 0)
            {
                c.alpha = a;
            }
        }
    }

    case_t decode(const std::uint8_t* data, std::size_t size, const std::vector<loss_info>& losses)
    {
        reader r{data, size};
        case_t c;
        decode_shapes(r, c, losses);
        c.akind = static_cast<axis_kind>(r.next() % static_cast<int>(axis_kind::count));
        c.axis_a = r.next();
        c.axis_b = r.next();
        c.mkind = static_cast<mask_kind>(r.next() % static_cast<int>(mask_kind::count));
        c.mask_ones = r.next();
        const std::uint8_t md = r.next();
        c.mask_density = md % 6;
        c.mask_param = static_cast<std::uint8_t>(md >> 3);
        decode_options(r.next(), c);
        const std::uint8_t ub = r.next();
        c.ukind = static_cast<upstream_kind>(ub % static_cast<int>(upstream_kind::count));
        c.up_ones = ub >> 2;
        const std::uint8_t misc = r.next();
        c.labels_unsigned = misc & 1;
        c.fill_mode = (misc >> 1) & 3;
        c.poison = (misc >> 3) & 1;
        c.up_param = r.next();
        c.label_param = r.next();
        const std::uint8_t sb = r.next();
        c.x_scale = scale_exps[sb & 7];
        c.y_scale = scale_exps[(sb >> 3) & 7];
        for (int i = 0; i < 4; ++i)
        {
            c.seed = (c.seed << 8) | r.next();
        }
        c.tail.assign(data + std::min(r.at, size), data + size);
        if (c.akind == axis_kind::default_axis && c.mkind != mask_kind::none)
        {
            c.akind = axis_kind::int_valid;  // a mask needs an explicit axis
            c.axis_a = 0xff;                 // -> -1 below
        }
        return c;
    }

    void decide_axes(case_t& c, std::size_t rank)
    {
        const int r = static_cast<int>(rank);
        std::vector<int> subset;
        for (int d = 0; d < r; ++d)
        {
            if (c.axis_b & (1u << d))
            {
                subset.push_back(d);
            }
        }
        // Listed order: rotate, maybe reverse; some axes negative.
        if (!subset.empty())
        {
            std::rotate(subset.begin(), subset.begin() + (c.axis_a % subset.size()), subset.end());
            if (c.axis_a & 0x10)
            {
                std::reverse(subset.begin(), subset.end());
            }
            for (std::size_t i = 0; i < subset.size(); ++i)
            {
                if (c.axis_b & (0x10u << i))
                {
                    subset[i] -= r;
                }
            }
        }
        switch (c.akind)
        {
            case axis_kind::default_axis:
                c.axis_int = -1;
                break;
            case axis_kind::int_valid:
                c.axis_int = r == 0 ? -1 : (c.axis_a == 0xff ? -1 : static_cast<int>(c.axis_a % (2 * r)) - r);
                break;
            case axis_kind::int_invalid:
                c.axis_int = (c.axis_a & 1) ? r + (c.axis_a >> 1) % 3 : -(r + 1 + (c.axis_a >> 1) % 3);
                break;
            case axis_kind::list_valid:
                c.axis_list = subset;
                break;
            case axis_kind::list_invalid:
                c.axis_list = subset;
                c.axis_list.insert(c.axis_list.begin()
                                       + static_cast<std::ptrdiff_t>(c.axis_a % (subset.size() + 1)),
                                   (c.axis_a & 0x80) ? -(r + 1) : r + (c.axis_a >> 5) % 3);
                break;
            case axis_kind::list_repeated:
            {
                c.axis_list = subset.empty() ? std::vector<int>{r == 0 ? 0 : r - 1} : subset;
                const int first = c.axis_list[c.axis_a % c.axis_list.size()];
                // The same axis again, possibly under its other sign.
                const int again = (c.axis_a & 0x40) ? (first < 0 ? first + r : first - r) : first;
                c.axis_list.push_back(again);
                break;
            }
            default:
                break;
        }
    }
}
