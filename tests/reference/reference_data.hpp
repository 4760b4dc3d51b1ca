// Loader for the golden values in reference_data.txt (written by generate.py).
//
// File format (line oriented, ASCII, no JSON library needed)
// ----------------------------------------------------------
//   # comment                     lines starting with '#' and blank lines are ignored
//   format xloss-reference 1      first non-comment line: format name and version
//   case <name>                   starts a case; names are unique
//   loss <loss name>              softmax_cross_entropy, softmax_cross_entropy_with_integer_labels,
//                                 kl_divergence, convex_kl_divergence, cosine_similarity,
//                                 cosine_distance, sigmoid_focal_loss
//   axis int <a>                  call with an int axis
//   axis list <a> <b> ...         call with a std::vector<int>, in the listed order
//   axis none | axis all          xloss::no_axes | xloss::all_axes
//   axis default                  call without an axis argument (= -1)
//   option <key> <value>          optional, repeatable: epsilon <v> (cosine_options),
//                                 alpha <v>|none, gamma <v> (focal_options, the other at its
//                                 default), delta <v> (huber_options); no option line: call
//                                 without an options argument
//   tensor <name> <type> <rank> <extents...> : <values...>
//                                 type real (strtod: also inf, -inf, nan), int, bool (0/1);
//                                 values row-major, exactly prod(extents) of them (1 for rank 0).
//                                 names: x, y (inputs), where (mask, optional), g (upstream
//                                 gradient, optional), expected (loss value), grad0 / grad1
//                                 (d sum(g * loss) / d x, d y; optional)
//   end                           closes the case
//
// The path of the data file comes from the compile definition
// XLOSS_REFERENCE_DATA (a string literal), set by tests/CMakeLists.txt:
//   target_compile_definitions(t PRIVATE
//   XLOSS_REFERENCE_DATA="${CMAKE_CURRENT_SOURCE_DIR}/reference/reference_data.txt")
// Every problem (missing file, malformed line, wrong value count, missing
// tensor) throws std::runtime_error naming the file, the line and the case.
#ifndef XLOSS_TESTS_REFERENCE_DATA_HPP
#define XLOSS_TESTS_REFERENCE_DATA_HPP

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

namespace xloss_reference
{
    enum class axis_kind
    {
        default_axis,  // no axis argument
        single,        // an int
        list,          // a std::vector<int>
        none,          // xloss::no_axes
        all            // xloss::all_axes
    };

    struct axis_spec
    {
        axis_kind kind = axis_kind::default_axis;
        std::vector<int> axes;  // one entry for single, the listed order for list
    };

    enum class tensor_type
    {
        real,
        integer,
        boolean
    };

    struct tensor
    {
        tensor_type type = tensor_type::real;
        xt::xarray<double> reals;
        xt::xarray<long long> integers;
        xt::xarray<bool> booleans;
    };

    struct reference_case
    {
        std::string name;
        std::string loss;
        axis_spec axis;
        std::size_t line = 0;                                  // line of "case" in the file
        std::map<std::string, std::optional<double>> options;  // key -> value (nullopt: "none")
        std::map<std::string, tensor> tensors;

        bool has(const std::string& key) const
        {
            return tensors.count(key) != 0;
        }

        bool has_option(const std::string& key) const
        {
            return options.count(key) != 0;
        }

        const xt::xarray<double>& real(const std::string& key) const
        {
            return get(key, tensor_type::real).reals;
        }

        const xt::xarray<long long>& integer(const std::string& key) const
        {
            return get(key, tensor_type::integer).integers;
        }

        const xt::xarray<bool>& boolean(const std::string& key) const
        {
            return get(key, tensor_type::boolean).booleans;
        }

    private:
        const tensor& get(const std::string& key, tensor_type type) const
        {
            auto it = tensors.find(key);
            if (it == tensors.end())
            {
                throw std::runtime_error("reference case '" + name + "': no tensor '" + key + "'");
            }
            if (it->second.type != type)
            {
                throw std::runtime_error("reference case '" + name + "': tensor '" + key
                                         + "' has another element type");
            }
            return it->second;
        }
    };

    namespace detail
    {
        [[noreturn]] inline void fail(const std::string& path, std::size_t line, const std::string& what)
        {
            throw std::runtime_error("reference data " + path + ":" + std::to_string(line) + ": " + what);
        }

        inline double parse_real(const std::string& tok, const std::string& path, std::size_t line)
        {
            const char* begin = tok.c_str();
            char* end = nullptr;
            const double v = std::strtod(begin, &end);  // no errno check: subnormals are fine
            if (end == begin || *end != '\0')
            {
                fail(path, line, "not a number: '" + tok + "'");
            }
            return v;
        }

        inline long long parse_integer(const std::string& tok, const std::string& path, std::size_t line)
        {
            const char* begin = tok.c_str();
            char* end = nullptr;
            errno = 0;
            const long long v = std::strtoll(begin, &end, 10);
            if (end == begin || *end != '\0' || errno == ERANGE)
            {
                fail(path, line, "not an integer: '" + tok + "'");
            }
            return v;
        }

        inline std::string next_token(std::istringstream& in,
                                      const std::string& path,
                                      std::size_t line,
                                      const char* what)
        {
            std::string tok;
            if (!(in >> tok))
            {
                fail(path, line, std::string("missing ") + what);
            }
            return tok;
        }

        // "tensor <name> <type> <rank> <extents...> : <values...>" (after the keyword)
        inline std::pair<std::string, tensor> parse_tensor(std::istringstream& in,
                                                           const std::string& path,
                                                           std::size_t line)
        {
            std::pair<std::string, tensor> out;
            out.first = next_token(in, path, line, "tensor name");
            const std::string type = next_token(in, path, line, "tensor type");
            const long long rank = parse_integer(next_token(in, path, line, "tensor rank"), path, line);
            if (rank < 0 || rank > 16)
            {
                fail(path, line, "bad rank " + std::to_string(rank));
            }
            std::vector<std::size_t> shape;
            std::size_t size = 1;
            for (long long i = 0; i < rank; ++i)
            {
                const long long e = parse_integer(next_token(in, path, line, "extent"), path, line);
                if (e < 0)
                {
                    fail(path, line, "negative extent");
                }
                shape.push_back(static_cast<std::size_t>(e));
                size *= static_cast<std::size_t>(e);
            }
            if (next_token(in, path, line, "':'") != ":")
            {
                fail(path, line, "expected ':' after the extents of tensor '" + out.first + "'");
            }
            std::vector<std::string> toks;
            for (std::string tok; in >> tok;)
            {
                toks.push_back(std::move(tok));
            }
            if (toks.size() != size)
            {
                fail(path, line,
                     "tensor '" + out.first + "' has " + std::to_string(toks.size())
                         + " values, its shape needs " + std::to_string(size));
            }
            tensor& t = out.second;
            if (type == "real")
            {
                t.type = tensor_type::real;
                t.reals = xt::xarray<double>::from_shape(shape);
                for (std::size_t i = 0; i < size; ++i)
                {
                    t.reals.flat(i) = parse_real(toks[i], path, line);
                }
            }
            else if (type == "int")
            {
                t.type = tensor_type::integer;
                t.integers = xt::xarray<long long>::from_shape(shape);
                for (std::size_t i = 0; i < size; ++i)
                {
                    t.integers.flat(i) = parse_integer(toks[i], path, line);
                }
            }
            else if (type == "bool")
            {
                t.type = tensor_type::boolean;
                t.booleans = xt::xarray<bool>::from_shape(shape);
                for (std::size_t i = 0; i < size; ++i)
                {
                    if (toks[i] != "0" && toks[i] != "1")
                    {
                        fail(path, line, "not a 0/1 mask value: '" + toks[i] + "'");
                    }
                    t.booleans.flat(i) = toks[i] == "1";
                }
            }
            else
            {
                fail(path, line, "unknown tensor type '" + type + "'");
            }
            return out;
        }

        inline void check_complete(const reference_case& c, const std::string& path)
        {
            if (c.loss.empty())
            {
                fail(path, c.line, "case '" + c.name + "' has no loss line");
            }
            for (const char* key : {"x", "y", "expected"})
            {
                if (!c.has(key))
                {
                    fail(path, c.line, "case '" + c.name + "' has no tensor '" + key + "'");
                }
            }
        }
    }

    /// Reads every case of a reference file; throws std::runtime_error on any problem.
    inline std::vector<reference_case> load_reference_file(const std::string& path)
    {
        std::ifstream file(path);
        if (!file)
        {
            throw std::runtime_error("reference data: cannot open '" + path
                                     + "' (regenerate it with /usr/bin/python3 tests/reference/generate.py)");
        }
        std::vector<reference_case> cases;
        std::map<std::string, std::size_t> seen;
        bool have_format = false;
        bool in_case = false;
        reference_case current;
        std::string text;
        std::size_t line = 0;
        while (std::getline(file, text))
        {
            ++line;
            std::istringstream in(text);
            std::string key;
            if (!(in >> key) || key[0] == '#')
            {
                continue;
            }
            if (!have_format)
            {
                std::string name;
                std::string version;
                in >> name >> version;
                if (key != "format" || name != "xloss-reference" || version != "1")
                {
                    detail::fail(path, line, "expected 'format xloss-reference 1' first, got '" + text + "'");
                }
                have_format = true;
                continue;
            }
            if (key == "case")
            {
                if (in_case)
                {
                    detail::fail(path, line, "'case' inside case '" + current.name + "' (missing 'end')");
                }
                current = reference_case{};
                current.name = detail::next_token(in, path, line, "case name");
                current.line = line;
                if (!seen.emplace(current.name, line).second)
                {
                    detail::fail(path, line, "duplicate case name '" + current.name + "'");
                }
                in_case = true;
                continue;
            }
            if (!in_case)
            {
                detail::fail(path, line, "'" + key + "' outside a case");
            }
            if (key == "end")
            {
                detail::check_complete(current, path);
                cases.push_back(std::move(current));
                current = reference_case{};
                in_case = false;
            }
            else if (key == "loss")
            {
                current.loss = detail::next_token(in, path, line, "loss name");
            }
            else if (key == "axis")
            {
                const std::string kind = detail::next_token(in, path, line, "axis kind");
                axis_spec& a = current.axis;
                a = axis_spec{};
                if (kind == "default" || kind == "none" || kind == "all")
                {
                    a.kind = kind == "default" ? axis_kind::default_axis
                             : kind == "none"  ? axis_kind::none
                                               : axis_kind::all;
                }
                else if (kind == "int" || kind == "list")
                {
                    a.kind = kind == "int" ? axis_kind::single : axis_kind::list;
                    for (std::string tok; in >> tok;)
                    {
                        a.axes.push_back(static_cast<int>(detail::parse_integer(tok, path, line)));
                    }
                    if (a.axes.empty() || (a.kind == axis_kind::single && a.axes.size() != 1))
                    {
                        detail::fail(path, line, "bad axis line '" + text + "'");
                    }
                }
                else
                {
                    detail::fail(path, line, "unknown axis kind '" + kind + "'");
                }
            }
            else if (key == "option")
            {
                const std::string name = detail::next_token(in, path, line, "option name");
                const std::string value = detail::next_token(in, path, line, "option value");
                current.options[name] = value == "none"
                                            ? std::nullopt
                                            : std::optional<double>(detail::parse_real(value, path, line));
            }
            else if (key == "tensor")
            {
                auto t = detail::parse_tensor(in, path, line);
                const std::string name = t.first;
                if (!current.tensors.emplace(std::move(t)).second)
                {
                    detail::fail(path, line,
                                 "duplicate tensor '" + name + "' in case '" + current.name + "'");
                }
            }
            else
            {
                detail::fail(path, line, "unknown keyword '" + key + "'");
            }
        }
        if (in_case)
        {
            detail::fail(path, line, "file ends inside case '" + current.name + "' (missing 'end')");
        }
        if (!have_format)
        {
            detail::fail(path, line, "no 'format' line (empty file?)");
        }
        return cases;
    }

    /// The cases of the file named by XLOSS_REFERENCE_DATA, read once.
    inline const std::vector<reference_case>& reference_cases()
    {
#ifdef XLOSS_REFERENCE_DATA
        static const std::vector<reference_case> cases = load_reference_file(XLOSS_REFERENCE_DATA);
        return cases;
#else
        throw std::runtime_error(
            "reference data: XLOSS_REFERENCE_DATA is not defined; compile with "
            "-DXLOSS_REFERENCE_DATA=\"\\\"<source>/tests/reference/reference_data.txt\\\"\"");
#endif
    }
}

#endif
