// Adam and gradient-norm clipping over flat parameter arrays, shared by the
// training examples.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace xloss_examples
{
    // What the optimiser sees of a weight tensor: its values and the gradient
    // of the batch loss, both as flat contiguous arrays of the same size.
    // Taken afresh from Model::parameters() for every step, so it never
    // outlives a buffer that an xtensor assignment replaced.
    struct Parameter
    {
        float* value;
        const float* grad;
        std::size_t size;
    };

    // The factor that brings the global L2 norm of all gradients down to
    // `max_norm` (1 when it is already below): torch.nn.utils.clip_grad_norm_,
    // which keeps the direction of the update and bounds its size, so that
    // a rare exploding step of backpropagation through time cannot throw
    // the weights far. `norm` receives the norm before clipping. Summed in
    // double: the squares of ~10^5 gradients lose digits in float.
    inline float clip_scale(const std::vector<Parameter>& params, double max_norm, double& norm)
    {
        double squares = 0.0;
        for (const Parameter& p : params)
        {
            for (std::size_t i = 0; i < p.size; ++i)
            {
                squares += static_cast<double>(p.grad[i]) * static_cast<double>(p.grad[i]);
            }
        }
        norm = std::sqrt(squares);
        // torch adds 1e-6 to the norm likewise, so a zero gradient divides by no zero.
        return norm > max_norm ? static_cast<float>(max_norm / (norm + 1e-6)) : 1.0f;
    }

    // Adam (Kingma & Ba, 2015) with the usual defaults. It is written as a
    // plain loop over each flat parameter so the compiler can vectorise it;
    // it runs once per batch over every weight of the model.
    class Adam
    {
    public:
        explicit Adam(const std::vector<Parameter>& params)
        {
            for (const Parameter& p : params)
            {
                m_m.emplace_back(p.size, 0.0f);
                m_v.emplace_back(p.size, 0.0f);
            }
        }

        // `params` must list the same tensors, in the same order, as at
        // construction. The gradients are used multiplied by `grad_scale`
        // (clip_scale's factor, for gradient-norm clipping).
        void step(const std::vector<Parameter>& params, float learning_rate, float grad_scale = 1.0f)
        {
            ++m_t;
            // Bias corrections for the zero-initialised moment estimates,
            // folded into the step size and epsilon.
            const float c1 = 1.0f - std::pow(m_beta1, static_cast<float>(m_t));
            const float c2 = 1.0f - std::pow(m_beta2, static_cast<float>(m_t));
            const float step_size = learning_rate * std::sqrt(c2) / c1;
            const float eps = m_eps * std::sqrt(c2);
            for (std::size_t k = 0; k < params.size(); ++k)
            {
                const Parameter& p = params[k];
                float* m = m_m[k].data();
                float* v = m_v[k].data();
                for (std::size_t i = 0; i < p.size; ++i)
                {
                    const float g = grad_scale * p.grad[i];
                    m[i] = m_beta1 * m[i] + (1.0f - m_beta1) * g;
                    v[i] = m_beta2 * v[i] + (1.0f - m_beta2) * g * g;
                    p.value[i] -= step_size * m[i] / (std::sqrt(v[i]) + eps);
                }
            }
        }

    private:
        std::vector<std::vector<float>> m_m;
        std::vector<std::vector<float>> m_v;
        float m_beta1 = 0.9f;
        float m_beta2 = 0.999f;
        float m_eps = 1e-8f;
        long m_t = 0;
    };
}
