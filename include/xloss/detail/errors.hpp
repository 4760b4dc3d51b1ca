// Error reporting at the public boundary: always on, standard exception
// types, messages prefixed with "xloss::<function>: ".
#ifndef XLOSS_DETAIL_ERRORS_HPP
#define XLOSS_DETAIL_ERRORS_HPP

#include "../config.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        template <class... Parts>
        std::string message(const char* function, Parts&&... parts)
        {
            std::ostringstream out;
            out << "xloss::" << function << ": ";
            (out << ... << std::forward<Parts>(parts));
            return out.str();
        }

        // Cold, out-of-line throw helpers keep the checks in hot code small.
        template <class... Parts>
        [[noreturn]] void throw_invalid_argument(const char* function, Parts&&... parts)
        {
            throw std::invalid_argument(message(function, std::forward<Parts>(parts)...));
        }

        template <class... Parts>
        [[noreturn]] void throw_out_of_range(const char* function, Parts&&... parts)
        {
            throw std::out_of_range(message(function, std::forward<Parts>(parts)...));
        }

        // Prints an option's value with as few digits as give it back exactly
        // (1.5, not 1.50000000000000000; 1.0000001, not 1).
        struct value_printer
        {
            double value;
        };

        inline std::ostream& operator<<(std::ostream& out, value_printer v)
        {
            std::ostringstream s;
            for (int digits = 6; digits <= std::numeric_limits<double>::max_digits10; ++digits)
            {
                s.str("");
                s.precision(digits);
                s << v.value;
                if (std::isnan(v.value) || std::strtod(s.str().c_str(), nullptr) == v.value)
                {
                    break;
                }
            }
            return out << s.str();
        }

        // Option validation (SPEC 0.2): every rule with options declares
        //
        //   static void check_options(const options&, const char* function);
        //
        // which evaluate() calls on entry, before any work, and which throws
        // through these helpers: std::invalid_argument with
        // "xloss::<function>: option <name> = <value> is outside <range>".
        [[noreturn]] inline void throw_option_outside(const char* function,
                                                      const char* option,
                                                      double value,
                                                      const char* range)
        {
            throw_invalid_argument(function, "option ", option, " = ", value_printer{value}, " is outside ",
                                   range);
        }

        // value in the closed interval [lo, hi]; hi = inf means [lo, inf): the
        // value must then be finite. NaN is outside every interval.
        inline void check_option_in(const char* function,
                                    const char* option,
                                    double value,
                                    double lo,
                                    double hi = std::numeric_limits<double>::infinity())
        {
            const bool unbounded = hi == std::numeric_limits<double>::infinity();
            if (!(value >= lo && (unbounded ? value < hi : value <= hi)))
            {
                std::ostringstream range;
                range << '[' << value_printer{lo} << ", ";
                if (unbounded)
                {
                    range << "inf)";
                }
                else
                {
                    range << value_printer{hi} << ']';
                }
                throw_option_outside(function, option, value, range.str().c_str());
            }
        }

        // Prints a shape as [2, 3, 4].
        template <class Shape>
        struct shape_printer
        {
            const Shape& shape;
        };

        template <class Shape>
        shape_printer<Shape> show(const Shape& shape)
        {
            return {shape};
        }

        template <class Shape>
        std::ostream& operator<<(std::ostream& out, const shape_printer<Shape>& s)
        {
            out << '[';
            bool first = true;
            for (auto e : s.shape)
            {
                out << (first ? "" : ", ") << e;
                first = false;
            }
            return out << ']';
        }
    }
XLOSS_NAMESPACE_END

#endif
