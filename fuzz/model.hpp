// The error model: what the contract says about a decoded call (case.hpp),
// written independently of xloss's own checks. Which calls must throw what
// (by the first failing check: shapes, axes, mask, label shape; then label
// range and upstream, which need the values), and otherwise the call's
// layout: every slice's elements as positions of the full broadcast shape,
// and which of them the where mask selects.
#ifndef XLOSS_FUZZ_MODEL_HPP
#define XLOSS_FUZZ_MODEL_HPP

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "case.hpp"

namespace xloss_fuzz
{
    enum class error_kind
    {
        none,
        invalid_argument,
        out_of_range
    };
    const char* error_name(error_kind e);

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
        std::vector<char> ignored;     // per slice: its label is ignore_index (empty: none)
        // per slice: its integer label is range-checked (something selected;
        // on an empty class axis, every slice a batch-rank mask keeps)
        std::vector<char> label_checked;
    };

    // Decides the axes, the label / mask / upstream shapes, and the model:
    // the error of every call that fails before reading a value, or the layout.
    model_t make_model(case_t& c);

    // Selection per full position, and per slice, from the materialised mask.
    void select(const case_t& c, model_t& m, const xt::xarray<bool>& mask);

    // Shape arithmetic of the model (written independently of xloss's).
    std::size_t product(const shape_t& s);
    bool broadcast(const shape_t& a, const shape_t& b, shape_t& out);
    bool broadcasts_to(const shape_t& from, const shape_t& to);
    // Flat row-major index into `shape` (right-aligned against the
    // multi-index `idx`, extent-1 axes broadcast) of position `idx`.
    std::size_t broadcast_index(const shape_t& shape, const std::vector<std::size_t>& idx);
    // Full multi-index of a flat position.
    std::vector<std::size_t> unflatten(const shape_t& shape, std::size_t flat);
    std::string show(const shape_t& s);

    // Out-of-range labels are an error only where their slice is checked (see model_t).
    template <class Label>
    error_kind label_error(const model_t& m, const xt::xarray<Label>& labels, const shape_t& label_shape)
    {
        for (std::size_t s = 0; s < m.slices; ++s)
        {
            const auto label = static_cast<std::ptrdiff_t>(
                labels.flat(broadcast_index(label_shape, unflatten(m.batch, s))));
            if ((label < 0 || label >= static_cast<std::ptrdiff_t>(m.n)) && m.label_checked[s])
            {
                return error_kind::out_of_range;
            }
        }
        return error_kind::none;
    }

    // vjp's error once the values are known: a label out of range, else an
    // upstream that does not broadcast to the batch shape.
    inline error_kind vjp_error_of(const model_t& m, error_kind label_err)
    {
        if (label_err != error_kind::none)
        {
            return label_err;
        }
        return broadcasts_to(m.up_shape, m.batch) ? error_kind::none : error_kind::invalid_argument;
    }
}

#endif
