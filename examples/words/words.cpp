// A character-level language model of English words with xloss: a GRU reads
// <bow> and the letters of a word and predicts each next letter and <eow>,
// trained with Adam on padded batches [B, T] whose loss is
// xloss::mean(xloss::softmax_cross_entropy_with_integer_labels) over the
// class axis with a [B, T] `where` mask of the real positions.
//
//   words                        # trains on /usr/share/dict/american-english (Debian's wamerican)
//   words --epochs 2 --hidden 64
//   words --smoke                # the ctest check: a few hundred words, the loss falls and stays finite
//   words --check-padding        # the ctest check: a padded batch == its words one at a time
//
// Prints per-epoch train and validation loss (nats per character, <eow>
// counted as one), the test loss beside the bigram model's, 20 sampled
// words; writes <out>/curves.csv and, with gnuplot, <out>/curves.png.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <xloss/xloss.hpp>

#include "../common/adam.hpp"
#include "../common/blas_threads.hpp"
#include "../common/gnuplot.hpp"
#include "../common/progress.hpp"
#include "../common/random.hpp"
#include "bigram.hpp"
#include "checks.hpp"
#include "gru.hpp"
#include "loss.hpp"
#include "word_list.hpp"

namespace words
{
    using clock = std::chrono::steady_clock;

    struct Options
    {
        std::string words_file = default_words_file;
        std::string out_dir = "words_out";
        int epochs = 6;
        std::size_t batch_size = 64;
        float learning_rate = 5e-3f;
        double clip = 1.0;  // global gradient norm
        ModelSize size;
        std::size_t train_limit = 0;  // 0: the whole training split
        std::size_t samples = 20;
        unsigned seed = 42;
        int threads = 1;
        LossMode loss;  // label smoothing; padding by ignore_index instead of the mask
        bool smoke = false;
        bool check_padding = false;
    };

    // Summed nats of a batch (forward only), for evaluation.
    double batch_nats(const Logits& logits, const Batch& batch)
    {
        constexpr auto loss = xloss::sum(xloss::softmax_cross_entropy_with_integer_labels);
        return static_cast<double>(loss(logits, batch.labels, -1, batch.real)());
    }

    double evaluate(GruLanguageModel& model, const std::vector<Batch>& batches)
    {
        double nats = 0.0;
        std::size_t positions = 0;
        for (const Batch& b : batches)
        {
            nats += batch_nats(model.forward(b), b);
            positions += b.positions;
        }
        return positions == 0 ? 0.0 : nats / static_cast<double>(positions);
    }

    double seconds_since(clock::time_point start)
    {
        return std::chrono::duration<double>(clock::now() - start).count();
    }

    struct EpochRecord
    {
        int epoch;
        double train_loss;       // mean over the epoch's positions, while training
        double validation_loss;  // after the epoch
        double train_seconds;    // the epoch's training steps
        double seconds;          // training and validation
    };

    class Trainer
    {
    public:
        Trainer(const Options& opt, std::size_t train_words)
            : m_opt(opt)
            , m_init_rng(opt.seed + 1)
            , m_batch_rng(opt.seed + 2)
            , m_model(opt.size, m_init_rng)
            , m_optimiser(m_model.parameters())
            , m_total_steps(static_cast<double>(opt.epochs)
                            * static_cast<double>((train_words + opt.batch_size - 1) / opt.batch_size))
        {
        }

        GruLanguageModel& model()
        {
            return m_model;
        }

        EpochRecord run_epoch(int epoch,
                              const std::vector<std::string>& train,
                              const std::vector<Batch>& validation)
        {
            const auto start = clock::now();
            const std::vector<Batch> batches = training_batches(train, m_opt.batch_size, m_batch_rng);
            char label[32];
            std::snprintf(label, sizeof label, "epoch %2d/%d", epoch, m_opt.epochs);
            xloss_examples::ProgressBar progress(label, batches.size(), xloss_examples::stdout_is_terminal());
            double nats = 0.0;
            std::size_t positions = 0;
            for (std::size_t i = 0; i < batches.size(); ++i)
            {
                nats += static_cast<double>(train_step(batches[i]))
                        * static_cast<double>(batches[i].positions);
                positions += batches[i].positions;
                progress.update(i + 1, nats / static_cast<double>(positions));
            }
            progress.finish();
            const double train_seconds = seconds_since(start);
            const double validation_loss = evaluate(m_model, validation);
            const EpochRecord r{epoch, nats / static_cast<double>(positions), validation_loss, train_seconds,
                                seconds_since(start)};
            std::printf("%s  train %.4f  validation %.4f nats/char  %5.2f s (training %5.2f s)\n", label,
                        r.train_loss, r.validation_loss, r.seconds, r.train_seconds);
            std::fflush(stdout);
            return r;
        }

        // One Adam step on a batch; returns its mean loss.
        float train_step(const Batch& batch)
        {
            const Logits& logits = m_model.forward(batch);
            const float loss = batch_loss_and_grad(logits, batch, m_opt.loss, m_dlogits);
            m_model.backward(batch, m_dlogits);
            const auto params = m_model.parameters();
            double norm = 0.0;
            const float scale = xloss_examples::clip_scale(params, m_opt.clip, norm);
            m_optimiser.step(params, learning_rate(), scale);
            ++m_step;
            return loss;
        }

    private:
        // Cosine decay from --lr to zero over the run (as the Fashion-MNIST
        // example): large steps early, small ones to settle at the end.
        float learning_rate() const
        {
            const double progress = static_cast<double>(m_step) / m_total_steps;
            return static_cast<float>(0.5 * m_opt.learning_rate
                                      * (1.0 + std::cos(3.14159265358979323846 * progress)));
        }

        const Options& m_opt;
        xloss_examples::Rng m_init_rng;
        xloss_examples::Rng m_batch_rng;
        GruLanguageModel m_model;
        xloss_examples::Adam m_optimiser;
        double m_total_steps;
        std::size_t m_step = 0;
        Logits m_dlogits;
    };

    void write_csv(const std::string& path, const std::vector<EpochRecord>& records)
    {
        std::ofstream out(path);
        out << "epoch,train_loss,validation_loss,train_seconds,seconds\n";
        for (const EpochRecord& r : records)
        {
            out << r.epoch << ',' << r.train_loss << ',' << r.validation_loss << ',' << r.train_seconds << ','
                << r.seconds << '\n';
        }
        if (!out)
        {
            throw std::runtime_error("cannot write " + path);
        }
    }

    // curves.png: train and validation loss per epoch, the test losses of
    // the model and of the bigram floor as horizontal lines. Returns the
    // PNG's path, or "" when gnuplot failed.
    std::string plot_curves(const std::string& out_dir,
                            std::size_t epochs,
                            double test_loss,
                            double bigram_loss)
    {
        using xloss_examples::single_quoted;
        const std::string csv = single_quoted(out_dir + "/curves.csv", "''");
        const std::string png = out_dir + "/curves.png";
        const std::string script = out_dir + "/curves.gp";
        std::ofstream gp(script);
        gp << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
           << "  set terminal pngcairo size 800,480 font 'sans,10'\n"
           << "} else {\n"
           << "  set terminal png size 800,480\n"
           << "}\n"
           << "set output " << single_quoted(png, "''") << "\n"
           << "set datafile separator ','\n"
           << "set key autotitle columnhead right center\n"
           // Half an epoch of margin: a one-epoch run is still a range.
           << "set xrange [0.5:" << epochs << ".5]\n"
           << "set grid\nset xtics 1\nset xlabel 'epoch'\nset ylabel 'nats per character'\n"
           << "set title 'English words, character GRU trained with xloss'\n"
           << "plot " << csv << " using 1:2 with linespoints dt 2 title 'train', " << csv
           << " using 1:3 with linespoints title 'validation', " << test_loss
           << " with lines lc 'black' title 'test (final)', " << bigram_loss
           << " with lines lc 'red' dt 3 title 'bigram test (floor)'\n";
        gp.close();
        return xloss_examples::run_gnuplot(script) ? png : std::string();
    }

    void report_outputs(const Options& opt,
                        const std::vector<EpochRecord>& records,
                        double test_loss,
                        double bigram_loss)
    {
        std::filesystem::create_directories(opt.out_dir);
        write_csv(opt.out_dir + "/curves.csv", records);
        std::printf("curves: %s/curves.csv\n", opt.out_dir.c_str());
        if (!xloss_examples::on_path("gnuplot"))
        {
            std::printf("plot:   skipped, gnuplot was not found on PATH\n");
            return;
        }
        const std::string png = plot_curves(opt.out_dir, records.size(), test_loss, bigram_loss);
        std::printf("plot:   %s\n", png.empty() ? "gnuplot failed, no PNG written" : png.c_str());
    }

    void print_samples(GruLanguageModel& model, const Options& opt)
    {
        xloss_examples::Rng rng(opt.seed + 3);
        constexpr std::size_t max_letters = 24;
        const std::vector<std::string> samples = model.sample(opt.samples, max_letters, rng);
        std::printf("\n%zu sampled words:", samples.size());
        for (std::size_t i = 0; i < samples.size(); ++i)
        {
            std::printf("%s%s", i % 10 == 0 ? "\n  " : " ", samples[i].c_str());
        }
        std::printf("\n");
    }

    Split load(const Options& opt)
    {
        const auto start = clock::now();
        Split split = split_words(read_words(opt.words_file), opt.seed);
        if (opt.train_limit > 0 && opt.train_limit < split.train.size())
        {
            split.train.resize(opt.train_limit);
        }
        std::printf("words: %zu train, %zu validation, %zu test from %s (%.2f s)\n", split.train.size(),
                    split.validation.size(), split.test.size(), opt.words_file.c_str(), seconds_since(start));
        return split;
    }

    // --smoke: a few epochs on a few hundred words; passes when the loss on
    // them falls and stays finite. Returns the exit code.
    int run_smoke(Options opt)
    {
        opt.train_limit = 300;
        opt.epochs = 3;
        const Split split = load(opt);
        const std::vector<Batch> train_eval = evaluation_batches(split.train, 256);
        const std::size_t n_validation = std::min<std::size_t>(split.validation.size(), 300);
        const std::vector<Batch> validation = evaluation_batches(
            std::vector<std::string>(split.validation.begin(), split.validation.begin() + n_validation), 256);
        Trainer trainer(opt, split.train.size());
        const double before = evaluate(trainer.model(), train_eval);
        bool finite = true;
        for (int epoch = 1; epoch <= opt.epochs; ++epoch)
        {
            const EpochRecord r = trainer.run_epoch(epoch, split.train, validation);
            finite = finite && std::isfinite(r.train_loss) && std::isfinite(r.validation_loss);
        }
        const double after = evaluate(trainer.model(), train_eval);
        finite = finite && std::isfinite(after);
        const bool fell = after < before - 0.1;
        std::printf("smoke: training-subset loss %.4f -> %.4f nats/char (%s, %s)\n", before, after,
                    fell ? "fell" : "DID NOT FALL by 0.1", finite ? "finite" : "NOT FINITE");
        std::printf("smoke test %s\n", fell && finite ? "passed" : "FAILED");
        return fell && finite ? 0 : 1;
    }

    int run(const Options& opt)
    {
        const Split split = load(opt);
        const std::vector<Batch> validation = evaluation_batches(split.validation, 512);
        Trainer trainer(opt, split.train.size());
        std::printf(
            "model: embedding %zu, GRU %zu, batch %zu, Adam lr %g (cosine decay), clip %g, %d epochs\n",
            opt.size.embedding, opt.size.hidden, opt.batch_size, static_cast<double>(opt.learning_rate),
            opt.clip, opt.epochs);
        std::vector<EpochRecord> records;
        double train_seconds = 0.0;
        for (int epoch = 1; epoch <= opt.epochs; ++epoch)
        {
            records.push_back(trainer.run_epoch(epoch, split.train, validation));
            train_seconds += records.back().train_seconds;
        }
        const double test_loss = evaluate(trainer.model(), evaluation_batches(split.test, 512));
        const double bigram_loss = Bigram(split.train).loss(split.test);
        std::printf("\ntest loss: %.4f nats/char   bigram model (add-one): %.4f   difference %.4f\n",
                    test_loss, bigram_loss, bigram_loss - test_loss);
        std::printf("training: %.2f s per epoch on average\n", train_seconds / opt.epochs);
        print_samples(trainer.model(), opt);
        std::printf("\n");
        report_outputs(opt, records, test_loss, bigram_loss);
        return 0;
    }
}

int main(int argc, char** argv)
{
    using namespace words;
    Options opt;
    CLI::App app{"Trains a character-level GRU language model on English words, with the\n"
                 "cross-entropy loss (mean over real positions, a `where` mask over padding)\n"
                 "and its gradient from xloss."};
    app.add_option("--words-file", opt.words_file, "The word list, one word a line (Debian: wamerican)")
        ->capture_default_str();
    app.add_option("--out", opt.out_dir, "Directory for curves.csv and curves.png")->capture_default_str();
    app.add_option("--epochs", opt.epochs, "Passes over the training split")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--batch-size", opt.batch_size, "Words per batch")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--lr", opt.learning_rate, "Initial Adam learning rate, decaying to zero along a cosine")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--clip", opt.clip, "Largest global gradient norm (torch's clip_grad_norm_)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--embedding", opt.size.embedding, "Embedding size")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--hidden", opt.size.hidden, "GRU state size")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--train-limit", opt.train_limit, "Train on the first N words of the training split only")
        ->check(CLI::PositiveNumber);
    app.add_option("--samples", opt.samples, "Words to sample after training")->capture_default_str();
    app.add_option("--seed", opt.seed, "Seed of the split, initialisation, batches and samples")
        ->capture_default_str();
    app.add_option("--threads", opt.threads, "OpenBLAS threads")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--label-smoothing", opt.loss.label_smoothing,
                   "Label smoothing EPS of the training loss (xloss::cross_entropy_options)")
        ->check(CLI::Range(0.0f, 1.0f));
    app.add_flag(
        "--ignore-index", opt.loss.ignore_index,
        "Mark padding by ignore_index = -100 (its label) instead of the where mask: the same numbers");
    app.add_flag("--smoke", opt.smoke,
                 "Self-check for ctest: 3 epochs on 300 words; fails unless the loss falls");
    app.add_flag("--check-padding", opt.check_padding,
                 "Self-check for ctest: a padded batch's loss and gradient equal its words' one at a time");
    CLI11_PARSE(app, argc, argv);

    try
    {
        xloss_examples::limit_blas_threads(opt.threads);
        if (opt.check_padding)
        {
            return run_padding_check(opt.seed);
        }
        return opt.smoke ? run_smoke(opt) : run(opt);
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "words: %s\n", e.what());
        return 2;
    }
}
