// Error reporting at the public boundary: always on, standard exception
// types, messages prefixed with "xloss::<function>: ".
#ifndef XLOSS_DETAIL_ERRORS_HPP
#define XLOSS_DETAIL_ERRORS_HPP

#include "../config.hpp"

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
