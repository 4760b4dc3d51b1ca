// Failure reporting (report.hpp). Compiled once, shared by both backend builds.
#include "report.hpp"

#include <cstdio>
#include <cstdlib>

namespace xloss_fuzz
{
    current_t current;

    namespace
    {
        const char* const axis_kind_names[] = {"default", "int",           "int(invalid)",
                                               "list",    "list(invalid)", "list(repeated)",
                                               "no_axes", "all_axes"};
        const char* const mask_kind_names[] = {"none",       "input rank",      "batch rank",
                                               "wrong rank", "bad input shape", "bad batch shape"};

        std::string describe_axes(const case_t& c)
        {
            std::ostringstream o;
            o << axis_kind_names[static_cast<int>(c.akind)];
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
            return o.str();
        }
    }

    std::string describe(const case_t& c, const model_t& m)
    {
        std::ostringstream o;
        o << "loss " << c.loss_name << "; x " << show(c.x_shape) << ", y " << show(c.y_shape)
          << (c.integer_labels && c.labels_unsigned ? " (size_t labels)" : "") << "; full " << show(m.full)
          << "; axis " << describe_axes(c);
        o << "; batch " << show(m.batch) << ", n " << m.n << "; where "
          << mask_kind_names[static_cast<int>(c.mkind)];
        if (c.mkind != mask_kind::none)
        {
            o << ' ' << show(m.mask_shape) << " density " << c.mask_density;
        }
        o << "; options " << (c.pass_options ? "passed" : "default");
        if (c.pass_options)
        {
            o << " (eps " << c.epsilon << ", alpha " << (c.alpha ? std::to_string(*c.alpha) : "none")
              << ", gamma " << c.gamma << ")";
        }
        o << "; upstream " << (c.ukind == upstream_kind::scalar ? "scalar" : show(m.up_shape))
          << "; expected error " << error_name(m.error) << " / vjp " << error_name(m.vjp_error) << "; fill "
          << c.fill_mode << ", poison " << c.poison << ", scales " << c.x_scale << '/' << c.y_scale;
        return o.str();
    }

    void fail(const std::string& what)
    {
        std::fprintf(stderr, "\n==== xloss fuzz failure ====\n%s\ncase: %s\n", what.c_str(),
                     current.c ? describe(*current.c, *current.m).c_str() : "?");
        std::fflush(stderr);
        std::abort();
    }
}
