// libFuzzer target for every xloss loss and gradient entry point.
//
// The input bytes decode into one call description (see decode() and
// fuzz/make_corpus.py, which writes the seed corpus in the same format): a
// loss, a shape of rank 0-4 with extents 0-40 (at most ~4096 elements), how
// each input broadcasts, an axis argument (default, int, list, no_axes,
// all_axes; valid, out of range or repeated), a where mask (none, input rank,
// batch rank, wrong rank, a shape that does not broadcast), integer labels in
// and out of range, options, an upstream gradient, and the values (NaN, +-inf,
// denormals, +-1e30, ...). The call runs in float and in double through
// loss(), grad, value_and_grad and vjp, with argnums 0, 1 and {0, 1} where
// the loss allows them, and is checked against:
//
//   1. a model of the contract's errors: exactly the calls that must throw
//      do, with std::invalid_argument or std::out_of_range (by the rule of
//      the first failing check), and the message starts "xloss::<function>: ";
//      any other exception type aborts;
//   2. masked-out inputs: the same call with every input element that no
//      selected position reads replaced by 0 (labels and upstream values of
//      slices with nothing selected too) gives bitwise the same results
//      (NaN matching NaN), and such elements get a gradient of exactly 0;
//   3. a long-double scalar reference of every value and gradient, written
//      from the formulas (independent of the library's plan and kernels),
//      within a loose tolerance scaled by the size of the terms, where the
//      selected data are in the loss's domain (finite; targets >= 0; focal
//      labels in [0, 1]) and nothing can overflow the type.
//
// Any failure prints the decoded case and aborts, so libFuzzer keeps the input.
// Set XLOSS_FUZZ_VERBOSE=1 to print each decoded case.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include <xloss/xloss.hpp>

#include "backend_outputs.hpp"

namespace
{
    using ld = long double;
    using shape_t = std::vector<std::size_t>;

    // ---------------------------------------------------------------------
    // The call description and its decoding.

    enum class loss_id
    {
        sce,
        sce_int,
        kl,
        convex_kl,
        cos_sim,
        cos_dist,
        focal,
        count
    };
    const char* const loss_names[] = {"softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
                                      "kl_divergence",         "convex_kl_divergence",
                                      "cosine_similarity",     "cosine_distance",
                                      "sigmoid_focal_loss"};

    enum class axis_kind
    {
        default_axis,  // no axis argument: -1
        int_valid,
        int_invalid,
        list_valid,
        list_invalid,
        list_repeated,
        no_axes,
        all_axes,
        count
    };
    const char* const axis_kind_names[] = {"default", "int", "int(invalid)", "list", "list(invalid)",
                                           "list(repeated)", "no_axes", "all_axes"};

    enum class mask_kind
    {
        none,
        input_rank,
        batch_rank,
        wrong_rank,
        bad_input_shape,
        bad_batch_shape,
        count
    };
    const char* const mask_kind_names[] = {"none", "input rank", "batch rank", "wrong rank", "bad input shape",
                                           "bad batch shape"};

    enum class upstream_kind
    {
        scalar,
        batch,
        batch_broadcast,
        wrong,
        count
    };

    enum class error_kind
    {
        none,
        invalid_argument,
        out_of_range
    };
    const char* const error_names[] = {"none", "std::invalid_argument", "std::out_of_range"};

    // Byte -> value code. Codes below 16 are the special values; 16..135 are
    // the probabilities k/119 and 136..255 spread over [-10, 10).
    template <class T>
    T decode_value(std::uint8_t b, int scale_exp)
    {
        using lim = std::numeric_limits<T>;
        switch (b)
        {
            case 0: return lim::quiet_NaN();
            case 1: return lim::infinity();
            case 2: return -lim::infinity();
            case 3: return lim::denorm_min() * T(3);
            case 4: return -lim::min() / T(8);  // a denormal
            case 5: return T(1e30);
            case 6: return T(-1e30);
            case 7: return T(0);
            case 8: return -T(0);
            case 9: return lim::min();
            case 10: return T(1e4);
            case 11: return T(-1e4);
            case 12: return T(1e-30);
            case 13: return T(88.5);  // exp(-88.5) is below float's normal range
            case 14: return T(1);
            case 15: return T(0.5);
            default: break;
        }
        const T v = b < 136 ? T(b - 16) / T(119) : T(int(b) - 196) / T(6);
        return std::ldexp(v, scale_exp);
    }

    const int scale_exps[] = {0, 0, 0, 0, -130, -64, 40, 64};

    struct lcg
    {
        std::uint64_t state;
        std::uint8_t next()
        {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            return static_cast<std::uint8_t>(state >> 56);
        }
    };

    struct case_t
    {
        loss_id loss = loss_id::sce;
        shape_t base;      // the decoded shape, before broadcasting
        shape_t x_shape;   // logits / log_predictions / predictions
        shape_t y_shape;   // second input; for integer labels: label shape (decided after the layout)
        int y_mode = 0;    // integer labels: 0, 1 exact batch; 2 broadcast; 3 wrong rank; 4 wrong extent
        unsigned y_ones = 0;
        bool labels_unsigned = false;

        axis_kind akind = axis_kind::default_axis;
        int axis_int = -1;
        std::vector<int> axis_list;

        mask_kind mkind = mask_kind::none;
        unsigned mask_ones = 0;
        int mask_density = 2;  // 0..4: P(true) = density / 4; 5: bits from the data
        std::uint8_t mask_param = 0;

        bool pass_options = false;
        double epsilon = 0;
        std::optional<double> alpha;
        double gamma = 2;

        upstream_kind ukind = upstream_kind::scalar;
        unsigned up_ones = 0;

        int fill_mode = 0;  // values past the data: 0 finite, 1 any code, 2 in [0, 1], 3 mostly specials
        bool poison = false;  // overwrite masked-out inputs with NaN / inf
        int x_scale = 0, y_scale = 0;
        std::uint64_t seed = 0;
        std::vector<std::uint8_t> tail;

        std::uint8_t axis_a = 0, axis_b = 0, up_param = 0, label_param = 0;
    };

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

    case_t decode(const std::uint8_t* data, std::size_t size)
    {
        reader r{data, size};
        case_t c;
        c.loss = static_cast<loss_id>(r.next() % static_cast<int>(loss_id::count));
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
        if (c.loss == loss_id::sce_int)
        {
            c.x_shape = derive_shape(c.base, xb & 0x0f);  // logits keep their rank
            c.y_mode = yb % 5;
            c.y_ones = yb >> 3;
        }
        else
        {
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
        c.akind = static_cast<axis_kind>(r.next() % static_cast<int>(axis_kind::count));
        c.axis_a = r.next();
        c.axis_b = r.next();
        c.mkind = static_cast<mask_kind>(r.next() % static_cast<int>(mask_kind::count));
        c.mask_ones = r.next();
        const std::uint8_t md = r.next();
        c.mask_density = md % 6;
        c.mask_param = static_cast<std::uint8_t>(md >> 3);
        const std::uint8_t ob = r.next();
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

    // ---------------------------------------------------------------------
    // Shape arithmetic of the model (written independently of xloss's).

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

    // Flat row-major index into `shape` (right-aligned against the multi-index
    // `idx`, extent-1 axes broadcast) of position `idx`.
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

    // What the contract says about a call: its error, or its layout.
    struct model_t
    {
        error_kind error = error_kind::none;        // of loss(), grad(), value_and_grad()
        error_kind vjp_error = error_kind::none;    // of vjp()
        shape_t full, batch, mask_shape, up_shape;  // up_shape empty + scalar: a scalar upstream
        std::vector<std::size_t> reduced;           // in slice order
        std::size_t n = 1, slices = 0;
        bool slice_mask = false;
        std::vector<std::size_t> pos;  // pos[s * n + k]: full flat index
        std::vector<char> selected;    // per full position
        std::vector<char> slice_any;   // per slice: something selected
    };

    bool is_int_loss(const case_t& c)
    {
        return c.loss == loss_id::sce_int;
    }

    // The axis argument as a list, decided against the full rank.
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
            case axis_kind::default_axis: c.axis_int = -1; break;
            case axis_kind::int_valid:
                c.axis_int = r == 0 ? -1 : (c.axis_a == 0xff ? -1 : static_cast<int>(c.axis_a % (2 * r)) - r);
                break;
            case axis_kind::int_invalid:
                c.axis_int = (c.axis_a & 1) ? r + (c.axis_a >> 1) % 3 : -(r + 1 + (c.axis_a >> 1) % 3);
                break;
            case axis_kind::list_valid: c.axis_list = subset; break;
            case axis_kind::list_invalid:
                c.axis_list = subset;
                c.axis_list.insert(c.axis_list.begin() + static_cast<std::ptrdiff_t>(c.axis_a % (subset.size() + 1)),
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
            default: break;
        }
    }

    // Decides the axes, the label / mask / upstream shapes, and the model.
    model_t make_model(case_t& c)
    {
        model_t m;
        const bool int_loss = is_int_loss(c);
        bool shapes_ok = true;
        if (int_loss)
        {
            m.full = c.x_shape;
        }
        else if (!broadcast(c.x_shape, c.y_shape, m.full))
        {
            shapes_ok = false;
            m.full.assign(std::max(c.x_shape.size(), c.y_shape.size()), 1);
        }
        const std::size_t rank = m.full.size();
        decide_axes(c, rank);

        // Axes, as the contract reads them.
        bool axes_ok = true;
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
        if (!int_loss)
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

        // Labels: their shape is decided against the batch shape.
        if (int_loss)
        {
            c.y_shape = m.batch;
            switch (c.y_mode)
            {
                case 2:
                    for (std::size_t d = 0; d < c.y_shape.size(); ++d)
                    {
                        if (c.y_ones & (1u << d))
                        {
                            c.y_shape[d] = 1;
                        }
                    }
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
                    if (c.y_shape.empty())
                    {
                        c.y_shape.push_back(2);
                    }
                    else
                    {
                        c.y_shape[c.y_ones % c.y_shape.size()] += 1;
                    }
                    break;
                default: break;
            }
        }

        // Mask shape.
        auto with_ones = [&](shape_t s, unsigned bits) {
            for (std::size_t d = 0; d < s.size(); ++d)
            {
                if (bits & (1u << d))
                {
                    s[d] = 1;
                }
            }
            return s;
        };
        auto bump = [&](shape_t s, unsigned pick) {
            if (s.empty())
            {
                s.push_back(2);
            }
            else
            {
                s[pick % s.size()] += 1;
            }
            return s;
        };
        switch (c.mkind)
        {
            case mask_kind::none: break;
            case mask_kind::input_rank: m.mask_shape = with_ones(m.full, c.mask_ones); break;
            case mask_kind::batch_rank: m.mask_shape = with_ones(m.batch, c.mask_ones); break;
            case mask_kind::wrong_rank:
            {
                // A rank that is neither the input's nor the batch's: the
                // trailing extents of the input, or one more leading axis.
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
                    m.mask_shape = m.full;
                    m.mask_shape.insert(m.mask_shape.begin(), 1);
                }
                else
                {
                    m.mask_shape.assign(m.full.end() - static_cast<std::ptrdiff_t>(wr), m.full.end());
                }
                break;
            }
            case mask_kind::bad_input_shape: m.mask_shape = bump(m.full, c.mask_ones); break;
            case mask_kind::bad_batch_shape: m.mask_shape = bump(m.batch, c.mask_ones); break;
            default: break;
        }

        // Upstream shape.
        switch (c.ukind)
        {
            case upstream_kind::scalar: m.up_shape = {}; break;
            case upstream_kind::batch: m.up_shape = m.batch; break;
            case upstream_kind::batch_broadcast:
                m.up_shape = with_ones(m.batch, c.up_ones);
                m.up_shape.erase(m.up_shape.begin(),
                                 m.up_shape.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(
                                                          (c.up_ones >> 4) & 3, m.up_shape.size())));
                break;
            case upstream_kind::wrong:
                if ((c.up_ones & 1) || m.batch.empty())
                {
                    m.up_shape = m.batch;
                    m.up_shape.insert(m.up_shape.begin(), 1 + (c.up_ones >> 1) % 2);
                }
                else
                {
                    m.up_shape = bump(m.batch, c.up_ones >> 1);
                }
                break;
            default: break;
        }

        // The contract's checks, in the order the first failing one decides.
        if (!shapes_ok || !axes_ok)
        {
            m.error = m.vjp_error = error_kind::invalid_argument;
            return m;
        }
        if (c.mkind != mask_kind::none)
        {
            if (m.mask_shape.size() == rank)
            {
                if (!broadcasts_to(m.mask_shape, m.full))
                {
                    m.error = m.vjp_error = error_kind::invalid_argument;
                    return m;
                }
            }
            else if (m.mask_shape.size() == m.batch.size())
            {
                if (!broadcasts_to(m.mask_shape, m.batch))
                {
                    m.error = m.vjp_error = error_kind::invalid_argument;
                    return m;
                }
                m.slice_mask = true;
            }
            else
            {
                m.error = m.vjp_error = error_kind::invalid_argument;
                return m;
            }
        }
        if (int_loss && (c.y_shape.size() != m.batch.size() || !broadcasts_to(c.y_shape, m.batch)))
        {
            m.error = m.vjp_error = error_kind::invalid_argument;
            return m;
        }

        // The layout: slice s, element k -> full position.
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
        return m;
    }

    // Full multi-index of a flat position.
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

    // ---------------------------------------------------------------------
    // Failure reporting.

    std::string describe(const case_t& c, const model_t& m)
    {
        std::ostringstream o;
        o << "loss " << loss_names[static_cast<int>(c.loss)] << "; x " << show(c.x_shape) << ", y "
          << show(c.y_shape) << (is_int_loss(c) && c.labels_unsigned ? " (size_t labels)" : "") << "; full "
          << show(m.full)
          << "; axis " << axis_kind_names[static_cast<int>(c.akind)];
        if (c.akind == axis_kind::int_valid || c.akind == axis_kind::int_invalid)
        {
            o << ' ' << c.axis_int;
        }
        if (c.akind == axis_kind::list_valid || c.akind == axis_kind::list_invalid
            || c.akind == axis_kind::list_repeated)
        {
            o << " {";
            for (std::size_t i = 0; i < c.axis_list.size(); ++i)
            {
                o << (i ? ", " : "") << c.axis_list[i];
            }
            o << '}';
        }
        o << "; batch " << show(m.batch) << ", n " << m.n << "; where " << mask_kind_names[static_cast<int>(c.mkind)];
        if (c.mkind != mask_kind::none)
        {
            o << ' ' << show(m.mask_shape) << " density " << c.mask_density;
        }
        o << "; options " << (c.pass_options ? "passed" : "default");
        if (c.pass_options)
        {
            o << " (eps " << c.epsilon << ", alpha " << (c.alpha ? std::to_string(*c.alpha) : "none") << ", gamma "
              << c.gamma << ")";
        }
        o << "; upstream " << (c.ukind == upstream_kind::scalar ? "scalar" : show(m.up_shape))
          << "; expected error " << error_names[static_cast<int>(m.error)] << " / vjp "
          << error_names[static_cast<int>(m.vjp_error)] << "; fill " << c.fill_mode << ", poison " << c.poison
          << ", scales " << c.x_scale << '/' << c.y_scale;
        return o.str();
    }

    const case_t* current_case = nullptr;
    const model_t* current_model = nullptr;

    [[noreturn]] void fail(const std::string& what)
    {
        std::fprintf(stderr, "\n==== xloss fuzz failure ====\n%s\ncase: %s\n", what.c_str(),
                     current_case ? describe(*current_case, *current_model).c_str() : "?");
        std::fflush(stderr);
        std::abort();
    }

    template <class A>
    std::string dump(const A& a, std::size_t limit = 64)
    {
        std::ostringstream o;
        o.precision(9);
        o << show(shape_t(a.shape().begin(), a.shape().end())) << " {";
        std::size_t i = 0;
        for (auto v : a)
        {
            if (i == limit)
            {
                o << ", ...";
                break;
            }
            o << (i++ ? ", " : "") << +v;
        }
        return o.str() + "}";
    }

    // ---------------------------------------------------------------------
    // Inputs, materialised per value type.

    template <class T, class Label>
    struct inputs
    {
        xt::xarray<T> x, y;
        xt::xarray<Label> labels;
        xt::xarray<bool> mask;
        xt::xarray<T> upstream;
        T upstream_scalar = T(1);
    };

    template <class T>
    T fill_value(const case_t& c, lcg& g, int scale)
    {
        std::uint8_t b = g.next();
        switch (c.fill_mode)
        {
            case 0: b = static_cast<std::uint8_t>(16 + b % 240); break;
            case 2: b = static_cast<std::uint8_t>(16 + b % 120); break;
            case 3: b = (b & 1) ? static_cast<std::uint8_t>(b % 16) : static_cast<std::uint8_t>(16 + b % 240); break;
            default: break;
        }
        return decode_value<T>(b, scale);
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
        if (is_int_loss(c))
        {
            in.labels = xt::xarray<Label>::from_shape(c.y_shape);
            const long long n = static_cast<long long>(m.n);
            for (std::size_t i = 0; i < in.labels.size(); ++i)
            {
                const std::uint8_t b = i < L ? c.tail[(i * 7 + c.label_param) % L] : g.next();
                long long label = 0;
                if (b < 224 || (c.label_param & 0x80) == 0)
                {
                    label = n > 0 ? static_cast<long long>(b) % n : 0;
                }
                else
                {
                    static const long long odd[] = {-1, 0, 1, 2, -1000, 2147483647, -2147483647 - 1, 3};
                    label = (b & 7) == 1 ? n : (b & 7) == 7 ? n + 1 : odd[b & 7];
                }
                in.labels.flat(i) = static_cast<Label>(label);
            }
        }
        else
        {
            in.y = xt::xarray<T>::from_shape(c.y_shape);
            for (std::size_t i = 0; i < in.y.size(); ++i)
            {
                in.y.flat(i) = i < L ? decode_value<T>(c.tail[L - 1 - i], c.y_scale) : fill_value<T>(c, g, c.y_scale);
            }
        }
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
            in.upstream.flat(i) = (c.up_param & 1) && (b & 15) == 0 ? std::numeric_limits<T>::quiet_NaN()
                                                                    : decode_value<T>(static_cast<std::uint8_t>(16 + b % 240), 0);
        }
        in.upstream_scalar = decode_value<T>(static_cast<std::uint8_t>(16 + c.up_param % 240), 0);
        return in;
    }

    // Selection per full position, and per slice, from the materialised mask.
    template <class T, class Label>
    void select(const case_t& c, model_t& m, const inputs<T, Label>& in)
    {
        const std::size_t total = product(m.full);
        m.selected.assign(total, 1);
        if (c.mkind != mask_kind::none)
        {
            const shape_t ms = m.mask_shape;
            for (std::size_t f = 0; f < total; ++f)
            {
                if (!m.slice_mask)
                {
                    m.selected[f] = in.mask.flat(broadcast_index(ms, unflatten(m.full, f))) ? 1 : 0;
                }
            }
            if (m.slice_mask)
            {
                for (std::size_t s = 0; s < m.slices; ++s)
                {
                    const bool on = in.mask.flat(broadcast_index(ms, unflatten(m.batch, s)));
                    for (std::size_t k = 0; k < m.n; ++k)
                    {
                        m.selected[m.pos[s * m.n + k]] = on ? 1 : 0;
                    }
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
    }

    // Out-of-range labels are an error only where their slice has a selected element.
    template <class T, class Label>
    error_kind label_error(const model_t& m, const inputs<T, Label>& in, const shape_t& label_shape)
    {
        for (std::size_t s = 0; s < m.slices; ++s)
        {
            const auto label = static_cast<std::ptrdiff_t>(in.labels.flat(broadcast_index(label_shape, unflatten(m.batch, s))));
            if ((label < 0 || label >= static_cast<std::ptrdiff_t>(m.n)) && m.slice_any[s])
            {
                return error_kind::out_of_range;
            }
        }
        return error_kind::none;
    }

    // ---------------------------------------------------------------------
    // Calling xloss in every form, and catching what it throws.

    template <class R>
    struct outcome
    {
        std::optional<R> result;
        error_kind error = error_kind::none;
        std::string message;
    };

    template <class F>
    auto capture(const char* function, const char* entry, F&& f) -> outcome<decltype(f())>
    {
        outcome<decltype(f())> out;
        const std::string prefix = std::string("xloss::") + function + ": ";
        try
        {
            out.result.emplace(f());
        }
        catch (const std::out_of_range& e)
        {
            out.error = error_kind::out_of_range;
            out.message = e.what();
        }
        catch (const std::invalid_argument& e)
        {
            out.error = error_kind::invalid_argument;
            out.message = e.what();
        }
        catch (const std::exception& e)
        {
            fail(std::string(entry) + ": unexpected exception type " + typeid(e).name() + ": " + e.what());
        }
        catch (...)
        {
            fail(std::string(entry) + ": unexpected exception of a non-standard type");
        }
        if (out.error != error_kind::none && out.message.rfind(prefix, 0) != 0)
        {
            fail(std::string(entry) + ": exception message lacks the prefix '" + prefix + "': " + out.message);
        }
        return out;
    }

    template <class Loss>
    inline constexpr bool second_differentiable = !xloss::detail::takes_labels<typename Loss::rule>;

    template <class Loss>
    inline constexpr bool has_options = !std::is_same_v<typename Loss::rule::options, xloss::detail::no_options>;

    template <class Loss>
    typename Loss::rule::options options_of(const case_t& c)
    {
        typename Loss::rule::options o{};
        if constexpr (std::is_same_v<typename Loss::rule::options, xloss::cosine_options>)
        {
            o.epsilon = c.epsilon;
        }
        else if constexpr (std::is_same_v<typename Loss::rule::options, xloss::focal_options>)
        {
            o.alpha = c.alpha;
            o.gamma = c.gamma;
        }
        return o;
    }

    // Calls f(rest...) with the axis, where and options arguments of the case,
    // in the call form the case names.
    template <class Loss, class F>
    void with_rest(const case_t& c, const xt::xarray<bool>& mask, F&& f)
    {
        const auto opts = options_of<Loss>(c);
        const bool masked = c.mkind != mask_kind::none;
        auto tail = [&](const auto&... axis) {
            if constexpr (has_options<Loss>)
            {
                if (c.pass_options)
                {
                    if constexpr (sizeof...(axis) > 0)
                    {
                        if (masked)
                        {
                            f(axis..., mask, opts);
                            return;
                        }
                    }
                    f(axis..., opts);
                    return;
                }
            }
            if constexpr (sizeof...(axis) > 0)
            {
                if (masked)
                {
                    f(axis..., mask);
                    return;
                }
            }
            f(axis...);
        };
        switch (c.akind)
        {
            case axis_kind::default_axis: tail(); break;
            case axis_kind::int_valid:
            case axis_kind::int_invalid: tail(c.axis_int); break;
            case axis_kind::no_axes: tail(xloss::no_axes); break;
            case axis_kind::all_axes: tail(xloss::all_axes); break;
            default: tail(c.axis_list); break;
        }
    }

    // The same arguments in one canonical form (the axis always as a
    // std::vector<int>): the gradient entry points take every form through
    // the same code as loss(), so they get the forms' variety only once,
    // which keeps the number of instantiations (and the build time) down.
    std::vector<int> canonical_axes(const case_t& c, std::size_t rank)
    {
        switch (c.akind)
        {
            case axis_kind::default_axis:
            case axis_kind::int_valid:
            case axis_kind::int_invalid: return {c.axis_int};
            case axis_kind::no_axes: return {};
            case axis_kind::all_axes:
            {
                std::vector<int> all;
                for (std::size_t a = 0; a < rank; ++a)
                {
                    all.push_back(static_cast<int>(a));
                }
                return all;
            }
            default: return c.axis_list;
        }
    }

    template <class Loss, class F>
    void with_canonical_rest(const case_t& c, std::size_t rank, const xt::xarray<bool>& mask, F&& f)
    {
        const auto opts = options_of<Loss>(c);
        const std::vector<int> axes = canonical_axes(c, rank);
        const bool masked = c.mkind != mask_kind::none;
        if constexpr (has_options<Loss>)
        {
            if (c.pass_options)
            {
                masked ? f(axes, mask, opts) : f(axes, opts);
                return;
            }
        }
        masked ? f(axes, mask) : f(axes);
    }

    // Every result of call_all, in call order, when a comparison of the two
    // backends is on (see LLVMFuzzerTestOneInput).
    std::vector<backend_output>* recorder = nullptr;
    const char* recording_type = "";
    // Set when a selected slice's inputs are all finite but outside the
    // loss's domain (see backend_output::claimed).
    bool saw_finite_out_of_domain = false;

    template <class R>
    void record(const char* entry, const outcome<R>& o)
    {
        if (!recorder)
        {
            return;
        }
        auto add = [&](const char* suffix, const auto* a) {
            backend_output out;
            out.entry = std::string(recording_type) + " " + entry + suffix;
            out.error = static_cast<int>(o.error);
            if (a)
            {
                using V = typename std::decay_t<decltype(*a)>::value_type;
                out.type_max = static_cast<double>(std::numeric_limits<V>::max());
                out.shape.assign(a->shape().begin(), a->shape().end());
                for (auto v : *a)
                {
                    out.values.push_back(static_cast<double>(v));
                }
            }
            recorder->push_back(std::move(out));
        };
        if constexpr (std::is_same_v<R, xt::xarray<float>> || std::is_same_v<R, xt::xarray<double>>)
        {
            add("", o.result ? &*o.result : nullptr);
        }
        else
        {
            add(" [0]", o.result ? &o.result->first : nullptr);
            add(" [1]", o.result ? &o.result->second : nullptr);
        }
    }

    template <class T>
    struct results
    {
        outcome<xt::xarray<T>> value;
        outcome<xt::xarray<T>> vg0_value, vg1_value, vg01_value;
        outcome<xt::xarray<T>> vg0, vg1, g0, g1, vjp0, vjp1, vjp0s;
        outcome<std::pair<xt::xarray<T>, xt::xarray<T>>> vg01, g01, vjp01;
    };

    template <class T, class Loss, class Y, class Label>
    results<T> call_all(const case_t& c, std::size_t rank, const Loss& loss, const inputs<T, Label>& in, const Y& y)
    {
        results<T> r;
        const char* fn = Loss::rule::name;
        const auto& x = in.x;
        const bool scalar_up = c.ukind == upstream_kind::scalar;
        with_rest<Loss>(c, in.mask, [&](const auto&... rest) {
            r.value = capture(fn, "loss()", [&] { return xt::xarray<T>(loss(x, y, rest...)); });
        });
        with_canonical_rest<Loss>(c, rank, in.mask, [&](const auto&... rest) {
            auto vg0 = capture(fn, "value_and_grad<0>", [&] { return xloss::value_and_grad<0>(loss, x, y, rest...); });
            if (vg0.result)
            {
                r.vg0_value.result = vg0.result->value;
                r.vg0.result = vg0.result->grad;
            }
            r.vg0.error = r.vg0_value.error = vg0.error;
            r.vg0.message = vg0.message;
            r.g0 = capture(fn, "grad<0>", [&] { return xt::xarray<T>(xloss::grad(loss, x, y, rest...)); });
            if (scalar_up)
            {
                r.vjp0 = capture(fn, "vjp<0>(scalar)",
                                 [&] { return xt::xarray<T>(xloss::vjp(loss, in.upstream_scalar, x, y, rest...)); });
            }
            else
            {
                r.vjp0 = capture(fn, "vjp<0>", [&] { return xt::xarray<T>(xloss::vjp<0>(loss, in.upstream, x, y, rest...)); });
            }
            if constexpr (second_differentiable<Loss>)
            {
                auto vg1 = capture(fn, "value_and_grad<1>", [&] { return xloss::value_and_grad<1>(loss, x, y, rest...); });
                if (vg1.result)
                {
                    r.vg1_value.result = vg1.result->value;
                    r.vg1.result = vg1.result->grad;
                }
                r.vg1.error = r.vg1_value.error = vg1.error;
                r.vg1.message = vg1.message;
                auto vg01 =
                    capture(fn, "value_and_grad<0, 1>", [&] { return xloss::value_and_grad<0, 1>(loss, x, y, rest...); });
                if (vg01.result)
                {
                    r.vg01_value.result = vg01.result->value;
                    r.vg01.result = vg01.result->grad;
                }
                r.vg01.error = r.vg01_value.error = vg01.error;
                r.vg01.message = vg01.message;
                r.g1 = capture(fn, "grad<1>", [&] { return xt::xarray<T>(xloss::grad<1>(loss, x, y, rest...)); });
                r.g01 = capture(fn, "grad<0, 1>", [&] { return xloss::grad<0, 1>(loss, x, y, rest...); });
                if (scalar_up)
                {
                    r.vjp1 = capture(fn, "vjp<1>(scalar)", [&] {
                        return xt::xarray<T>(xloss::vjp<1>(loss, in.upstream_scalar, x, y, rest...));
                    });
                    r.vjp01 = capture(fn, "vjp<0, 1>(scalar)",
                                      [&] { return xloss::vjp<0, 1>(loss, in.upstream_scalar, x, y, rest...); });
                }
                else
                {
                    r.vjp1 = capture(fn, "vjp<1>", [&] { return xt::xarray<T>(xloss::vjp<1>(loss, in.upstream, x, y, rest...)); });
                    r.vjp01 = capture(fn, "vjp<0, 1>", [&] { return xloss::vjp<0, 1>(loss, in.upstream, x, y, rest...); });
                }
            }
        });
        if (recorder)
        {
            const char* const names[] = {"loss()", "value_and_grad<0>.value", "value_and_grad<1>.value",
                                         "value_and_grad<0, 1>.value", "value_and_grad<0>", "value_and_grad<1>",
                                         "grad<0>", "grad<1>", "vjp<0>", "vjp<1>", "vjp<0>(scalar)"};
            const outcome<xt::xarray<T>>* singles[] = {&r.value, &r.vg0_value, &r.vg1_value, &r.vg01_value, &r.vg0,
                                                       &r.vg1, &r.g0, &r.g1, &r.vjp0, &r.vjp1, &r.vjp0s};
            for (std::size_t i = 0; i < std::size(singles); ++i)
            {
                record(names[i], *singles[i]);
            }
            record("value_and_grad<0, 1>", r.vg01);
            record("grad<0, 1>", r.g01);
            record("vjp<0, 1>", r.vjp01);
        }
        return r;
    }

    // ---------------------------------------------------------------------
    // Long-double reference, per slice, with a size for each result's error.

    struct approx
    {
        ld value = 0;
        ld scale = 0;  // sum of the magnitudes of the terms: relative error budget
        ld floor = 0;  // absolute error budget (underflow of tiny terms)
    };

    struct slice_result
    {
        approx value;
        std::vector<approx> dx, dy;  // per element of the slice (0 where not selected)
        bool grad_checkable = true;
    };

    struct slice_in
    {
        std::vector<ld> x, y;
        std::vector<char> sel;
        long long label = 0;
        ld g = 1;
    };

    // Known library bugs whose inputs the reference check skips, named in
    // XLOSS_FUZZ_IGNORE (comma-separated), so that a fuzz run can look past
    // them for others. Unset (the default, and in .ci/robustness.sh): every
    // finding fails. See fuzz/regressions/README.md.
    bool ignoring(const char* bug)
    {
        static const std::string list = [] {
            const char* e = std::getenv("XLOSS_FUZZ_IGNORE");
            return "," + std::string(e ? e : "") + ",";
        }();
        return list.find("," + std::string(bug) + ",") != std::string::npos;
    }

    template <class T>
    ld tiny()
    {
        return static_cast<ld>(std::numeric_limits<T>::min());
    }

    template <class T>
    slice_result reference(loss_id loss, const slice_in& in, const case_t& c)
    {
        const std::size_t n = in.x.size();
        slice_result r;
        r.dx.assign(n, approx{});
        r.dy.assign(n, approx{});
        bool any = false;
        for (std::size_t k = 0; k < n; ++k)
        {
            any = any || in.sel[k];
        }
        if (!any)
        {
            return r;  // 0 for every loss, gradients 0
        }
        const ld g = in.g;
        // The error budget scales with |g|; at g == 0 it keeps the terms' own
        // size, so that 0 * (a term that overflows the type) = NaN is seen as
        // overflow territory rather than compared with 0.
        const ld ag = g == 0 ? 1 : std::fabs(g);
        switch (loss)
        {
            case loss_id::sce:
            case loss_id::sce_int:
            {
                ld mx = -std::numeric_limits<ld>::infinity();
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (in.sel[k])
                    {
                        mx = std::max(mx, in.x[k]);
                    }
                }
                const ld shift = std::isinf(mx) ? 0 : mx;
                ld z = 0;
                for (std::size_t k = 0; k < n; ++k)
                {
                    z += in.sel[k] ? std::exp(in.x[k] - shift) : 0;
                }
                const ld logz = std::log(z);
                if (loss == loss_id::sce_int)
                {
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
                    for (std::size_t k = 0; k < n; ++k)
                    {
                        if (in.sel[k])
                        {
                            const ld p = std::exp(in.x[k] - shift) / z;
                            const ld onehot = (k == l) ? 1 : 0;
                            r.dx[k] = {g * (p - onehot), ag * (p + 1), ag * tiny<T>()};
                        }
                    }
                    break;
                }
                ld value = 0, scale = 0, sy = 0, say = 0;
                for (std::size_t k = 0; k < n; ++k)
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
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (in.sel[k])
                    {
                        const ld d = in.x[k] - shift;
                        const ld p = std::exp(d) / z;
                        r.dx[k] = {g * (sy * p - in.y[k]), ag * (say * p + std::fabs(in.y[k])), ag * say * tiny<T>()};
                        r.dy[k] = {g * (logz - d), ag * (std::fabs(logz) + std::fabs(d) + 1), 0};
                    }
                }
                break;
            }
            case loss_id::kl:
            case loss_id::convex_kl:
            {
                const bool convex = loss == loss_id::convex_kl;
                approx v;
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (!in.sel[k])
                    {
                        continue;
                    }
                    const ld lp = in.x[k], t = in.y[k];
                    const ld log_t = t != 0 ? std::log(t) : 0;
                    if (ignoring("double_denormal_log") && std::is_same_v<T, double> && t > 0 && t < tiny<T>())
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
                break;
            }
            case loss_id::cos_sim:
            case loss_id::cos_dist:
            {
                const bool distance = loss == loss_id::cos_dist;
                const ld eps = static_cast<ld>(static_cast<T>(c.pass_options ? c.epsilon : 0.0));
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
                if (ignoring("cosine_tiny"))
                {
                    // Bug: a vector whose largest selected magnitude is a
                    // denormal below 1 / max() takes the rescaled path, where
                    // 1 / scale overflows to inf.
                    ld max_a = 0, max_b = 0;
                    for (std::size_t k = 0; k < n; ++k)
                    {
                        if (in.sel[k])
                        {
                            max_a = std::max(max_a, std::fabs(in.x[k]));
                            max_b = std::max(max_b, std::fabs(in.y[k]));
                        }
                    }
                    // And with epsilon > 0: epsilon / scale^2 overflows to inf
                    // below sqrt(epsilon / max()), and the gradient of that
                    // vector comes out 0.
                    const ld big = static_cast<ld>(std::numeric_limits<T>::max());
                    const ld limit = std::max(1 / big, eps > 0 ? 4 * std::sqrt(eps / big) : ld(0));
                    if ((max_a > 0 && max_a < limit) || (max_b > 0 && max_b < limit))
                    {
                        r.value.value = std::numeric_limits<ld>::quiet_NaN();  // no claim
                        r.grad_checkable = false;
                        return r;
                    }
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
                    break;
                }
                const ld gg = distance ? -g : g;
                const ld self_a = aa > eps ? cosine / (na * na) : 0;
                const ld self_b = bb > eps ? cosine / (nb * nb) : 0;
                // The library works in units of s = 2^ilogb(largest magnitude)
                // (bounded below when epsilon > 0, see scale_of in cosine.hpp)
                // and multiplies by g and then 1 / s last: what underflows in
                // the scaled units (below min() there) is lost, and comes
                // back multiplied by 1 / s. That is the absolute floor of a
                // gradient entry: (2 |g| + 1) min() / s, where s < 1.
                const auto unit = [&](bool of_a) {
                    ld largest = 0;
                    for (std::size_t k = 0; k < n; ++k)
                    {
                        if (in.sel[k])
                        {
                            largest = std::max(largest, std::fabs(of_a ? in.x[k] : in.y[k]));
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
                };
                const ld underflow = (2 * std::fabs(gg) + 1) * static_cast<ld>(std::numeric_limits<T>::min());
                const ld floor_a = underflow / unit(true), floor_b = underflow / unit(false);
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (in.sel[k])
                    {
                        const ld a = in.x[k], b = in.y[k];
                        r.dx[k] = {gg * (b / denom - self_a * a),
                                   ag * (std::fabs(b) / denom + std::fabs(a) * (cs + 1) / (na * na)), floor_a};
                        r.dy[k] = {gg * (a / denom - self_b * b),
                                   ag * (std::fabs(a) / denom + std::fabs(b) * (cs + 1) / (nb * nb)), floor_b};
                    }
                }
                break;
            }
            case loss_id::focal:
            {
                const double gamma = c.pass_options ? c.gamma : 2.0;
                const std::optional<double> alpha = c.pass_options ? c.alpha : std::nullopt;
                const ld G = gamma;
                approx v;
                for (std::size_t k = 0; k < n; ++k)
                {
                    if (!in.sel[k])
                    {
                        continue;
                    }
                    const ld x = in.x[k], l = in.y[k];
                    const ld e = std::exp(-std::fabs(x));
                    const ld rr = 1 / (1 + e);
                    const ld p = x >= 0 ? rr : e * rr;
                    const ld q = x >= 0 ? e * rr : rr;
                    const ld mlp = std::max(-x, ld(0)) + std::log1p(e);
                    const ld mlq = std::max(x, ld(0)) + std::log1p(e);
                    const ld ce = l * mlp + (1 - l) * mlq;
                    const ld u = p * (1 - l) + q * l;
                    const auto powg = [&](ld b) { return gamma == 0 ? ld(1) : (b <= 0 ? ld(0) : std::pow(b, G)); };
                    const ld ug = powg(u);
                    const ld w = alpha ? *alpha * l + (1 - *alpha) * (1 - l) : 1;
                    // The type's exp flushes results below its normal range, so u
                    // may be off by ~min: budget the change of u^gamma over that.
                    const ld du_floor = gamma == 0 ? 0 : powg(u + 4 * tiny<T>()) - powg(std::max(u - 4 * tiny<T>(), ld(0)));
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
                    const ld f = (p_minus_l_scale + std::fabs(x) + 2 * std::fabs(ce) * (1 + G)) * du_floor + tiny<T>();
                    r.dx[k] = {g * w * d0, ag * std::fabs(w) * s0, ag * f};
                    r.dy[k] = {g * d1, ag * s1, ag * f};
                }
                r.value = v;
                break;
            }
            default: break;
        }
        return r;
    }

    // Are the slice's selected inputs and its upstream all finite?
    bool all_finite(const slice_in& in)
    {
        if (!std::isfinite(in.g))
        {
            return false;
        }
        for (std::size_t k = 0; k < in.x.size(); ++k)
        {
            if (in.sel[k] && (!std::isfinite(in.x[k]) || !std::isfinite(in.y[k])))
            {
                return false;
            }
        }
        return true;
    }

    // Is the slice in the domain where the reference is meaningful?
    bool in_domain(loss_id loss, const slice_in& in)
    {
        if (!std::isfinite(in.g))
        {
            return false;
        }
        for (std::size_t k = 0; k < in.x.size(); ++k)
        {
            if (!in.sel[k])
            {
                continue;
            }
            const ld x = in.x[k], y = in.y[k];
            switch (loss)
            {
                case loss_id::sce:
                    // -inf logits are in the contract (with any label: +inf or 0 contribution).
                    if (std::isnan(x) || x == std::numeric_limits<ld>::infinity() || !std::isfinite(y))
                    {
                        return false;
                    }
                    break;
                case loss_id::sce_int:
                    if (std::isnan(x) || x == std::numeric_limits<ld>::infinity())
                    {
                        return false;
                    }
                    break;
                case loss_id::kl:
                case loss_id::convex_kl:
                    if (!std::isfinite(x) || !std::isfinite(y) || y < 0)
                    {
                        return false;
                    }
                    break;
                case loss_id::focal:
                    if (!std::isfinite(x) || !(y >= 0 && y <= 1))
                    {
                        return false;
                    }
                    break;
                default:
                    if (!std::isfinite(x) || !std::isfinite(y))
                    {
                        return false;
                    }
                    break;
            }
        }
        return true;
    }

    constexpr ld kTolerance = 64;  // ulps per term: loose on purpose

    template <class T>
    bool agrees(const approx& ref, T got, std::size_t terms)
    {
        const ld gv = static_cast<ld>(got);
        const ld limit = static_cast<ld>(std::numeric_limits<T>::max()) / (16 * (terms + 8));
        if (std::isnan(ref.value) || !std::isfinite(ref.scale) || ref.scale > limit)
        {
            return true;  // undefined, or where the type overflows on the way: no claim
        }
        if (std::isinf(ref.value))
        {
            return gv == ref.value;
        }
        if (!std::isfinite(gv))
        {
            return std::fabs(ref.value) > static_cast<ld>(std::numeric_limits<T>::max());
        }
        const ld eps = std::numeric_limits<T>::epsilon();
        const ld tol = kTolerance * eps * static_cast<ld>(terms + 8) * ref.scale
                       + kTolerance * static_cast<ld>(terms + 8) * (ref.floor + tiny<T>());
        return std::fabs(gv - ref.value) <= tol;
    }

    // ---------------------------------------------------------------------
    // The checks.

    template <class R>
    void expect_error(const outcome<R>& o, error_kind expected, const char* entry)
    {
        if (o.error != expected)
        {
            fail(std::string(entry) + ": expected " + error_names[static_cast<int>(expected)] + ", got "
                 + error_names[static_cast<int>(o.error)] + (o.message.empty() ? "" : ": " + o.message));
        }
    }

    template <class T>
    bool same_bits(T a, T b)
    {
        return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(T)) == 0;
    }

    template <class T>
    void expect_identical(const xt::xarray<T>& a, const xt::xarray<T>& b, const char* entry)
    {
        if (a.shape() != b.shape())
        {
            fail(std::string(entry) + ": masked-out inputs changed the result's shape");
        }
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            if (!same_bits(a.flat(i), b.flat(i)))
            {
                std::ostringstream o;
                o.precision(17);
                o << entry << ": masked-out inputs reach the result at flat index " << i << ": " << a.flat(i)
                  << " with them, " << b.flat(i) << " with them replaced by 0\n  with:    " << dump(a)
                  << "\n  without: " << dump(b);
                fail(o.str());
            }
        }
    }

    template <class T>
    void expect_identical(const results<T>& a, const results<T>& b)
    {
        auto one = [&](const auto& x, const auto& y, const char* entry) {
            if (x.result && y.result)
            {
                if constexpr (std::is_same_v<std::decay_t<decltype(*x.result)>, xt::xarray<T>>)
                {
                    expect_identical(*x.result, *y.result, entry);
                }
                else
                {
                    expect_identical(x.result->first, y.result->first, entry);
                    expect_identical(x.result->second, y.result->second, entry);
                }
            }
            else if (x.error != y.error || x.message != y.message)
            {
                fail(std::string(entry) + ": masked-out inputs changed the outcome: '" + x.message + "' vs '"
                     + y.message + "'");
            }
        };
        one(a.value, b.value, "loss()");
        one(a.vg0_value, b.vg0_value, "value_and_grad<0>.value");
        one(a.vg0, b.vg0, "value_and_grad<0>.grad");
        one(a.g0, b.g0, "grad<0>");
        one(a.vjp0, b.vjp0, "vjp<0>");
        one(a.vg1_value, b.vg1_value, "value_and_grad<1>.value");
        one(a.vg1, b.vg1, "value_and_grad<1>.grad");
        one(a.vg01_value, b.vg01_value, "value_and_grad<0, 1>.value");
        one(a.vg01, b.vg01, "value_and_grad<0, 1>.grad");
        one(a.g1, b.g1, "grad<1>");
        one(a.g01, b.g01, "grad<0, 1>");
        one(a.vjp1, b.vjp1, "vjp<1>");
        one(a.vjp01, b.vjp01, "vjp<0, 1>");
    }

    template <class T, class Label>
    struct checker
    {
        const case_t& c;
        const model_t& m;
        const inputs<T, Label>& in;
        const shape_t& y_shape;

        std::vector<std::size_t> x_of, y_of;  // per full position: input flat index

        checker(const case_t& c_, const model_t& m_, const inputs<T, Label>& in_, const shape_t& ys)
            : c(c_), m(m_), in(in_), y_shape(ys)
        {
            const std::size_t total = product(m.full);
            x_of.resize(total);
            y_of.resize(total);
            for (std::size_t f = 0; f < total; ++f)
            {
                const auto idx = unflatten(m.full, f);
                x_of[f] = broadcast_index(c.x_shape, idx);
                y_of[f] = is_int_loss(c) ? 0 : broadcast_index(y_shape, idx);
            }
        }

        ld upstream_at(std::size_t s, bool use_upstream) const
        {
            if (!use_upstream)
            {
                return 1;
            }
            if (c.ukind == upstream_kind::scalar)
            {
                return static_cast<ld>(in.upstream_scalar);
            }
            return static_cast<ld>(in.upstream.flat(broadcast_index(m.up_shape, unflatten(m.batch, s))));
        }

        // Values and (w.r.t. the upstream or 1) gradients of the reference.
        struct expected_t
        {
            std::vector<approx> value;
            std::vector<approx> dx, dy;  // input shapes
            std::vector<char> value_ok, dx_ok, dy_ok;
        };

        expected_t expected(bool use_upstream) const
        {
            expected_t e;
            e.value.assign(m.slices, approx{});
            e.value_ok.assign(m.slices, 0);
            e.dx.assign(product(c.x_shape), approx{});
            e.dy.assign(is_int_loss(c) ? 0 : product(y_shape), approx{});
            e.dx_ok.assign(e.dx.size(), 1);
            e.dy_ok.assign(e.dy.size(), 1);
            for (std::size_t s = 0; s < m.slices; ++s)
            {
                slice_in si;
                si.x.resize(m.n);
                si.y.resize(m.n);
                si.sel.resize(m.n);
                for (std::size_t k = 0; k < m.n; ++k)
                {
                    const std::size_t f = m.pos[s * m.n + k];
                    si.sel[k] = m.selected[f];
                    si.x[k] = static_cast<ld>(in.x.flat(x_of[f]));
                    si.y[k] = is_int_loss(c) ? 0 : static_cast<ld>(in.y.flat(y_of[f]));
                }
                if (is_int_loss(c))
                {
                    si.label = static_cast<long long>(
                        static_cast<std::ptrdiff_t>(in.labels.flat(broadcast_index(c.y_shape, unflatten(m.batch, s)))));
                }
                si.g = upstream_at(s, use_upstream);
                const bool ok = in_domain(c.loss, si);
                if (!ok && all_finite(si))
                {
                    saw_finite_out_of_domain = true;
                }
                const auto r = reference<T>(c.loss, si, c);
                e.value[s] = r.value;
                e.value_ok[s] = ok;
                for (std::size_t k = 0; k < m.n; ++k)
                {
                    const std::size_t f = m.pos[s * m.n + k];
                    auto add = [&](std::vector<approx>& to, std::vector<char>& to_ok, std::size_t at, const approx& a) {
                        to[at].value += a.value;
                        to[at].scale += std::fabs(a.value) + a.scale;
                        to[at].floor += a.floor;
                        to_ok[at] = to_ok[at] && ok && r.grad_checkable;
                    };
                    add(e.dx, e.dx_ok, x_of[f], r.dx[k]);
                    if (!is_int_loss(c))
                    {
                        add(e.dy, e.dy_ok, y_of[f], r.dy[k]);
                    }
                }
            }
            return e;
        }

        void compare(const std::vector<approx>& ref, const std::vector<char>& ok, const xt::xarray<T>& got,
                     const shape_t& shape, std::size_t terms, const char* entry) const
        {
            if (shape_t(got.shape().begin(), got.shape().end()) != shape)
            {
                fail(std::string(entry) + ": result shape " + show(shape_t(got.shape().begin(), got.shape().end()))
                     + ", expected " + show(shape));
            }
            for (std::size_t i = 0; i < ref.size(); ++i)
            {
                if (ok[i] && !agrees<T>(ref[i], got.flat(i), terms))
                {
                    std::ostringstream o;
                    o.precision(20);
                    o << entry << " (" << (std::is_same_v<T, float> ? "float" : "double") << ") at flat index " << i
                      << ": got " << got.flat(i) << ", long-double reference " << ref[i].value << " (term scale "
                      << ref[i].scale << ", floor " << ref[i].floor << ")\n  x: " << dump(in.x);
                    if (is_int_loss(c))
                    {
                        o << "\n  labels: " << dump(in.labels);
                    }
                    else
                    {
                        o << "\n  y: " << dump(in.y);
                    }
                    if (c.mkind != mask_kind::none)
                    {
                        o << "\n  where: " << dump(in.mask);
                    }
                    fail(o.str());
                }
            }
        }

        // Gradients of elements that no selected position reads are exactly 0.
        void expect_zero_where_unread(const xt::xarray<T>& grad, bool second, const char* entry) const
        {
            std::vector<char> read(grad.size(), 0);
            for (std::size_t f = 0; f < m.selected.size(); ++f)
            {
                if (m.selected[f])
                {
                    read[second ? y_of[f] : x_of[f]] = 1;
                }
            }
            for (std::size_t i = 0; i < grad.size(); ++i)
            {
                if (!read[i] && !(grad.flat(i) == T(0)))
                {
                    std::ostringstream o;
                    o << entry << ": gradient of an unread (masked-out) element is " << grad.flat(i)
                      << ", not 0, at flat index " << i;
                    fail(o.str());
                }
            }
        }

        void check(const results<T>& r, bool upstream_ok) const
        {
            const std::size_t terms = m.n + product(m.full) / std::max<std::size_t>(1, product(c.x_shape));
            const std::size_t terms_y = m.n + (is_int_loss(c) ? 0 : product(m.full) / std::max<std::size_t>(1, product(y_shape)));
            const auto plain = expected(false);
            const auto up = upstream_ok ? expected(true) : plain;
            const char* v_entries[] = {"loss()", "value_and_grad<0>.value", "value_and_grad<1>.value",
                                       "value_and_grad<0, 1>.value"};
            const outcome<xt::xarray<T>>* values[] = {&r.value, &r.vg0_value, &r.vg1_value, &r.vg01_value};
            for (int i = 0; i < 4; ++i)
            {
                if (values[i]->result)
                {
                    compare(plain.value, plain.value_ok, *values[i]->result, m.batch, m.n, v_entries[i]);
                }
            }
            auto check_dx = [&](const outcome<xt::xarray<T>>& o, const auto& e, const char* entry) {
                if (o.result)
                {
                    compare(e.dx, e.dx_ok, *o.result, c.x_shape, terms, entry);
                    expect_zero_where_unread(*o.result, false, entry);
                }
            };
            auto check_dy = [&](const outcome<xt::xarray<T>>& o, const auto& e, const char* entry) {
                if (o.result)
                {
                    compare(e.dy, e.dy_ok, *o.result, y_shape, terms_y, entry);
                    expect_zero_where_unread(*o.result, true, entry);
                }
            };
            check_dx(r.vg0, plain, "value_and_grad<0>.grad");
            check_dx(r.g0, plain, "grad<0>");
            check_dx(r.vjp0, up, "vjp<0>");
            if (!is_int_loss(c))
            {
                check_dy(r.vg1, plain, "value_and_grad<1>.grad");
                check_dy(r.g1, plain, "grad<1>");
                check_dy(r.vjp1, up, "vjp<1>");
                auto pair = [&](const outcome<std::pair<xt::xarray<T>, xt::xarray<T>>>& o, const auto& e,
                                const char* e0, const char* e1) {
                    if (o.result)
                    {
                        outcome<xt::xarray<T>> a, b;
                        a.result = o.result->first;
                        b.result = o.result->second;
                        check_dx(a, e, e0);
                        check_dy(b, e, e1);
                    }
                };
                pair(r.vg01, plain, "value_and_grad<0, 1>.grad.first", "value_and_grad<0, 1>.grad.second");
                pair(r.g01, plain, "grad<0, 1>.first", "grad<0, 1>.second");
                pair(r.vjp01, up, "vjp<0, 1>.first", "vjp<0, 1>.second");
            }
        }
    };

    template <class T, class Label, class Loss>
    void run_typed(const case_t& c, model_t m, const Loss& loss)
    {
        inputs<T, Label> raw = materialise<T, Label>(c, m);
        const bool int_loss = is_int_loss(c);
        auto call = [&](const inputs<T, Label>& in) {
            if constexpr (xloss::detail::takes_labels<typename Loss::rule>)
            {
                return call_all<T>(c, m.full.size(), loss, in, in.labels);
            }
            else
            {
                return call_all<T>(c, m.full.size(), loss, in, in.y);
            }
        };

        if (m.error != error_kind::none)
        {
            const auto r = call(raw);
            for (const auto* o : {&r.value, &r.vg0, &r.g0, &r.vg1, &r.g1})
            {
                if (o != &r.vg1 && o != &r.g1)
                {
                    expect_error(*o, m.error, "loss/grad");
                }
                else if (!int_loss)
                {
                    expect_error(*o, m.error, "loss/grad<1>");
                }
            }
            expect_error(r.vjp0, m.vjp_error, "vjp<0>");
            if (!int_loss)
            {
                expect_error(r.vg01, m.error, "value_and_grad<0, 1>");
                expect_error(r.g01, m.error, "grad<0, 1>");
                expect_error(r.vjp1, m.vjp_error, "vjp<1>");
                expect_error(r.vjp01, m.vjp_error, "vjp<0, 1>");
            }
            return;
        }

        if (ignoring("empty_unbroadcast") && product(m.full) == 0
            && (c.x_shape != m.full || (!int_loss && c.y_shape != m.full)))
        {
            return;  // known bug: the gradient of a broadcast input of an empty call overflows a buffer
        }
        select(c, m, raw);
        current_model = &m;
        const error_kind label_err = int_loss ? label_error(m, raw, c.y_shape) : error_kind::none;
        const error_kind err = label_err;
        const error_kind vjp_err =
            label_err != error_kind::none ? label_err
                                          : (broadcasts_to(m.up_shape, m.batch) ? error_kind::none : error_kind::invalid_argument);

        checker<T, Label> chk(c, m, raw, c.y_shape);
        // Poison: every input element that no selected position reads becomes NaN or inf.
        std::vector<char> x_read(raw.x.size(), 0), y_read(int_loss ? 0 : raw.y.size(), 0);
        for (std::size_t f = 0; f < m.selected.size(); ++f)
        {
            if (m.selected[f])
            {
                x_read[chk.x_of[f]] = 1;
                if (!int_loss)
                {
                    y_read[chk.y_of[f]] = 1;
                }
            }
        }
        if (c.poison)
        {
            const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                                  -std::numeric_limits<T>::infinity()};
            for (std::size_t i = 0; i < x_read.size(); ++i)
            {
                if (!x_read[i])
                {
                    raw.x.flat(i) = specials[i % 3];
                }
            }
            for (std::size_t i = 0; i < y_read.size(); ++i)
            {
                if (!y_read[i])
                {
                    raw.y.flat(i) = specials[(i + 1) % 3];
                }
            }
        }
        // The clean twin: unread elements, labels and upstream of empty slices set to 0.
        inputs<T, Label> clean = raw;
        for (std::size_t i = 0; i < x_read.size(); ++i)
        {
            if (!x_read[i])
            {
                clean.x.flat(i) = T(0);
            }
        }
        for (std::size_t i = 0; i < y_read.size(); ++i)
        {
            if (!y_read[i])
            {
                clean.y.flat(i) = T(0);
            }
        }
        if (int_loss || c.ukind != upstream_kind::scalar)
        {
            std::vector<char> label_read(clean.labels.size(), 0), up_read(clean.upstream.size(), 0);
            for (std::size_t s = 0; s < m.slices; ++s)
            {
                if (m.slice_any[s])
                {
                    const auto idx = unflatten(m.batch, s);
                    if (int_loss)
                    {
                        label_read[broadcast_index(c.y_shape, idx)] = 1;
                    }
                    if (c.ukind != upstream_kind::scalar && m.up_shape.size() <= idx.size() && vjp_err == error_kind::none)
                    {
                        up_read[broadcast_index(m.up_shape, idx)] = 1;
                    }
                }
            }
            for (std::size_t i = 0; i < label_read.size(); ++i)
            {
                if (!label_read[i])
                {
                    clean.labels.flat(i) = Label(0);
                }
            }
            if (vjp_err == error_kind::none)
            {
                for (std::size_t i = 0; i < up_read.size(); ++i)
                {
                    if (!up_read[i])
                    {
                        clean.upstream.flat(i) = T(0);
                    }
                }
            }
        }

        if (std::getenv("XLOSS_FUZZ_DUMP"))
        {
            std::fprintf(stderr, "%s inputs\n  x: %s\n  y: %s\n  where: %s\n  upstream: %s (scalar %g)\n",
                         sizeof(T) == sizeof(float) ? "float" : "double", dump(raw.x, 100000).c_str(),
                         dump(raw.y, 100000).c_str(), dump(raw.mask, 100000).c_str(),
                         dump(raw.upstream, 100000).c_str(), static_cast<double>(raw.upstream_scalar));
        }
        const auto r = call(raw);
        expect_error(r.value, err, "loss()");
        expect_error(r.vg0, err, "value_and_grad<0>");
        expect_error(r.g0, err, "grad<0>");
        expect_error(r.vjp0, vjp_err, "vjp<0>");
        if (!int_loss)
        {
            expect_error(r.vg1, err, "value_and_grad<1>");
            expect_error(r.vg01, err, "value_and_grad<0, 1>");
            expect_error(r.g1, err, "grad<1>");
            expect_error(r.g01, err, "grad<0, 1>");
            expect_error(r.vjp1, vjp_err, "vjp<1>");
            expect_error(r.vjp01, vjp_err, "vjp<0, 1>");
        }
        const auto rc = call(clean);
        expect_identical(r, rc);
        if (err != error_kind::none)
        {
            return;  // an out-of-range label: nothing to compare with the reference
        }
        checker<T, Label>(c, m, clean, c.y_shape).check(rc, vjp_err == error_kind::none);
    }

    template <class T, class Loss>
    void run_loss(const case_t& c, const model_t& m, const Loss& loss)
    {
        if constexpr (xloss::detail::takes_labels<typename Loss::rule>)
        {
            if (c.labels_unsigned)
            {
                run_typed<T, std::size_t>(c, m, loss);
            }
            else
            {
                run_typed<T, int>(c, m, loss);
            }
        }
        else
        {
            run_typed<T, int>(c, m, loss);
        }
    }

    template <class T>
    void run_all(const case_t& c, const model_t& m)
    {
        switch (c.loss)
        {
            case loss_id::sce: run_loss<T>(c, m, xloss::softmax_cross_entropy); break;
            case loss_id::sce_int: run_loss<T>(c, m, xloss::softmax_cross_entropy_with_integer_labels); break;
            case loss_id::kl: run_loss<T>(c, m, xloss::kl_divergence); break;
            case loss_id::convex_kl: run_loss<T>(c, m, xloss::convex_kl_divergence); break;
            case loss_id::cos_sim: run_loss<T>(c, m, xloss::cosine_similarity); break;
            case loss_id::cos_dist: run_loss<T>(c, m, xloss::cosine_distance); break;
            case loss_id::focal: run_loss<T>(c, m, xloss::sigmoid_focal_loss); break;
            default: break;
        }
    }

    // Runs one input through every check of this build.
    void run_input(const std::uint8_t* data, std::size_t size)
    {
        case_t c = decode(data, size);
        const model_t m = make_model(c);
        current_case = &c;
        current_model = &m;
        static const bool verbose = std::getenv("XLOSS_FUZZ_VERBOSE") != nullptr;
        if (verbose)
        {
            std::fprintf(stderr, "%s\n", describe(c, m).c_str());
        }
        recording_type = "float";
        run_all<float>(c, m);
        current_model = &m;
        recording_type = "double";
        run_all<double>(c, m);
        current_case = nullptr;
    }

    std::vector<backend_output> run_recorded(const std::uint8_t* data, std::size_t size)
    {
        std::vector<backend_output> out;
        recorder = &out;
        saw_finite_out_of_domain = false;
        run_input(data, size);
        recorder = nullptr;
        for (auto& o : out)
        {
            o.claimed = !saw_finite_out_of_domain;
        }
        return out;
    }
}

#ifdef XLOSS_FUZZ_SCALAR_BUILD

std::vector<backend_output> xloss_fuzz_scalar_run(const std::uint8_t* data, std::size_t size)
{
    return run_recorded(data, size);
}

#else

namespace
{
    // NaN, -inf, +inf, or finite.
    int kind_of(double v)
    {
        return std::isnan(v) ? 0 : v == -std::numeric_limits<double>::infinity() ? 1
                                 : v == std::numeric_limits<double>::infinity()  ? 2
                                                                                 : 3;
    }

    // The SIMD and the scalar build agree on every entry point's error, on
    // every result's shape, and element by element on its kind (NaN, -inf,
    // +inf, finite), unless some selected slice of the input is finite but
    // outside the loss's domain (backend_output::claimed; inputs whose only
    // trouble is NaN or infinities stay compared, as those must propagate
    // alike). A NaN or an infinity in one backend only is a finding,
    // except at the edge of overflow, where both are non-finite or huge
    // (beyond max / 2^16: inf - inf and the rounding of the last sum are
    // then up to the order of the operations, and the long-double reference
    // makes no claim there either). Finite values are each held to the same
    // reference, with the same error budget, by both builds' own checks, and
    // so agree within twice that budget. Returns the first difference, or "".
    std::string compare_backends(const std::vector<backend_output>& simd, const std::vector<backend_output>& scalar)
    {
        if (simd.size() != scalar.size())
        {
            return "SIMD and scalar builds made different numbers of calls: " + std::to_string(simd.size()) + " and "
                   + std::to_string(scalar.size());
        }
        for (std::size_t i = 0; i < simd.size(); ++i)
        {
            const auto& a = simd[i];
            const auto& b = scalar[i];
            if (a.entry != b.entry || a.error != b.error || a.shape != b.shape || a.values.size() != b.values.size())
            {
                return "SIMD and scalar builds differ at " + a.entry + " / " + b.entry + ": error "
                       + error_names[a.error] + " and " + error_names[b.error];
            }
            if (!a.claimed || !b.claimed)
            {
                continue;  // finite inputs outside the domain: no claim on the values
            }
            const double huge = a.type_max / 65536;
            const auto overflowing = [&](double v) { return !std::isfinite(v) || std::fabs(v) > huge; };
            for (std::size_t k = 0; k < a.values.size(); ++k)
            {
                const double va = a.values[k], vb = b.values[k];
                if (kind_of(va) != kind_of(vb) && !(overflowing(va) && overflowing(vb)))
                {
                    std::ostringstream o;
                    o.precision(17);
                    o << "SIMD and scalar builds differ at " << a.entry << ", flat index " << k << ": SIMD " << va
                      << ", scalar " << vb;
                    return o.str();
                }
            }
        }
        return "";
    }
}

#endif

#ifndef XLOSS_FUZZ_SCALAR_BUILD

// UBSan: halt on the first report (so libFuzzer keeps the input) and show
// the stack. The checks stay recoverable in the build, so that a local run
// can look past a known report with UBSAN_OPTIONS=suppressions=FILE (the
// environment adds to and overrides these defaults).
extern "C" const char* __ubsan_default_options()
{
    return "halt_on_error=1:print_stacktrace=1";
}

// With XLOSS_FUZZ_COMPARE_BACKENDS (fuzz_scalar.cpp linked in), every input
// also runs through the scalar build, and the two builds are compared.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
#ifdef XLOSS_FUZZ_COMPARE_BACKENDS
    const auto simd = run_recorded(data, size);
    const std::string difference = compare_backends(simd, xloss_fuzz_scalar_run(data, size));
    if (!difference.empty())
    {
        case_t c = decode(data, size);
        const model_t m = make_model(c);
        current_case = &c;
        current_model = &m;
        fail(difference);
    }
#else
    run_input(data, size);
#endif
    return 0;
}

#endif
