// The character model: an embedding, one GRU layer and a linear read-out,
// with backpropagation through time written out by hand. xloss supplies the
// loss and d loss / d logits; everything behind the logits is here.
//
// The GRU is PyTorch's (torch.nn.GRU, gates in the order r, z, n):
//
//   r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
//   z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
//   n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
//   h' = (1 - z) * n + z * h
//
// The three gates' weights sit side by side in W_ih [E, 3H] and W_hh [H, 3H],
// so that a step is one GEMM. The input is a token, so x W_ih + b_ih is a row
// of table = embedding W_ih + b_ih [27, 3H]: computed once per batch (a
// 27-row GEMM) rather than per position, the same function with fewer
// flops. Matrix products go through xtensor-blas (BLAS sgemm) on
// xt::adapt views of the buffers.
//
// Layout: states and gates are time-major ([T, B, ...]), so that a step's
// rows are contiguous; the logits handed to xloss are [B, T, 27], the
// layout of the labels and of the where mask.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor-blas/xblas.hpp>

#include "../common/adam.hpp"
#include "../common/random.hpp"
#include "word_list.hpp"

namespace words
{
    using Matrix = xt::xtensor<float, 2>;
    using Vector = xt::xtensor<float, 1>;
    using Logits = xt::xtensor<float, 3>;  // [B, T, num_classes]
    using xloss_examples::Parameter;
    using xloss_examples::Rng;

    // A row-major [rows, cols] view of a raw buffer, for xt::blas::gemm.
    inline auto as_matrix(const float* data, std::size_t rows, std::size_t cols)
    {
        // gemm only reads its inputs; the adaptor type wants a mutable pointer.
        return xt::adapt(const_cast<float*>(data), rows * cols, xt::no_ownership(),
                         std::array<std::size_t, 2>{rows, cols});
    }

    // c = op(a) op(b), or c += op(a) op(b) when `accumulate`; op transposes
    // when asked. Shapes are the callers' responsibility, as in BLAS.
    template <class A, class B>
    void gemm(const A& a,
              const B& b,
              float* c,
              std::size_t rows,
              std::size_t cols,
              bool transpose_a,
              bool transpose_b,
              bool accumulate)
    {
        auto out = as_matrix(c, rows, cols);
        xt::blas::gemm(a, b, out, transpose_a, transpose_b, 1.0f, accumulate ? 1.0f : 0.0f);
    }

    // The GRU cell's arithmetic for one lane (float) or one xsimd batch of
    // lanes, written once for both: the body of a row runs on batches, its
    // tail (hidden sizes that are not a multiple of the batch) on floats.
    // The exp and tanh of the gates are most of a step's time outside the
    // GEMMs; libm's scalar expm1f/tanhf were 40% of the profile.
    namespace lanes
    {
        using batch = xsimd::batch<float>;

        template <class V>
        V load(const float* p)
        {
            if constexpr (std::is_same_v<V, float>)
            {
                return *p;
            }
            else
            {
                return V::load_unaligned(p);
            }
        }

        inline void store(float* p, float v)
        {
            *p = v;
        }
        inline void store(float* p, const batch& v)
        {
            v.store_unaligned(p);
        }

        inline float exp(float x)
        {
            return std::exp(x);
        }
        inline batch exp(const batch& x)
        {
            return xsimd::exp(x);
        }

        inline float tanh(float x)
        {
            return std::tanh(x);
        }
        inline batch tanh(const batch& x)
        {
            return xsimd::tanh(x);
        }
    }

    // Lanes [j, j + width of V) of one row of a GRU step. gi: the token's
    // table row (x W_ih + b_ih, [3H]); gh: h_prev W_hh ([3H]); bh: b_hh.
    // Writes the gates r, z, n ([3H]), h W_hn + b_hn ([H]) and h' ([H]).
    template <class V>
    void gru_cell(const float* gi,
                  const float* gh,
                  const float* bh,
                  const float* h_prev,
                  std::size_t n_h,
                  std::size_t j,
                  float* gates,
                  float* hn,
                  float* h)
    {
        using lanes::load;
        const V one(1.0f);
        const V r = one / (one + lanes::exp(-(load<V>(gi + j) + load<V>(gh + j) + load<V>(bh + j))));
        const std::size_t jz = n_h + j, jn = 2 * n_h + j;
        const V z = one / (one + lanes::exp(-(load<V>(gi + jz) + load<V>(gh + jz) + load<V>(bh + jz))));
        const V hn_j = load<V>(gh + jn) + load<V>(bh + jn);
        const V n = lanes::tanh(load<V>(gi + jn) + r * hn_j);
        lanes::store(gates + j, r);
        lanes::store(gates + jz, z);
        lanes::store(gates + jn, n);
        lanes::store(hn + j, hn_j);
        lanes::store(h + j, (one - z) * n + z * load<V>(h_prev + j));
    }

    // Standard normal from two uniforms (Box-Muller): the same numbers on
    // every platform for a given seed, which std::normal_distribution is not.
    inline float standard_normal(Rng& rng)
    {
        const double u1 = (static_cast<double>(rng() >> 8) + 1.0) / 16777217.0;  // (0, 1]
        const double u2 = static_cast<double>(rng() >> 8) / 16777216.0;
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }

    struct ModelSize
    {
        std::size_t embedding = 16;
        std::size_t hidden = 128;
    };

    class GruLanguageModel
    {
    public:
        // PyTorch's default initialisations, so that torch_baseline.py
        // starts from the same distribution: embedding N(0, 1); GRU and
        // read-out weights and biases U(-1/sqrt(H), 1/sqrt(H)).
        GruLanguageModel(ModelSize size, Rng& rng)
            : m_e(size.embedding)
            , m_h(size.hidden)
        {
            const float limit = 1.0f / std::sqrt(static_cast<float>(m_h));
            m_embedding = Matrix::from_shape({num_inputs, m_e});
            for (float& w : m_embedding)
            {
                w = standard_normal(rng);
            }
            fill_uniform(m_w_ih = Matrix::from_shape({m_e, 3 * m_h}), limit, rng);
            fill_uniform(m_b_ih = Vector::from_shape({3 * m_h}), limit, rng);
            fill_uniform(m_w_hh = Matrix::from_shape({m_h, 3 * m_h}), limit, rng);
            fill_uniform(m_b_hh = Vector::from_shape({3 * m_h}), limit, rng);
            fill_uniform(m_w_out = Matrix::from_shape({m_h, num_classes}), limit, rng);
            fill_uniform(m_b_out = Vector::from_shape({num_classes}), limit, rng);
            m_d_embedding = Matrix::from_shape(m_embedding.shape());
            m_d_w_ih = Matrix::from_shape(m_w_ih.shape());
            m_d_b_ih = Vector::from_shape(m_b_ih.shape());
            m_d_w_hh = Matrix::from_shape(m_w_hh.shape());
            m_d_b_hh = Vector::from_shape(m_b_hh.shape());
            m_d_w_out = Matrix::from_shape(m_w_out.shape());
            m_d_b_out = Vector::from_shape(m_b_out.shape());
        }

        std::size_t hidden() const
        {
            return m_h;
        }

        // Logits [B, T, 27] of a batch; keeps what backward() needs.
        const Logits& forward(const Batch& batch)
        {
            const std::size_t steps = batch.steps, rows = batch.size, h = m_h;
            compute_table();
            m_states = xt::zeros<float>({steps + 1, rows, h});
            m_gates = Matrix::from_shape({steps * rows, 3 * h});
            m_hn = Matrix::from_shape({steps * rows, h});
            m_scratch = Matrix::from_shape({rows, 3 * h});
            for (std::size_t t = 0; t < steps; ++t)
            {
                step(&batch.inputs(t, 0), rows, state(t), state(t + 1), &m_gates(t * rows, 0),
                     &m_hn(t * rows, 0));
            }
            read_out(steps, rows);
            return m_logits;
        }

        // Gradients of the parameters from dL/dlogits [B, T, 27] of the
        // last forward() batch.
        void backward(const Batch& batch, const Logits& dlogits)
        {
            const std::size_t steps = batch.steps, rows = batch.size, h = m_h;
            const Matrix dstates = read_out_backward(dlogits, steps, rows);
            m_dgi = Matrix::from_shape({steps * rows, 3 * h});
            m_dgh = Matrix::from_shape({steps * rows, 3 * h});
            Matrix dh = xt::zeros<float>({rows, h});
            for (std::size_t t = steps; t-- > 0;)
            {
                // dL/dh_t: through the read-out, and from step t + 1 (in dh).
                const float* from_output = &dstates(t * rows, 0);
                for (std::size_t i = 0; i < rows * h; ++i)
                {
                    dh.data()[i] += from_output[i];
                }
                step_backward(t, rows, dh);
            }
            weight_gradients(batch, steps, rows);
        }

        std::vector<Parameter> parameters()
        {
            return {param(m_embedding, m_d_embedding), param(m_w_ih, m_d_w_ih), param(m_b_ih, m_d_b_ih),
                    param(m_w_hh, m_d_w_hh),           param(m_b_hh, m_d_b_hh), param(m_w_out, m_d_w_out),
                    param(m_b_out, m_d_b_out)};
        }

        // `count` words sampled letter by letter from the model's
        // distribution (temperature 1), each at most `max_letters` long.
        std::vector<std::string> sample(std::size_t count, std::size_t max_letters, Rng& rng)
        {
            compute_table();
            Matrix h = xt::zeros<float>({count, m_h});
            Matrix next = Matrix::from_shape({count, m_h});
            Matrix gates = Matrix::from_shape({count, 3 * m_h});
            Matrix hn = Matrix::from_shape({count, m_h});
            Matrix logits = Matrix::from_shape({count, num_classes});
            m_scratch = Matrix::from_shape({count, 3 * m_h});
            std::vector<int> tokens(count, begin_token);
            std::vector<std::string> out(count);
            std::vector<bool> done(count, false);
            for (std::size_t t = 0; t <= max_letters; ++t)
            {
                step(tokens.data(), count, h.data(), next.data(), gates.data(), hn.data());
                std::swap(h, next);
                gemm(h, m_w_out, logits.data(), count, num_classes, false, false, false);
                for (std::size_t i = 0; i < count; ++i)
                {
                    if (done[i])
                    {
                        continue;
                    }
                    const int label = t == max_letters ? end_label : draw(&logits(i, 0), rng);
                    done[i] = label == end_label;
                    if (!done[i])
                    {
                        out[i] += static_cast<char>('a' + label);
                        tokens[i] = label + 1;
                    }
                }
            }
            return out;
        }

    private:
        template <class Tensor>
        static void fill_uniform(Tensor& t, float limit, Rng& rng)
        {
            for (float& w : t)
            {
                w = xloss_examples::uniform_symmetric(rng, limit);
            }
        }

        template <class P, class G>
        static Parameter param(P& value, G& grad)
        {
            return {value.data(), grad.data(), value.size()};
        }

        float* state(std::size_t t)
        {
            return &m_states(t, 0, 0);
        }

        // table = embedding W_ih + b_ih: the input half of every gate, per token.
        void compute_table()
        {
            m_table = Matrix::from_shape({num_inputs, 3 * m_h});
            gemm(m_embedding, m_w_ih, m_table.data(), num_inputs, 3 * m_h, false, false, false);
            m_table += m_b_ih;
        }

        // One step for `rows` sequences: h = GRU(h_prev, token). Stores the
        // gates r, z, n ([rows, 3H]) and h W_hn + b_hn ([rows, H]) for the
        // backward pass.
        void step(const int* tokens, std::size_t rows, const float* h_prev, float* h, float* gates, float* hn)
        {
            const std::size_t n_h = m_h;
            gemm(as_matrix(h_prev, rows, n_h), m_w_hh, m_scratch.data(), rows, 3 * n_h, false, false, false);
            for (std::size_t b = 0; b < rows; ++b)
            {
                const float* gi = &m_table(static_cast<std::size_t>(tokens[b]), 0);
                const float* gh = &m_scratch(b, 0);
                const std::size_t row = b * n_h;
                constexpr std::size_t width = lanes::batch::size;
                std::size_t j = 0;
                for (; j + width <= n_h; j += width)
                {
                    gru_cell<lanes::batch>(gi, gh, m_b_hh.data(), h_prev + row, n_h, j, gates + 3 * row,
                                           hn + row, h + row);
                }
                for (; j < n_h; ++j)
                {
                    gru_cell<float>(gi, gh, m_b_hh.data(), h_prev + row, n_h, j, gates + 3 * row, hn + row,
                                    h + row);
                }
            }
        }

        // logits [B, T, 27] from the states h_1..h_T: one GEMM over all
        // positions (time-major), then transposed into the loss's layout.
        void read_out(std::size_t steps, std::size_t rows)
        {
            Matrix flat = Matrix::from_shape({steps * rows, num_classes});
            gemm(as_matrix(state(1), steps * rows, m_h), m_w_out, flat.data(), steps * rows, num_classes,
                 false, false, false);
            m_logits = Logits::from_shape({rows, steps, num_classes});
            for (std::size_t t = 0; t < steps; ++t)
            {
                for (std::size_t b = 0; b < rows; ++b)
                {
                    for (std::size_t c = 0; c < num_classes; ++c)
                    {
                        m_logits(b, t, c) = flat(t * rows + b, c) + m_b_out(c);
                    }
                }
            }
        }

        // The read-out's weight gradients; returns dL/dh_t for every
        // position, time-major [T * B, H].
        Matrix read_out_backward(const Logits& dlogits, std::size_t steps, std::size_t rows)
        {
            Matrix flat = Matrix::from_shape({steps * rows, num_classes});
            for (std::size_t t = 0; t < steps; ++t)
            {
                for (std::size_t b = 0; b < rows; ++b)
                {
                    for (std::size_t c = 0; c < num_classes; ++c)
                    {
                        flat(t * rows + b, c) = dlogits(b, t, c);
                    }
                }
            }
            gemm(as_matrix(state(1), steps * rows, m_h), flat, m_d_w_out.data(), m_h, num_classes, true,
                 false, false);
            m_d_b_out = xt::sum(flat, {0});
            Matrix dstates = Matrix::from_shape({steps * rows, m_h});
            gemm(flat, m_w_out, dstates.data(), steps * rows, m_h, false, true, false);
            return dstates;
        }

        // Step t backwards: from dL/dh_t (in dh) the gradients of the gates'
        // pre-activations (input side into m_dgi, recurrent side into m_dgh),
        // and dL/dh_{t-1} left in dh.
        void step_backward(std::size_t t, std::size_t rows, Matrix& dh)
        {
            const std::size_t n_h = m_h;
            const float* h_prev = state(t);
            for (std::size_t b = 0; b < rows; ++b)
            {
                const float* g = &m_gates(t * rows + b, 0);
                const float* hn = &m_hn(t * rows + b, 0);
                float* dgi = &m_dgi(t * rows + b, 0);
                float* dgh = &m_dgh(t * rows + b, 0);
                for (std::size_t j = 0; j < n_h; ++j)
                {
                    const float r = g[j], z = g[n_h + j], n = g[2 * n_h + j];
                    const float d = dh(b, j);
                    const float dn_pre = d * (1.0f - z) * (1.0f - n * n);
                    const float dr_pre = dn_pre * hn[j] * r * (1.0f - r);
                    const float dz_pre = d * (h_prev[b * n_h + j] - n) * z * (1.0f - z);
                    dgi[j] = dgh[j] = dr_pre;
                    dgi[n_h + j] = dgh[n_h + j] = dz_pre;
                    dgi[2 * n_h + j] = dn_pre;
                    dgh[2 * n_h + j] = dn_pre * r;  // r scales h W_hn + b_hn
                    dh(b, j) = d * z;               // the direct path h' = ... + z * h
                }
            }
            if (t > 0)  // h_0 is the constant zero state: its gradient is not needed
            {
                gemm(as_matrix(&m_dgh(t * rows, 0), rows, 3 * n_h), m_w_hh, dh.data(), rows, n_h, false, true,
                     true);
            }
        }

        // The GRU's and the embedding's weight gradients, each one GEMM over
        // all positions of the batch.
        void weight_gradients(const Batch& batch, std::size_t steps, std::size_t rows)
        {
            const std::size_t n_h = m_h;
            gemm(as_matrix(state(0), steps * rows, n_h), m_dgh, m_d_w_hh.data(), n_h, 3 * n_h, true, false,
                 false);
            m_d_b_hh = xt::sum(m_dgh, {0});
            // The table's gradient: each position's input-side gradient added
            // to the row of its token.
            Matrix dtable = xt::zeros<float>({num_inputs, 3 * n_h});
            for (std::size_t t = 0; t < steps; ++t)
            {
                for (std::size_t b = 0; b < rows; ++b)
                {
                    float* row = &dtable(static_cast<std::size_t>(batch.inputs(t, b)), 0);
                    const float* d = &m_dgi(t * rows + b, 0);
                    for (std::size_t j = 0; j < 3 * n_h; ++j)
                    {
                        row[j] += d[j];
                    }
                }
            }
            m_d_b_ih = xt::sum(dtable, {0});
            gemm(m_embedding, dtable, m_d_w_ih.data(), m_e, 3 * n_h, true, false, false);
            gemm(dtable, m_w_ih, m_d_embedding.data(), num_inputs, m_e, false, true, false);
        }

        // A label drawn from softmax(logits + b_out).
        int draw(const float* logits, Rng& rng) const
        {
            std::array<double, num_classes> p{};
            double max = -1e30, total = 0.0;
            for (std::size_t c = 0; c < num_classes; ++c)
            {
                p[c] = static_cast<double>(logits[c] + m_b_out(c));
                max = std::max(max, p[c]);
            }
            for (double& v : p)
            {
                v = std::exp(v - max);
                total += v;
            }
            double u = static_cast<double>(rng() >> 8) / 16777216.0 * total;
            for (std::size_t c = 0; c < num_classes; ++c)
            {
                u -= p[c];
                if (u < 0.0)
                {
                    return static_cast<int>(c);
                }
            }
            return end_label;
        }

        std::size_t m_e, m_h;
        Matrix m_embedding, m_w_ih, m_w_hh, m_w_out;
        Vector m_b_ih, m_b_hh, m_b_out;
        Matrix m_d_embedding, m_d_w_ih, m_d_w_hh, m_d_w_out;
        Vector m_d_b_ih, m_d_b_hh, m_d_b_out;
        // Per batch: the token table, states [T + 1, B, H] (h_0 = 0), gates
        // and h W_hn + b_hn per position, the recurrent GEMM's output, the
        // logits, and the gates' gradients.
        Matrix m_table;
        xt::xtensor<float, 3> m_states;
        Matrix m_gates, m_hn, m_scratch;
        Logits m_logits;
        Matrix m_dgi, m_dgh;
    };
}
