// Gradients of the losses, JAX style:
//
//   auto d  = xloss::grad(loss, x, y, axis, where, opts);         // d sum(loss) / dx
//   auto dy = xloss::grad<1>(loss, x, y);                         // w.r.t. the second input
//   auto [dx, dy] = xloss::grad<0, 1>(loss, x, y);                // both, as a std::pair
//   auto d  = xloss::vjp(loss, g, x, y, ...);                     // d sum(g * loss) / dx
//   auto [value, d] = xloss::value_and_grad(loss, x, y, ...);     // one fused pass
//   auto value = xloss::value_and_grad_into(dx, loss, x, y, ...); // d/dx written into dx
//   xloss::value_and_grad_into(value, dx, loss, x, y, ...);       // and the value into value
//
// The template arguments are JAX's argnums (default 0). Every call form of
// the loss is accepted after the inputs (axis, where, options).
#ifndef XLOSS_GRAD_HPP
#define XLOSS_GRAD_HPP

#include "config.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "detail/call.hpp"
#include "detail/errors.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Result of value_and_grad: the loss (as the loss call returns it) and
    /// the gradient (an xt::xarray, or a std::pair for two argnums).
    template <class Value, class Grad>
    struct value_and_grad_result
    {
        Value value;
        Grad grad;
    };

    namespace detail
    {
        // argnums as the engine's compile-time choice of gradients.
        template <class Loss, std::size_t... Argnums>
        constexpr auto wanted()
        {
            static_assert(sizeof...(Argnums) <= 2, "xloss: at most two argnums (0 and 1)");
            static_assert(((Argnums < 2) && ...),
                          "xloss: argnums must be 0 (first input) or 1 (second input)");
            static_assert((is_differentiable<typename Loss::rule, Argnums> && ...),
                          "xloss: integer labels are not differentiable; "
                          "differentiate w.r.t. argnum 0 (the logits) only");
            return wants<((Argnums == 0) || ...), ((Argnums == 1) || ...)>{};
        }

        template <std::size_t... Argnums, class T>
        auto pick_grads(std::array<std::optional<xt::xarray<T>>, 2>& grads)
        {
            if constexpr (sizeof...(Argnums) == 1)
            {
                return taken(grads[(Argnums, ...)]);
            }
            else
            {
                constexpr std::size_t order[] = {Argnums...};
                return std::make_pair(taken(grads[order[0]]), taken(grads[order[1]]));
            }
        }

        template <class Loss, std::size_t... Argnums, class U, class... Args>
        auto differentiate(const U& upstream, const Args&... args)
        {
            auto out = call<typename Loss::rule>(upstream, wanted<Loss, Argnums...>(), args...);
            auto grads = pick_grads<Argnums...>(out.grad);
            auto value = taken(out.value);
            return value_and_grad_result<decltype(value), decltype(grads)>{std::move(value),
                                                                           std::move(grads)};
        }

        // Whether a buffer of n values at p shares memory with expression e
        // (which only an expression with its own data can). Compared as
        // addresses converted to integers: they may point into different arrays.
        template <class V, class E>
        bool shares_memory(const V* p, std::size_t n, const E& e)
        {
            if constexpr (xt::has_data_interface<E>::value)
            {
                using W = typename E::value_type;
                const auto a = reinterpret_cast<std::uintptr_t>(p);
                const auto b = reinterpret_cast<std::uintptr_t>(e.data());
                return a < b + e.storage().size() * sizeof(W) && b < a + n * sizeof(V);
            }
            else
            {
                (void)p;
                (void)n;
                (void)e;
                return false;
            }
        }

        template <class E, std::enable_if_t<!std::is_arithmetic_v<E>, int> = 0>
        const E& as_expression(const E& e)
        {
            return e;
        }
        // A scalar upstream gradient becomes a 0-d container.
        template <class S, std::enable_if_t<std::is_arithmetic_v<S>, int> = 0>
        xt::xarray<S> as_expression(const S& s)
        {
            return xt::xarray<S>(s);
        }
    }

    /// The loss value and its gradient, in one pass over the data. argnums
    /// default to 0; value_and_grad<0, 1> gives a std::pair in .grad.
    template <std::size_t... Argnums, class Loss, class X, class Y, class... Rest>
    auto value_and_grad(const Loss&, const X& x, const Y& y, const Rest&... rest)
    {
        if constexpr (sizeof...(Argnums) == 0)
        {
            return detail::differentiate<Loss, 0>(detail::none_t{}, x, y, rest...);
        }
        else
        {
            return detail::differentiate<Loss, Argnums...>(detail::none_t{}, x, y, rest...);
        }
    }

    template <std::size_t... Argnums, class Loss, class X, class Y, class... Rest>
    auto value_and_grad(const Loss& loss, const X& x, const Y& y, std::initializer_list<int> axes,
                        const Rest&... rest)
    {
        return value_and_grad<Argnums...>(loss, x, y, std::vector<int>(axes), rest...);
    }

    /// Gradient of sum(loss) w.r.t. the inputs named by argnums (default 0),
    /// with each input's shape; masked-out elements get 0.
    template <std::size_t... Argnums, class Loss, class X, class Y, class... Rest>
    auto grad(const Loss& loss, const X& x, const Y& y, const Rest&... rest)
    {
        return value_and_grad<Argnums...>(loss, x, y, rest...).grad;
    }

    template <std::size_t... Argnums, class Loss, class X, class Y, class... Rest>
    auto grad(const Loss& loss, const X& x, const Y& y, std::initializer_list<int> axes, const Rest&... rest)
    {
        return value_and_grad<Argnums...>(loss, x, y, std::vector<int>(axes), rest...).grad;
    }

    /// Vector-Jacobian product: gradient of sum(g * loss), where g (an
    /// expression or a scalar) broadcasts to the loss's result shape.
    template <std::size_t... Argnums, class Loss, class G, class X, class Y, class... Rest>
    auto vjp(const Loss&, const G& g, const X& x, const Y& y, const Rest&... rest)
    {
        const auto& upstream = detail::as_expression(g);
        if constexpr (sizeof...(Argnums) == 0)
        {
            return detail::differentiate<Loss, 0>(upstream, x, y, rest...).grad;
        }
        else
        {
            return detail::differentiate<Loss, Argnums...>(upstream, x, y, rest...).grad;
        }
    }

    template <std::size_t... Argnums, class Loss, class G, class X, class Y, class... Rest>
    auto vjp(const Loss& loss, const G& g, const X& x, const Y& y, std::initializer_list<int> axes,
             const Rest&... rest)
    {
        return vjp<Argnums...>(loss, g, x, y, std::vector<int>(axes), rest...);
    }

    namespace detail
    {
        template <class L, class = void>
        struct is_loss_impl : std::false_type
        {
        };
        template <class L>
        struct is_loss_impl<L, std::void_t<typename L::rule>> : std::true_type
        {
        };
        // A loss function object (a loss, or xloss::sum / mean of one).
        template <class L>
        inline constexpr bool is_loss = is_loss_impl<std::decay_t<L>>::value;

        // The memory of a caller's output buffer that the passes may write as
        // they go: contiguous, writable, and not over x's or y's memory (which
        // the passes are still reading). Null otherwise. Row-major, or with
        // `order` given, any memory order (column-major, a transposed view),
        // which `order` receives (empty: row-major).
        template <class B, class X, class Y>
        typename std::remove_const_t<B>::value_type* writable_data(B& b,
                                                                   const X& x,
                                                                   const Y& y,
                                                                   shape_type* order = nullptr)
        {
            if constexpr (xt::has_data_interface<std::remove_const_t<B>>::value && !std::is_const_v<B>)
            {
                auto* data = b.data() + b.data_offset();
                if (shares_memory(data, b.size(), x) || shares_memory(data, b.size(), y))
                {
                    return nullptr;
                }
                if (is_contiguous_row_major(b, shape_of(b)))
                {
                    return data;
                }
                if (order)
                {
                    *order = memory_order(b);
                    return order->empty() ? nullptr : data;
                }
            }
            return nullptr;
        }

        // dx = g, where g is row-major and dx's memory (at data, when not null)
        // holds the axes in `order`: one tiled pass (permute.hpp) where
        // xtensor's assignment would step through dx's index element by element.
        template <class DX, class T>
        void assign_gradient(DX& dx,
                             const xt::xarray<T>& g,
                             typename std::remove_const_t<DX>::value_type* data,
                             const shape_type& order)
        {
            if constexpr (std::is_same_v<typename std::remove_const_t<DX>::value_type, T>)
            {
                if (data && !order.empty())
                {
                    copy_permuted(g.data(), shape_of(g), order, data);
                    return;
                }
            }
            xt::noalias(dx) = g;
        }

        // Both forms of value_and_grad_into; VB is the value buffer's type, or
        // none_t when the value is returned.
        template <class Loss, class VB, class DX, class X, class Y, class... Rest>
        auto evaluate_into(VB* value, DX& dx, const X& x, const Y& y, const Rest&... rest)
        {
            const auto& want = x.shape();
            const auto& have = dx.shape();
            // Compared as sequences: x may be an xarray (dynamic shape) and dx an
            // xtensor (std::array shape), or the other way round.
            if (!std::equal(std::begin(have), std::end(have), std::begin(want), std::end(want)))
            {
                throw_invalid_argument("value_and_grad_into", "the gradient buffer has shape ", show(have),
                                       " but x has shape ", show(want));
            }
            using V = typename std::remove_const_t<DX>::value_type;
            using rule = typename Loss::rule;
            constexpr bool has_value_buffer = !std::is_same_v<VB, none_t>;
            shape_type value_shape;
            shape_type dx_order;
            auto* const dx_data = writable_data(dx, x, y, &dx_order);
            auto out = [&]
            {
                if constexpr (has_value_buffer)
                {
                    using VV = typename std::remove_const_t<VB>::value_type;
                    value_shape = shape_of(*value);
                    return call<rule>(
                        none_t{},
                        wants_into<V, VV>{{}, dx_data, dx_order, writable_data(*value, x, y), &value_shape},
                        x, y, rest...);
                }
                else
                {
                    return call<rule>(none_t{}, wants_into<V>{{}, dx_data, dx_order, nullptr, nullptr}, x, y,
                                      rest...);
                }
            }();
            if (!out.grad_written_into)
            {
                assign_gradient(dx, *out.grad[0], dx_data, dx_order);
            }
            if constexpr (has_value_buffer)
            {
                if (!out.value_written_into)
                {
                    // Same shape (the engine checked it), both walked in row-major
                    // order. (Not an xtensor assignment: for a 0-d xt::xtensor,
                    // g++ 12 warns of a null argument inside its resize.)
                    std::copy(out.value->cbegin(), out.value->cend(), value->begin());
                }
            }
            return out;
        }
    }

    /// value_and_grad with the gradient written into the caller's buffer:
    ///
    ///   auto value = xloss::value_and_grad_into(dx, LOSS, x, y, axis, where, opts);
    ///   xloss::value_and_grad_into(value, dx, LOSS, x, y, axis, where, opts);
    ///
    /// dx: any xtensor container or xt::adapt (an rvalue adaptor too) of x's
    /// shape; it receives d sum(LOSS(x, y, ...)) / dx (for xloss::mean(LOSS),
    /// d mean / dx), masked-out elements 0. It is never resized: a shape
    /// other than x's throws std::invalid_argument naming the function and
    /// both shapes, before any work. The first form returns the value, as
    /// the loss call returns it (a 0-d container for sum / mean); the second
    /// writes it into `value`, a container of the result's shape (0-d for
    /// sum / mean; another shape throws std::invalid_argument before any
    /// result is written). The trailing arguments are value_and_grad's
    /// (axis, where, options).
    ///
    /// When dx is a row-major container or adaptor of the result's value type
    /// and the call needs no transposition (the reduced axes are adjacent) and
    /// x is not broadcast, the fused pass writes the gradient into dx's memory
    /// directly: no gradient is allocated, touched twice or copied. Otherwise
    /// (a column-major or strided dx, float dx for double results, ...) the
    /// gradient is computed as value_and_grad computes it and copied into dx.
    /// The same holds for `value`. With both written directly, a call on
    /// row-major containers allocates nothing once the thread has made one
    /// such call (its scratch is kept, detail/scratch.hpp): a training step
    /// costs no heap traffic.
    ///
    /// Example: with logits x = {{0, 0}} and labels {1},
    /// value_and_grad_into(dx, mean(softmax_cross_entropy_with_integer_labels), x, labels)
    /// returns log 2 = 0.6931 and leaves dx = {{0.5, -0.5}}.
    template <class DX, class Loss, class X, class Y, class... Rest,
              std::enable_if_t<detail::is_loss<Loss>, int> = 0>
    auto value_and_grad_into(DX&& dx, const Loss&, const X& x, const Y& y, const Rest&... rest)
    {
        auto out = detail::evaluate_into<Loss>(static_cast<detail::none_t*>(nullptr), dx, x, y, rest...);
        return detail::taken(out.value);
    }

    template <class DX, class Loss, class X, class Y, class... Rest,
              std::enable_if_t<detail::is_loss<Loss>, int> = 0>
    auto value_and_grad_into(DX&& dx, const Loss& loss, const X& x, const Y& y,
                             std::initializer_list<int> axes, const Rest&... rest)
    {
        return value_and_grad_into(std::forward<DX>(dx), loss, x, y, std::vector<int>(axes), rest...);
    }

    template <class Value, class DX, class Loss, class X, class Y, class... Rest,
              std::enable_if_t<detail::is_loss<Loss>, int> = 0>
    void value_and_grad_into(Value&& value, DX&& dx, const Loss&, const X& x, const Y& y, const Rest&... rest)
    {
        detail::evaluate_into<Loss>(&value, dx, x, y, rest...);
    }

    template <class Value, class DX, class Loss, class X, class Y, class... Rest,
              std::enable_if_t<detail::is_loss<Loss>, int> = 0>
    void value_and_grad_into(Value&& value, DX&& dx, const Loss& loss, const X& x, const Y& y,
                             std::initializer_list<int> axes, const Rest&... rest)
    {
        value_and_grad_into(std::forward<Value>(value), std::forward<DX>(dx), loss, x, y, std::vector<int>(axes),
                            rest...);
    }
XLOSS_NAMESPACE_END

#endif
