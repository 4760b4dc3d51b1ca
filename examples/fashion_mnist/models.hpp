// The two classifiers of the example (the Adam optimiser is examples/common/adam.hpp).
//
// Each model maps a batch of images [B, 784] to logits [B, 10]; xloss supplies
// the loss and its gradient with respect to those logits, and the models here
// carry that gradient back to their weights by hand (there is no autodiff
// beyond the loss). Matrix products go through xtensor-blas, i.e. BLAS sgemm.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "../common/adam.hpp"
#include "../common/random.hpp"

namespace fashion_mnist
{
    using xloss_examples::Adam;
    using xloss_examples::Parameter;
    using xloss_examples::Rng;
    using xloss_examples::uniform_symmetric;

    using Matrix = xt::xtensor<float, 2>;
    using Vector = xt::xtensor<float, 1>;

    // y = x W + b, with W [in, out] and b [out].
    class Dense
    {
    public:
        // Weights are uniform in [-limit, limit); biases start at zero.
        Dense(std::size_t in, std::size_t out, float limit, Rng& rng)
            : m_w(Matrix::from_shape({in, out}))
            , m_b(xt::zeros<float>({out}))
            , m_dw(Matrix::from_shape({in, out}))
            , m_db(Vector::from_shape({out}))
        {
            for (float& w : m_w)
            {
                w = uniform_symmetric(rng, limit);
            }
        }

        Matrix forward(const Matrix& x)
        {
            m_x = x;  // kept for the weight gradient in backward()
            Matrix y = xt::linalg::dot(x, m_w);
            y += m_b;  // broadcasts over the batch rows
            return y;
        }

        // Stores dL/dW and dL/db for the last forward() batch and returns
        // dL/dx, which the first layer of a network does not need.
        Matrix backward(const Matrix& dy, bool need_input_grad)
        {
            // noalias: write into the existing buffers instead of building a
            // temporary and swapping it in.
            xt::noalias(m_dw) = xt::linalg::dot(xt::transpose(m_x), dy);
            xt::noalias(m_db) = xt::sum(dy, {0});
            if (!need_input_grad)
            {
                return {};
            }
            return xt::linalg::dot(dy, xt::transpose(m_w));
        }

        std::vector<Parameter> parameters()
        {
            return {{m_w.data(), m_dw.data(), m_w.size()}, {m_b.data(), m_db.data(), m_b.size()}};
        }

    private:
        Matrix m_w;
        Vector m_b;
        Matrix m_dw;
        Vector m_db;
        Matrix m_x;
    };

    // Limits of the uniform initialisations: Glorot (keeps the variance of
    // activations and gradients alike) for layers feeding the softmax, He for
    // layers followed by a ReLU, which zeroes half of its inputs.
    inline float glorot_limit(std::size_t in, std::size_t out)
    {
        return std::sqrt(6.0f / static_cast<float>(in + out));
    }

    inline float he_limit(std::size_t in)
    {
        return std::sqrt(6.0f / static_cast<float>(in));
    }

    class Model
    {
    public:
        virtual ~Model() = default;
        virtual std::string name() const = 0;
        // Logits [B, classes] for images [B, features].
        virtual Matrix forward(const Matrix& images) = 0;
        // Gradients of the parameters from dL/dlogits of the last forward().
        virtual void backward(const Matrix& dlogits) = 0;
        virtual std::vector<Parameter> parameters() = 0;
    };

    // Multinomial logistic regression: one linear layer, features -> classes.
    class SoftmaxRegression final : public Model
    {
    public:
        SoftmaxRegression(std::size_t features, std::size_t classes, Rng& rng)
            : m_linear(features, classes, glorot_limit(features, classes), rng)
        {
        }

        std::string name() const override
        {
            return "softmax";
        }
        Matrix forward(const Matrix& images) override
        {
            return m_linear.forward(images);
        }
        void backward(const Matrix& dlogits) override
        {
            m_linear.backward(dlogits, false);
        }
        std::vector<Parameter> parameters() override
        {
            return m_linear.parameters();
        }

    private:
        Dense m_linear;
    };

    // features -> hidden (ReLU) -> classes.
    class Mlp final : public Model
    {
    public:
        Mlp(std::size_t features, std::size_t hidden, std::size_t classes, Rng& rng)
            : m_hidden(features, hidden, he_limit(features), rng)
            , m_output(hidden, classes, glorot_limit(hidden, classes), rng)
        {
        }

        std::string name() const override
        {
            return "mlp";
        }

        Matrix forward(const Matrix& images) override
        {
            m_activations = xt::maximum(m_hidden.forward(images), 0.0f);
            return m_output.forward(m_activations);
        }

        void backward(const Matrix& dlogits) override
        {
            const Matrix dactivations = m_output.backward(dlogits, true);
            // ReLU passes the gradient only where it let the input through.
            const Matrix dpre = xt::where(m_activations > 0.0f, dactivations, 0.0f);
            m_hidden.backward(dpre, false);
        }

        std::vector<Parameter> parameters() override
        {
            auto params = m_hidden.parameters();
            for (const Parameter& p : m_output.parameters())
            {
                params.push_back(p);
            }
            return params;
        }

    private:
        Dense m_hidden;
        Dense m_output;
        Matrix m_activations;
    };

    inline std::unique_ptr<Model> make_model(const std::string& name, Rng& rng)
    {
        constexpr std::size_t features = 28 * 28;
        constexpr std::size_t classes = 10;
        if (name == "softmax")
        {
            return std::make_unique<SoftmaxRegression>(features, classes, rng);
        }
        constexpr std::size_t hidden = 256;
        return std::make_unique<Mlp>(features, hidden, classes, rng);
    }
}
