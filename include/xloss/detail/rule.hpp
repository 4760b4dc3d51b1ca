// What a loss gives the engine: its rule. One struct per loss, in the family
// headers, with
//
//   static constexpr const char* name = "kl_divergence";  // error messages: "xloss::<name>: ..."
//   using options = no_options;                             // or the loss's option aggregate
//   static constexpr second_input second = second_input::elementwise;
//   template <bool Grad, class Lanes, class Group>
//   static auto kernel(const Lanes& lanes, const Group& grp, const options& opts);
//   static void check_options(const options&, const char* function);  // when it has options
//   static constexpr std::size_t tiled_row_batches = 2;  // optional, see tiles_rows()
//
// kernel() computes the loss of the slices the lanes cover, as a batch (one
// value per lane; see lanes.hpp). With Grad it also writes
// d(sum(upstream * loss)) / d input into grp.grad[i] wherever grp.grad[i] is
// not null, for every element of the lanes (0 where not selected). Grad is a
// compile-time choice so that a value-only call instantiates no gradient
// code. check_options() validates the option values on entry (errors.hpp's
// check_option_in: std::invalid_argument naming the function, the option and
// its value); a rule without options, or whose options take every value,
// declares none.
#ifndef XLOSS_DETAIL_RULE_HPP
#define XLOSS_DETAIL_RULE_HPP

#include "../config.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Options type of the losses that have none.
        struct no_options
        {
        };

        // What a loss's second input is.
        enum class second_input
        {
            // A floating tensor broadcast with the first input, element by element
            // (labels, targets); differentiable.
            elementwise,
            // The same, where integral values are numbers too (converted to the
            // floating type), not mistaken class indices: cosine of count vectors.
            elementwise_numeric,
            // One integral class index per slice, of the batch shape; indexes the
            // slice flattened in the order the axes are listed. Not differentiable.
            slice_label,
        };

        template <class Rule>
        inline constexpr bool takes_labels = Rule::second == second_input::slice_label;

        // Whether the loss has a gradient w.r.t. input 0 or 1 (labels have none).
        template <class Rule, std::size_t Input>
        inline constexpr bool is_differentiable = Input == 0 || !takes_labels<Rule>;

        // What a loss object returns: one value per slice (the loss itself),
        // or their sum or mean as a 0-d result (xloss::sum, xloss::mean).
        enum class reduction
        {
            none,
            sum,
            mean,
        };

        // The rule of xloss::sum(LOSS) / xloss::mean(LOSS): LOSS's rule, whose
        // per-slice values are then reduced. The engine runs the kernels of
        // the base rule, so a reduced loss instantiates no kernel of its own.
        template <class Rule, reduction R>
        struct reduced_rule : Rule
        {
            using base = Rule;
            static constexpr reduction reduce = R;
        };

        template <class Rule>
        struct rule_traits
        {
            using base = Rule;
            static constexpr reduction reduce = reduction::none;
        };

        template <class Rule, reduction R>
        struct rule_traits<reduced_rule<Rule, R>>
        {
            using base = Rule;
            static constexpr reduction reduce = R;
        };

        template <class Rule, class = void>
        struct has_option_check : std::false_type
        {
        };

        template <class Rule>
        struct has_option_check<
            Rule,
            std::void_t<decltype(Rule::check_options(std::declval<const typename Rule::options&>(),
                                                     std::declval<const char*>()))>> : std::true_type
        {
        };

        // The rule's option check, when it has one.
        template <class Rule>
        void check_options(const typename Rule::options& opts, const char* function)
        {
            if constexpr (has_option_check<Rule>::value)
            {
                Rule::check_options(opts, function);
            }
            else
            {
                (void)opts;
                (void)function;
            }
        }

        // A rule may declare per-element weight arrays among its options
        // (SPEC 0.2: std::optional<xt::xarray<double>>, broadcast to the first
        // input's full shape):
        //
        //   static std::array<const std::optional<xt::xarray<double>>*, 2>
        //   weight_arrays(const options&);
        //
        // Each given one is planned like the second input and read in the kernel
        // through lanes.weight(i, at) (a batch of ones when not given). Rules
        // that declare none get no weight planning or staging.
        template <class Rule, class = void>
        struct has_weight_arrays : std::false_type
        {
        };

        template <class Rule>
        struct has_weight_arrays<
            Rule,
            std::void_t<decltype(Rule::weight_arrays(std::declval<const typename Rule::options&>()))>>
            : std::true_type
        {
        };

        template <class Rule, class = void>
        struct declared_tiled_row_batches : std::integral_constant<std::size_t, 0>
        {
        };

        template <class Rule>
        struct declared_tiled_row_batches<Rule, std::void_t<decltype(Rule::tiled_row_batches)>>
            : std::integral_constant<std::size_t, Rule::tiled_row_batches>
        {
        };

        // Whether rows of n elements (the innermost axis reduced) run transposed
        // into tiles, W slices side by side, rather than one at a time: rows
        // shorter than one batch (W) always do, longer ones up to the rule's
        // tiled_row_batches batches (0 when it declares none). A row costs the
        // row kernel a horizontal reduction and the rule's per-slice math; a
        // tile costs the transposition. So the sums of per-element terms, whose
        // rows share one horizontal reduction per W rows (run_row_groups),
        // declare none, while the softmax losses, with a max, an exp pass and a
        // log per slice, gain up to 2 or 4 batches (measured per loss for 8 to
        // 64 elements: RESULTS.md).
        template <class Rule>
        bool tiles_rows(std::size_t n, std::size_t W)
        {
            return n < W || n <= declared_tiled_row_batches<Rule>::value * W;
        }

        // A rule may declare `static constexpr bool sums_element_terms = true;`
        // when its kernel's value is the sum, in element order starting from
        // 0, of a term of each selected element alone, taken by lanes.sum() of
        // its per-lane totals last, and each gradient element depends only on
        // its own element and the slice's upstream. The engine may then run the
        // kernel on one element of a slice at a time and add up the values
        // (schedule.hpp, run_strips): the same additions in the same order; and
        // on rows, leave each row's totals in its lanes and add up W rows'
        // at once (run_row_groups). Rules that declare nothing are run on
        // whole slices.
        template <class Rule, class = void>
        struct sums_element_terms : std::false_type
        {
        };

        template <class Rule>
        struct sums_element_terms<Rule, std::void_t<decltype(Rule::sums_element_terms)>>
            : std::bool_constant<Rule::sums_element_terms>
        {
        };

        // A rule whose value is a function of a few sums over the slice may
        // declare them, so that rows of up to grouped_row_batches batches run
        // W at a time (schedule.hpp, run_sum_groups):
        //
        //   static constexpr std::size_t slice_sums = K;
        //   static constexpr std::size_t grouped_row_batches = 2;
        //   sums_of(lanes, opts)                -> std::array<batch, K>: the
        //       sums, each taken by lanes.sum() of its per-lane totals last;
        //   value_of_sums(sums, opts)           -> batch: the value, lane by lane;
        //   needs_kernel(sums, opts)            -> batch_bool: the slices whose
        //       value the sums do not settle (kernel() then runs on them);
        //   grad_factors_of_sums(sums, upstream, opts) -> std::array<batch, F>:
        //       what the gradient of a slice needs of its sums, lane by lane;
        //   grad_of_factors(lanes, grp, opts, factors): kernel<true>()'s
        //       gradient pass over the lanes' slice, given its factors.
        //
        // Where needs_kernel() is false, kernel<Grad>() is value_of_sums() of
        // sums_of(), and its gradient grad_of_factors() of those. The sums of
        // blocks of rows add up, so such a rule also runs as streams over an
        // outer axis (schedule.hpp, slice_sums_stream), without a stream form
        // of its own.
        template <class Rule, class = void>
        struct has_slice_sums : std::false_type
        {
        };

        template <class Rule>
        struct has_slice_sums<Rule, std::void_t<decltype(Rule::slice_sums)>> : std::true_type
        {
        };

        // A rule may give a stream form, for slices reduced over an outer axis
        // of many elements (the classes of a column-major [B, C], NCHW with
        // many classes), which the engine then reads a block of rows at a
        // time, in memory order (schedule.hpp, run_streams):
        //
        //   template <class B> struct stream_state;  // what the rows so far say of W slices
        //   streams(opts)                    -> bool: whether the call may run so;
        //   start_stream<B>(grp, opts)       -> stream_state<B>, before any row
        //       (grp.label and grp.upstream are the slices');
        //   add_rows(state, lanes, grp, opts): takes in the lanes' block of rows,
        //       rows grp.first_row on;
        //   value_of_stream(state, opts)     -> batch: the value, lane by lane,
        //       once every row is in;
        //   grad_rows(state, lanes, grp, opts): kernel<true>()'s gradient on a
        //       block of rows (grp.grad at its first row).
        //
        // The value and gradient are kernel()'s up to rounding (the sums are
        // taken in another order).
        template <class Rule, class = void>
        struct has_stream_form : std::false_type
        {
        };

        template <class Rule>
        struct has_stream_form<Rule, std::void_t<decltype(&Rule::template value_of_stream<double>)>>
            : std::true_type
        {
        };

        // Whether the second input's value type V suits the rule (checked where
        // the types are known, so that misuse fails to compile with a sentence).
        template <class Rule, class V>
        struct second_input_accepts
        {
            static constexpr bool label = std::is_integral_v<V> && !std::is_same_v<V, bool>;
            static constexpr bool value = Rule::second == second_input::slice_label ? label
                                          : Rule::second == second_input::elementwise
                                              ? std::is_floating_point_v<V>
                                              : true;
        };
    }
XLOSS_NAMESPACE_END

#endif
