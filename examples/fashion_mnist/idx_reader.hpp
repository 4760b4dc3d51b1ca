// Reading the gzip-compressed IDX files that (Fashion-)MNIST ships as.
//
// IDX format: a 4-byte big-endian magic number whose third byte is the
// element type (0x08 = unsigned byte) and whose fourth byte is the number of
// dimensions, then one big-endian uint32 per dimension, then the data.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

namespace fashion_mnist
{
    // Images as rows of pixels in [0, 1]; labels as class indices 0..9.
    struct Dataset
    {
        xt::xtensor<float, 2> images;  // [N, rows * cols]
        xt::xtensor<int, 1> labels;    // [N]
    };

    namespace detail
    {
        using gz_file = std::unique_ptr<gzFile_s, decltype(&gzclose)>;

        inline gz_file open_gz(const std::string& path)
        {
            gz_file file(gzopen(path.c_str(), "rb"), &gzclose);
            if (!file)
            {
                throw std::runtime_error(
                    "cannot open " + path
                    + "\n  The Fashion-MNIST files are in the Debian package dataset-fashion-mnist"
                      " (apt-get install dataset-fashion-mnist),\n  or point --data at a directory"
                      " holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz");
            }
            // Reading a few MB in one go: a large buffer avoids many small inflate calls.
            gzbuffer(file.get(), 1 << 20);
            return file;
        }

        inline void read_exact(gzFile file, void* dst, std::size_t size, const std::string& path)
        {
            auto* out = static_cast<unsigned char*>(dst);
            while (size > 0)
            {
                // gzread takes an unsigned count, so read in bounded chunks.
                const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30));
                const int got = gzread(file, out, chunk);
                if (got <= 0)
                {
                    throw std::runtime_error(path + ": truncated or corrupt IDX file");
                }
                out += got;
                size -= static_cast<std::size_t>(got);
            }
        }

        inline std::uint32_t read_be32(gzFile file, const std::string& path)
        {
            std::array<unsigned char, 4> b{};
            read_exact(file, b.data(), b.size(), path);
            return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8)
                   | std::uint32_t(b[3]);
        }

        // Reads an unsigned-byte IDX file with `ndim` dimensions; returns its
        // shape and raw bytes.
        inline std::vector<std::uint8_t> read_idx_bytes(const std::string& path,
                                                        std::size_t ndim,
                                                        std::vector<std::size_t>& shape)
        {
            gz_file file = open_gz(path);
            const std::uint32_t magic = read_be32(file.get(), path);
            const std::uint32_t expected = 0x0800u | static_cast<std::uint32_t>(ndim);
            if (magic != expected)
            {
                throw std::runtime_error(path + ": not an unsigned-byte IDX file with " + std::to_string(ndim)
                                         + " dimension(s)");
            }
            shape.clear();
            std::size_t count = 1;
            for (std::size_t d = 0; d < ndim; ++d)
            {
                shape.push_back(read_be32(file.get(), path));
                count *= shape.back();
            }
            std::vector<std::uint8_t> bytes(count);
            read_exact(file.get(), bytes.data(), bytes.size(), path);
            return bytes;
        }
    }

    // Loads `<dir>/<prefix>-images-idx3-ubyte.gz` and the matching labels file
    // (prefix "train" or "t10k"). Pixels are scaled to [0, 1] so that the
    // default learning rates work without per-dataset tuning.
    inline Dataset load_split(const std::string& dir, const std::string& prefix)
    {
        std::vector<std::size_t> image_shape;
        std::vector<std::size_t> label_shape;
        const std::string image_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
        const std::string label_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
        const auto pixels = detail::read_idx_bytes(image_path, 3, image_shape);
        const auto labels = detail::read_idx_bytes(label_path, 1, label_shape);
        if (image_shape[0] != label_shape[0])
        {
            throw std::runtime_error(image_path + " and " + label_path
                                     + " disagree on the number of examples");
        }

        const std::size_t n = image_shape[0];
        const std::size_t features = image_shape[1] * image_shape[2];
        Dataset data;
        data.images = xt::xtensor<float, 2>::from_shape({n, features});
        data.labels = xt::xtensor<int, 1>::from_shape({n});
        for (std::size_t i = 0; i < pixels.size(); ++i)
        {
            data.images.data()[i] = static_cast<float>(pixels[i]) / 255.0f;
        }
        for (std::size_t i = 0; i < n; ++i)
        {
            data.labels(i) = labels[i];
        }
        return data;
    }
}
