// The floor any character model must beat: a bigram model, P(next | previous)
// from the training split's counts with add-one (Laplace) smoothing, the
// previous symbol being <bow> or a letter (the model's input token) and the
// next a letter or <eow> (its label).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "word_list.hpp"

namespace words
{
    class Bigram
    {
    public:
        explicit Bigram(const std::vector<std::string>& train)
        {
            for (auto& row : m_counts)
            {
                row.fill(1.0);  // add-one: no transition has probability 0
            }
            for (const std::string& w : train)
            {
                visit(w, [&](std::size_t input, std::size_t label) { m_counts[input][label] += 1.0; });
            }
            for (auto& row : m_counts)
            {
                double total = 0.0;
                for (double c : row)
                {
                    total += c;
                }
                for (double& c : row)
                {
                    c = -std::log(c / total);  // counts become nats
                }
            }
        }

        // Mean nats per position (letters and <eow>) over `words`.
        double loss(const std::vector<std::string>& words) const
        {
            double nats = 0.0;
            visit_all(words, [&](std::size_t input, std::size_t label) { nats += m_counts[input][label]; });
            return nats / static_cast<double>(count_positions(words));
        }

    private:
        // Calls f(input token, label) for each position of the word.
        template <class F>
        static void visit(const std::string& w, F&& f)
        {
            auto input = static_cast<std::size_t>(begin_token);
            for (char c : w)
            {
                const auto letter = static_cast<std::size_t>(c - 'a');
                f(input, letter);
                input = letter + 1;
            }
            f(input, static_cast<std::size_t>(end_label));
        }

        template <class F>
        static void visit_all(const std::vector<std::string>& words, F&& f)
        {
            for (const std::string& w : words)
            {
                visit(w, f);
            }
        }

        std::array<std::array<double, num_classes>, num_inputs> m_counts;
    };
}
