// Decoding: the fuzz input's bytes -> one call description (case_t).
//
// The byte format (fuzz/make_corpus.py writes the seed corpus in it; every
// input in fuzz/corpus and fuzz/regressions depends on it, so it does not
// change):
//
//    0 loss (mod the number of losses: the catalogue's order)
//    1 rank (mod 5)          2-5 extents (b < 128: b % 9, else b % 41)
//    6 x shape bits: 0-3 extent 1, 4-5 leading axes dropped, 6 extent += 2
//    7 y shape bits: as x, 6-7 extent += 1; integer labels: mode (mod 5),
//      bits 3+ extent 1
//    8 axis kind (mod 8)     9-10 axis parameters (list membership, order, signs)
//   11 where kind (mod 6)   12 where extent-1 bits
//   13 density (mod 6; 5: bits of the tail), bits 3+ where parameter
//   14 options: bit 0 passed, 1-3 epsilon / gamma, 4-6 alpha
//   15 upstream: kind (mod 4), bits 2+ shape bits
//   16 misc: bit 0 size_t labels, 1-2 fill mode, 3 poison masked-out inputs
//   17 upstream parameter  18 label parameter  19 scale exponents (x: 0-2, y: 3-5)
//   20-23 seed of the fill generator (big-endian)
//   24-   values (see decode_value)
//
// Knows nothing of xloss: which losses take integer labels is passed in.
#ifndef XLOSS_FUZZ_CASE_HPP
#define XLOSS_FUZZ_CASE_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace xloss_fuzz
{
    using ld = long double;
    using shape_t = std::vector<std::size_t>;

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

    enum class upstream_kind
    {
        scalar,
        batch,
        batch_broadcast,
        wrong,
        count
    };

    // What the decoder needs to know of a loss (the rest is the driver's).
    struct loss_info
    {
        const char* name;
        bool integer_labels;  // its second input: one class index per slice
    };

    struct case_t
    {
        std::size_t loss = 0;  // index into the catalogue
        const char* loss_name = "";
        bool integer_labels = false;
        shape_t base;     // the decoded shape, before broadcasting
        shape_t x_shape;  // logits / log_predictions / predictions
        shape_t y_shape;  // second input; for integer labels: label shape (decided after the layout)
        int y_mode = 0;   // integer labels: 0, 1 exact batch; 2 broadcast; 3 wrong rank; 4 wrong extent
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

        int fill_mode = 0;    // values past the data: 0 finite, 1 any code, 2 in [0, 1], 3 mostly specials
        bool poison = false;  // overwrite masked-out inputs with NaN / inf
        int x_scale = 0, y_scale = 0;
        std::uint64_t seed = 0;
        std::vector<std::uint8_t> tail;

        std::uint8_t axis_a = 0, axis_b = 0, up_param = 0, label_param = 0;
    };

    // Decodes one input; `losses` lists the losses in loss-byte order.
    case_t decode(const std::uint8_t* data, std::size_t size, const std::vector<loss_info>& losses);

    // The axis argument, decided against the full rank (bytes 8-10).
    void decide_axes(case_t& c, std::size_t rank);

    // The fill generator for values past the data.
    struct lcg
    {
        std::uint64_t state;
        std::uint8_t next()
        {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            return static_cast<std::uint8_t>(state >> 56);
        }
    };

    // Byte -> value code. Codes below 16 are the special values; 16..135 are
    // the probabilities k/119 and 136..255 spread over [-10, 10).
    template <class T>
    T decode_value(std::uint8_t b, int scale_exp)
    {
        using lim = std::numeric_limits<T>;
        switch (b)
        {
            case 0:
                return lim::quiet_NaN();
            case 1:
                return lim::infinity();
            case 2:
                return -lim::infinity();
            case 3:
                return lim::denorm_min() * T(3);
            case 4:
                return -lim::min() / T(8);  // a denormal
            case 5:
                return T(1e30);
            case 6:
                return T(-1e30);
            case 7:
                return T(0);
            case 8:
                return -T(0);
            case 9:
                return lim::min();
            case 10:
                return T(1e4);
            case 11:
                return T(-1e4);
            case 12:
                return T(1e-30);
            case 13:
                return T(88.5);  // exp(-88.5) is below float's normal range
            case 14:
                return T(1);
            case 15:
                return T(0.5);
            default:
                break;
        }
        const T v = b < 136 ? T(b - 16) / T(119) : T(int(b) - 196) / T(6);
        return std::ldexp(v, scale_exp);
    }

    // A value past the data, drawn from g by the case's fill mode.
    template <class T>
    T fill_value(const case_t& c, lcg& g, int scale)
    {
        std::uint8_t b = g.next();
        switch (c.fill_mode)
        {
            case 0:
                b = static_cast<std::uint8_t>(16 + b % 240);
                break;
            case 2:
                b = static_cast<std::uint8_t>(16 + b % 120);
                break;
            case 3:
                b = (b & 1) ? static_cast<std::uint8_t>(b % 16) : static_cast<std::uint8_t>(16 + b % 240);
                break;
            default:
                break;
        }
        return decode_value<T>(b, scale);
    }
}

#endif
