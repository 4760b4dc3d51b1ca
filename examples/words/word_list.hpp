// The data of the word model: Debian's English word list, its split, and the
// padded batches the model trains on.
//
// Tokens. The model reads a begin-of-word token and then the letters, and
// predicts each next letter and finally an end-of-word token:
//
//   input  <bow> c   a   t
//   label   c    a   t  <eow>
//
// Input ids: <bow> = 0, 'a'..'z' = 1..26. Label ids (the 27 classes of the
// logits): 'a'..'z' = 0..25, <eow> = 26. A word of n letters gives n + 1
// positions. examples/words/torch_baseline.py reads the same file, builds
// the same split (the same shuffle from the same mt19937 seed) and the same
// kind of batches.
#pragma once

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../common/random.hpp"

namespace words
{
    constexpr int begin_token = 0;  // input id of <bow>
    constexpr int end_label = 26;   // label id of <eow>
    constexpr std::size_t num_inputs = 27;
    constexpr std::size_t num_classes = 27;
    constexpr int padding_label = -100;  // PyTorch's ignore_index default

    inline const std::string default_words_file = "/usr/share/dict/american-english";

    // Lower-cases a line of the list; false when it holds anything but
    // letters a-z after that (possessives "cat's", accented loan words
    // "café"): those are dropped rather than mangled into other words.
    inline bool normalise(std::string& word)
    {
        if (word.empty())
        {
            return false;
        }
        for (char& c : word)
        {
            if (c >= 'A' && c <= 'Z')
            {
                c = static_cast<char>(c - 'A' + 'a');
            }
            if (c < 'a' || c > 'z')
            {
                return false;
            }
        }
        return true;
    }

    // The distinct normalised words of `path`, sorted (so that the split
    // depends on the list's content, not on its line order).
    inline std::vector<std::string> read_words(const std::string& path)
    {
        std::ifstream in(path);
        if (!in)
        {
            throw std::runtime_error("cannot read the word list " + path + " (the default list, "
                                     + default_words_file
                                     + ", comes with Debian's wamerican package: apt-get install wamerican, "
                                       "or scripts/install-deps.sh words)");
        }
        std::set<std::string> unique;
        std::string line;
        while (std::getline(in, line))
        {
            if (normalise(line))
            {
                unique.insert(line);
            }
        }
        if (unique.empty())
        {
            throw std::runtime_error("the word list " + path + " holds no word of letters a-z");
        }
        return {unique.begin(), unique.end()};
    }

    inline std::vector<std::size_t> identity_order(std::size_t n)
    {
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), std::size_t(0));
        return order;
    }

    struct Split
    {
        std::vector<std::string> train, validation, test;
    };

    // 80/10/10 after a seeded shuffle (examples/common/random.hpp's, which
    // torch_baseline.py repeats exactly).
    inline Split split_words(std::vector<std::string> all, unsigned seed)
    {
        std::vector<std::size_t> order = identity_order(all.size());
        xloss_examples::Rng rng(seed);
        xloss_examples::shuffle(order, rng);
        const std::size_t n_train = all.size() * 8 / 10;
        const std::size_t n_validation = all.size() / 10;
        Split split;
        for (std::size_t k = 0; k < order.size(); ++k)
        {
            auto& part = k < n_train                  ? split.train
                         : k < n_train + n_validation ? split.validation
                                                      : split.test;
            part.push_back(std::move(all[order[k]]));
        }
        return split;
    }

    inline std::size_t count_positions(const std::vector<std::string>& words)
    {
        std::size_t n = 0;
        for (const std::string& w : words)
        {
            n += w.size() + 1;
        }
        return n;
    }

    // A padded batch of B words, T = the longest word's length + 1.
    struct Batch
    {
        std::size_t size = 0;        // B
        std::size_t steps = 0;       // T
        xt::xtensor<int, 2> inputs;  // [T, B], time-major as the recurrence walks it; padding reads <bow>
        xt::xtensor<int, 2> labels;  // [B, T]; padding_label where there is no character
        xt::xtensor<bool, 2> real;   // [B, T]; the where mask of the loss
        std::size_t positions = 0;   // number of true entries of `real`
    };

    inline Batch make_batch(const std::vector<const std::string*>& batch_words)
    {
        Batch b;
        b.size = batch_words.size();
        for (const std::string* w : batch_words)
        {
            b.steps = std::max(b.steps, w->size() + 1);
        }
        b.inputs = xt::xtensor<int, 2>::from_shape({b.steps, b.size});
        b.inputs.fill(begin_token);
        b.labels = xt::xtensor<int, 2>::from_shape({b.size, b.steps});
        b.labels.fill(padding_label);
        b.real = xt::zeros<bool>({b.size, b.steps});
        for (std::size_t i = 0; i < b.size; ++i)
        {
            const std::string& w = *batch_words[i];
            for (std::size_t t = 0; t <= w.size(); ++t)
            {
                b.inputs(t, i) = t == 0 ? begin_token : w[t - 1] - 'a' + 1;
                b.labels(i, t) = t == w.size() ? end_label : w[t] - 'a';
                b.real(i, t) = true;
            }
        }
        b.positions = 0;
        for (const std::string* w : batch_words)
        {
            b.positions += w->size() + 1;
        }
        return b;
    }

    // Cuts `order` (indices into `words`) into batches of `batch_size` after
    // sorting each run of `bucket` batches by length, so that a batch holds
    // words of similar length and padding stays a few percent of the work;
    // the order of words of equal length is kept (a stable sort).
    inline std::vector<Batch> bucketed_batches(const std::vector<std::string>& words,
                                               std::vector<std::size_t> order,
                                               std::size_t batch_size,
                                               std::size_t bucket)
    {
        const std::size_t run = batch_size * bucket;
        for (std::size_t begin = 0; begin < order.size(); begin += run)
        {
            const auto first = order.begin() + static_cast<std::ptrdiff_t>(begin);
            const auto last = order.begin()
                              + static_cast<std::ptrdiff_t>(std::min(begin + run, order.size()));
            std::stable_sort(first, last,
                             [&](std::size_t a, std::size_t b) { return words[a].size() < words[b].size(); });
        }
        std::vector<Batch> batches;
        for (std::size_t begin = 0; begin < order.size(); begin += batch_size)
        {
            std::vector<const std::string*> members;
            for (std::size_t k = begin; k < std::min(begin + batch_size, order.size()); ++k)
            {
                members.push_back(&words[order[k]]);
            }
            batches.push_back(make_batch(members));
        }
        return batches;
    }

    // An epoch's training batches: shuffled words, bucketed, and the
    // batches shuffled again so that lengths do not rise within a bucket run.
    inline std::vector<Batch> training_batches(const std::vector<std::string>& words,
                                               std::size_t batch_size,
                                               xloss_examples::Rng& rng)
    {
        constexpr std::size_t bucket = 32;
        std::vector<std::size_t> order = identity_order(words.size());
        xloss_examples::shuffle(order, rng);
        std::vector<Batch> batches = bucketed_batches(words, std::move(order), batch_size, bucket);
        std::vector<std::size_t> batch_order = identity_order(batches.size());
        xloss_examples::shuffle(batch_order, rng);
        std::vector<Batch> shuffled;
        shuffled.reserve(batches.size());
        for (std::size_t i : batch_order)
        {
            shuffled.push_back(std::move(batches[i]));
        }
        return shuffled;
    }

    // Evaluation batches: all words sorted by length (deterministic, little padding).
    inline std::vector<Batch> evaluation_batches(const std::vector<std::string>& words,
                                                 std::size_t batch_size)
    {
        std::vector<std::size_t> order = identity_order(words.size());
        return bucketed_batches(words, std::move(order), batch_size, words.size());
    }
}
