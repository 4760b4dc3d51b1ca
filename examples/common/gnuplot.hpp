// Helpers for the examples' plots: finding gnuplot and running it on a
// script, with the quoting that gnuplot strings and /bin/sh need.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace xloss_examples
{
    inline bool on_path(const std::string& program)
    {
        const char* path = std::getenv("PATH");
        std::stringstream dirs(path ? path : "");
        std::string dir;
        while (std::getline(dirs, dir, ':'))
        {
            const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
            if (access(candidate.c_str(), X_OK) == 0)
            {
                return true;
            }
        }
        return false;
    }

    // Single quotes for gnuplot strings and for /bin/sh alike; neither
    // treats anything but the quote itself specially inside them.
    inline std::string single_quoted(const std::string& text, const std::string& escaped_quote)
    {
        std::string out = "'";
        for (char c : text)
        {
            out += c == '\'' ? escaped_quote : std::string(1, c);
        }
        return out + "'";
    }

    // Runs gnuplot on `script`; true when it succeeded.
    inline bool run_gnuplot(const std::string& script)
    {
        const std::string command = "gnuplot " + single_quoted(script, "'\\''");
        return std::system(command.c_str()) == 0;
    }
}
