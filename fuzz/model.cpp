// The error model (model.hpp). Compiled once and linked into both backend
// builds: it does not depend on xloss.
#include "model.hpp"

#include <algorithm>
#include <sstream>

namespace xloss_fuzz
{
    const char* error_name(error_kind e)
    {
        static const char* const names[] = {"none", "std::invalid_argument", "std::out_of_range"};
        return names[static_cast<int>(e)];
    }

    std::size_t product(const shape_t& s)
    {
        std::size_t p = 1;
        for (auto e : s)
        {
            p *= e;
        }
        return p;
    }

    bool broadcast(const shape_t& a, const shape_t& b, shape_t& out)
    {
        const std::size_t r = std::max(a.size(), b.size());
        out.assign(r, 1);
        for (std::size_t i = 0; i < r; ++i)
        {
            const std::size_t ea = i < a.size() ? a[a.size() - 1 - i] : 1;
            const std::size_t eb = i < b.size() ? b[b.size() - 1 - i] : 1;
            if (ea != eb && ea != 1 && eb != 1)
            {
                return false;
            }
            out[r - 1 - i] = ea == 1 ? eb : ea;  // 1 broadcasts to anything, 0 included
        }
        return true;
    }

    bool broadcasts_to(const shape_t& from, const shape_t& to)
    {
        shape_t out;
        return from.size() <= to.size() && broadcast(from, to, out) && out == to;
    }

    std::size_t broadcast_index(const shape_t& shape, const std::vector<std::size_t>& idx)
    {
        const std::size_t lead = idx.size() - shape.size();
        std::size_t flat = 0;
        for (std::size_t d = 0; d < shape.size(); ++d)
        {
            flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[lead + d]);
        }
        return flat;
    }

    std::vector<std::size_t> unflatten(const shape_t& shape, std::size_t flat)
    {
        std::vector<std::size_t> idx(shape.size());
        for (std::size_t d = shape.size(); d-- > 0;)
        {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return idx;
    }

    std::string show(const shape_t& s)
    {
        std::ostringstream o;
        o << '[';
        for (std::size_t i = 0; i < s.size(); ++i)
        {
            o << (i ? ", " : "") << s[i];
        }
        return o.str() + "]";
    }

    namespace
    {
        shape_t with_ones(shape_t s, unsigned bits)
        {
            for (std::size_t d = 0; d < s.size(); ++d)
            {
                if (bits & (1u << d))
                {
                    s[d] = 1;
                }
            }
            return s;
        }

        // One extent grown by 1 (a rank-0 shape becomes [2]): does not broadcast.
        shape_t bump(shape_t s, unsigned pick)
        {
            if (s.empty())
            {
                s.push_back(2);
            }
            else
            {
                s[pick % s.size()] += 1;
            }
            return s;
        }

        // The axes as the contract reads them: m.reduced (sorted, except for
        // integer labels, whose slices keep the listed order) and m.batch.
        // False for an axis out of range or repeated.
        bool read_axes(const case_t& c, model_t& m)
        {
            const std::size_t rank = m.full.size();
            std::vector<long long> listed;
            if (c.akind == axis_kind::all_axes)
            {
                for (std::size_t a = 0; a < rank; ++a)
                {
                    listed.push_back(static_cast<long long>(a));
                }
            }
            else if (c.akind == axis_kind::default_axis || c.akind == axis_kind::int_valid
                     || c.akind == axis_kind::int_invalid)
            {
                listed.push_back(c.axis_int);
            }
            else if (c.akind != axis_kind::no_axes)
            {
                listed.assign(c.axis_list.begin(), c.axis_list.end());
            }
            bool axes_ok = true;
            std::vector<char> seen(rank, 0);
            for (long long a : listed)
            {
                const long long r = static_cast<long long>(rank);
                if (a < -r || a >= r)
                {
                    axes_ok = false;
                    break;
                }
                const auto u = static_cast<std::size_t>(a < 0 ? a + r : a);
                if (seen[u])
                {
                    axes_ok = false;
                    break;
                }
                seen[u] = 1;
                m.reduced.push_back(u);
            }
            if (!c.integer_labels)
            {
                std::sort(m.reduced.begin(), m.reduced.end());
            }
            for (std::size_t a = 0; a < rank; ++a)
            {
                if (!seen[a])
                {
                    m.batch.push_back(m.full[a]);
                }
            }
            if (!axes_ok)
            {
                m.reduced.clear();
                m.batch = m.full;
            }
            return axes_ok;
        }

        // Integer labels: their shape is decided against the batch shape.
        void decide_label_shape(case_t& c, const model_t& m)
        {
            c.y_shape = m.batch;
            switch (c.y_mode)
            {
                case 2:
                    c.y_shape = with_ones(c.y_shape, c.y_ones);
                    break;
                case 3:
                    if ((c.y_ones & 1) && !c.y_shape.empty())
                    {
                        c.y_shape.erase(c.y_shape.begin());
                    }
                    else
                    {
                        c.y_shape.insert(c.y_shape.begin(), 1);
                    }
                    break;
                case 4:
                    c.y_shape = bump(c.y_shape, c.y_ones);
                    break;
                default:
                    break;
            }
        }

        // A rank that is neither the input's nor the batch's: the trailing
        // extents of the input, or one more leading axis.
        shape_t wrong_rank_mask(const case_t& c, const model_t& m)
        {
            const std::size_t rank = m.full.size();
            std::vector<std::size_t> ranks;
            for (std::size_t r = 0; r <= rank + 1; ++r)
            {
                if (r != rank && r != m.batch.size())
                {
                    ranks.push_back(r);
                }
            }
            const std::size_t wr = ranks[c.mask_param % ranks.size()];
            if (wr > rank)
            {
                shape_t s = m.full;
                s.insert(s.begin(), 1);
                return s;
            }
            return shape_t(m.full.end() - static_cast<std::ptrdiff_t>(wr), m.full.end());
        }

        shape_t mask_shape(const case_t& c, const model_t& m)
        {
            switch (c.mkind)
            {
                case mask_kind::input_rank:
                    return with_ones(m.full, c.mask_ones);
                case mask_kind::batch_rank:
                    return with_ones(m.batch, c.mask_ones);
                case mask_kind::wrong_rank:
                    return wrong_rank_mask(c, m);
                case mask_kind::bad_input_shape:
                    return bump(m.full, c.mask_ones);
                case mask_kind::bad_batch_shape:
                    return bump(m.batch, c.mask_ones);
                default:
                    return {};
            }
        }

        shape_t upstream_shape(const case_t& c, const model_t& m)
        {
            switch (c.ukind)
            {
                case upstream_kind::batch:
                    return m.batch;
                case upstream_kind::batch_broadcast:
                {
                    shape_t s = with_ones(m.batch, c.up_ones);
                    const auto drop = std::min<std::size_t>((c.up_ones >> 4) & 3, s.size());
                    s.erase(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(drop));
                    return s;
                }
                case upstream_kind::wrong:
                    if ((c.up_ones & 1) || m.batch.empty())
                    {
                        shape_t s = m.batch;
                        s.insert(s.begin(), 1 + (c.up_ones >> 1) % 2);
                        return s;
                    }
                    return bump(m.batch, c.up_ones >> 1);
                default:
                    return {};
            }
        }

        // The mask's check: false when it must be rejected. Sets m.slice_mask
        // for a mask of the batch's rank.
        bool mask_ok(const case_t& c, model_t& m)
        {
            if (c.mkind == mask_kind::none)
            {
                return true;
            }
            if (m.mask_shape.size() == m.full.size())
            {
                return broadcasts_to(m.mask_shape, m.full);
            }
            if (m.mask_shape.size() == m.batch.size())
            {
                m.slice_mask = true;
                return broadcasts_to(m.mask_shape, m.batch);
            }
            return false;
        }

        // The layout: slice s, element k -> full position.
        void lay_out(model_t& m)
        {
            const std::size_t rank = m.full.size();
            m.n = 1;
            for (auto a : m.reduced)
            {
                m.n *= m.full[a];
            }
            m.slices = product(m.batch);
            std::vector<std::size_t> batch_axes;
            for (std::size_t a = 0; a < rank; ++a)
            {
                if (std::find(m.reduced.begin(), m.reduced.end(), a) == m.reduced.end())
                {
                    batch_axes.push_back(a);
                }
            }
            m.pos.resize(m.slices * m.n);
            std::vector<std::size_t> idx(rank);
            for (std::size_t s = 0; s < m.slices; ++s)
            {
                std::size_t rest = s;
                for (std::size_t i = batch_axes.size(); i-- > 0;)
                {
                    idx[batch_axes[i]] = rest % m.full[batch_axes[i]];
                    rest /= m.full[batch_axes[i]];
                }
                for (std::size_t k = 0; k < m.n; ++k)
                {
                    std::size_t rk = k;
                    for (std::size_t i = m.reduced.size(); i-- > 0;)
                    {
                        idx[m.reduced[i]] = rk % m.full[m.reduced[i]];
                        rk /= m.full[m.reduced[i]];
                    }
                    std::size_t flat = 0;
                    for (std::size_t d = 0; d < rank; ++d)
                    {
                        flat = flat * m.full[d] + idx[d];
                    }
                    m.pos[s * m.n + k] = flat;
                }
            }
        }
    }

    model_t make_model(case_t& c)
    {
        model_t m;
        bool shapes_ok = true;
        if (c.integer_labels)
        {
            m.full = c.x_shape;
        }
        else if (!broadcast(c.x_shape, c.y_shape, m.full))
        {
            shapes_ok = false;
            m.full.assign(std::max(c.x_shape.size(), c.y_shape.size()), 1);
        }
        decide_axes(c, m.full.size());
        const bool axes_ok = read_axes(c, m);
        if (c.integer_labels)
        {
            decide_label_shape(c, m);
        }
        m.mask_shape = mask_shape(c, m);
        m.up_shape = upstream_shape(c, m);

        // The contract's checks, in the order the first failing one decides.
        const bool labels_ok = !c.integer_labels
                               || (c.y_shape.size() == m.batch.size() && broadcasts_to(c.y_shape, m.batch));
        if (!shapes_ok || !axes_ok || !mask_ok(c, m) || !labels_ok)
        {
            m.error = m.vjp_error = error_kind::invalid_argument;
            return m;
        }
        lay_out(m);
        return m;
    }

    void select(const case_t& c, model_t& m, const xt::xarray<bool>& mask)
    {
        const std::size_t total = product(m.full);
        m.selected.assign(total, 1);
        if (c.mkind != mask_kind::none && !m.slice_mask)
        {
            for (std::size_t f = 0; f < total; ++f)
            {
                m.selected[f] = mask.flat(broadcast_index(m.mask_shape, unflatten(m.full, f))) ? 1 : 0;
            }
        }
        if (c.mkind != mask_kind::none && m.slice_mask)
        {
            for (std::size_t s = 0; s < m.slices; ++s)
            {
                const bool on = mask.flat(broadcast_index(m.mask_shape, unflatten(m.batch, s)));
                for (std::size_t k = 0; k < m.n; ++k)
                {
                    m.selected[m.pos[s * m.n + k]] = on ? 1 : 0;
                }
            }
        }
        m.slice_any.assign(m.slices, 0);
        for (std::size_t s = 0; s < m.slices; ++s)
        {
            for (std::size_t k = 0; k < m.n && !m.slice_any[s]; ++k)
            {
                m.slice_any[s] = m.selected[m.pos[s * m.n + k]];
            }
        }
        m.label_checked = m.slice_any;
        for (std::size_t s = 0; s < m.slices && m.n == 0; ++s)
        {
            const bool left_out = c.mkind != mask_kind::none && m.slice_mask
                                  && !mask.flat(broadcast_index(m.mask_shape, unflatten(m.batch, s)));
            m.label_checked[s] = !left_out;
        }
    }
}
