// A progress bar for the batches of one epoch.
//
// On a terminal it redraws one line in place ("\r") about ten times a second.
// When stdout is a file or a pipe, carriage returns would pile up into one
// long line, so it prints a whole line instead, and at most every few
// seconds: a fast epoch then leaves only its summary line in the log.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>

namespace xloss_examples
{
    inline bool stdout_is_terminal()
    {
        return isatty(fileno(stdout)) != 0;
    }

    class ProgressBar
    {
    public:
        using clock = std::chrono::steady_clock;

        ProgressBar(std::string label, std::size_t total, bool terminal)
            : m_label(std::move(label))
            , m_total(total)
            , m_terminal(terminal)
            , m_interval(terminal ? std::chrono::milliseconds(100) : std::chrono::seconds(5))
            , m_last(clock::now())
        {
        }

        // `done` batches out of `total` are finished; `loss` is the running
        // mean training loss of the epoch so far.
        void update(std::size_t done, double loss)
        {
            const auto now = clock::now();
            if (now - m_last < m_interval && done < m_total)
            {
                return;
            }
            m_last = now;
            if (m_terminal)
            {
                std::printf("\r%s [%s] %zu/%zu  loss %.4f", m_label.c_str(), bar(done).c_str(), done, m_total,
                            loss);
                m_drawn = true;
            }
            else if (done < m_total)
            {
                std::printf("%s %zu/%zu batches  loss %.4f\n", m_label.c_str(), done, m_total, loss);
            }
            std::fflush(stdout);
        }

        // Clears the bar so that the epoch summary can take its line.
        void finish()
        {
            if (m_drawn)
            {
                std::printf("\r%*s\r", static_cast<int>(m_label.size() + s_width + 40), "");
                std::fflush(stdout);
            }
        }

    private:
        static constexpr std::size_t s_width = 30;

        std::string bar(std::size_t done) const
        {
            const std::size_t filled = m_total == 0 ? s_width : done * s_width / m_total;
            return std::string(filled, '#') + std::string(s_width - filled, '.');
        }

        std::string m_label;
        std::size_t m_total;
        bool m_terminal;
        clock::duration m_interval;
        clock::time_point m_last;
        bool m_drawn = false;
    };
}
