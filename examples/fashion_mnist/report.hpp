// The learning curves: one row per model and epoch, written as CSV and,
// when gnuplot is installed, drawn as a PNG.
#pragma once

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/gnuplot.hpp"

namespace fashion_mnist
{
    using xloss_examples::on_path;
    using xloss_examples::single_quoted;

    struct EpochRecord
    {
        std::string model;
        int epoch;
        double train_loss;  // mean over the epoch's batches, while training (against
                            // the smoothed targets under --label-smoothing)
        double test_loss;
        double test_accuracy;  // fraction in [0, 1]
        double seconds;        // training and evaluation of this epoch
    };

    inline void write_csv(const std::string& path, const std::vector<EpochRecord>& records)
    {
        std::ofstream out(path);
        out << "model,epoch,train_loss,test_loss,test_accuracy,seconds\n";
        for (const EpochRecord& r : records)
        {
            out << r.model << ',' << r.epoch << ',' << r.train_loss << ',' << r.test_loss << ','
                << r.test_accuracy << ',' << r.seconds << '\n';
        }
        if (!out)
        {
            throw std::runtime_error("cannot write " + path);
        }
    }

    // Writes `<out_dir>/curves.gp` and runs gnuplot on it to draw test/train
    // loss and test accuracy per epoch from curves.csv into curves.png.
    // Returns the PNG's path, or an empty string when gnuplot failed.
    inline std::string plot_curves(const std::string& out_dir, const std::vector<std::string>& models)
    {
        const std::string csv = out_dir + "/curves.csv";
        const std::string png = out_dir + "/curves.png";
        const std::string script = out_dir + "/curves.gp";
        const std::string csv_q = single_quoted(csv, "''");

        std::ofstream gp(script);
        // pngcairo draws smoother lines; builds of gnuplot without cairo
        // still have the libgd png terminal.
        gp << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
           << "  set terminal pngcairo size 1200,480 font 'sans,10'\n"
           << "} else {\n"
           << "  set terminal png size 1200,480\n"
           << "}\n"
           << "set output " << single_quoted(png, "''") << "\n"
           << "set datafile separator ','\n"
           // Reads the CSV's first line as column names rather than data.
           << "set key autotitle columnhead\n"
           << "set grid\n"
           << "set xtics 1\n"
           << "set xlabel 'epoch'\n"
           << "set multiplot layout 1,2 title 'Fashion-MNIST with xloss'\n"
           // Rows of one model only: other rows become NaN, which gnuplot skips.
           << "row(m, col) = strcol(1) eq m ? column(col) : NaN\n";

        gp << "set title 'cross-entropy loss'\nset ylabel 'loss'\nplot ";
        for (std::size_t i = 0; i < models.size(); ++i)
        {
            const std::string m = "'" + models[i] + "'";
            gp << (i ? ", " : "") << csv_q << " using 2:(row(" << m << ", 3)) with linespoints lc " << i + 1
               << " dt 2 title '" << models[i] << " train', " << csv_q << " using 2:(row(" << m
               << ", 4)) with linespoints lc " << i + 1 << " title '" << models[i] << " test'";
        }
        gp << "\nset title 'test accuracy'\nset ylabel 'accuracy (%)'\nset key bottom right\nplot ";
        for (std::size_t i = 0; i < models.size(); ++i)
        {
            const std::string m = "'" + models[i] + "'";
            gp << (i ? ", " : "") << csv_q << " using 2:(100 * row(" << m << ", 5)) with linespoints lc "
               << i + 1 << " title '" << models[i] << "'";
        }
        gp << "\nunset multiplot\n";
        gp.close();

        return xloss_examples::run_gnuplot(script) ? png : std::string();
    }
}
