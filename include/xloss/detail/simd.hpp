// The one place that knows how xloss vectorizes. Everything else uses the
// names below, so moving to a newer xsimd (reduce_add, reduce_max, masked
// loads) or building without SIMD touches this file only.
//
// Two backends with the same names:
//   default         xsimd 8.1 (Debian 12) batches for xsimd's default
//                   architecture, i.e. what the application's -march allows,
//                   down to SSE2;
//   XLOSS_NO_SIMD   the scalar fallback: a "batch" is one T and a
//                   "batch_bool" one bool, and the math is <cmath>. The same
//                   kernels then run one element at a time; the tests compare
//                   the two backends (tests/test_simd_vs_scalar.cpp).
#ifndef XLOSS_DETAIL_SIMD_HPP
#define XLOSS_DETAIL_SIMD_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../config.hpp"

#ifndef XLOSS_NO_SIMD
#include <xsimd/xsimd.hpp>
#endif

XLOSS_NAMESPACE_BEGIN
    namespace detail::simd
    {
#ifndef XLOSS_NO_SIMD
        // The application picks the instruction set (-march); we take xsimd's
        // default architecture for it, down to SSE2, with one exception:
        // xsimd 8.1's AVX-512 kernels do not compile without optimization in
        // GCC (some AVX-512 intrinsics are macros at -O0, and xsimd's integer
        // select, used by its double log, then fails to compile; with
        // AVX-512F alone much more fails). An unoptimised build (no
        // __OPTIMIZE__, CMake's Debug) whose -march enables AVX-512 therefore
        // uses AVX2 batches, which every AVX-512 CPU has: the same kernels on
        // 256-bit registers. Optimised builds are unaffected.
#if defined(__AVX512F__) && !defined(__OPTIMIZE__)
#if defined(__FMA__)
        using arch = xsimd::fma3<xsimd::avx2>;
#else
        using arch = xsimd::avx2;
#endif
#else
#if defined(__AVX512F__)
// AVX-512 intrinsics may be used: float batches of 16 unless xsimd's arch is forced.
#define XLOSS_DETAIL_AVX512_BATCHES 1
#endif
        using arch = xsimd::default_arch;
#endif

        template <class T>
        using batch = xsimd::batch<T, arch>;
        template <class T>
        using batch_bool = xsimd::batch_bool<T, arch>;

        template <class T>
        inline constexpr std::size_t width = batch<T>::size;

        // The element type of a batch type.
        template <class B>
        using scalar_t = typename B::value_type;

        template <class T>
        batch<T> load(const T* p)
        {
            return batch<T>::load_unaligned(p);
        }

        template <class T>
        batch<T> load_aligned(const T* p)
        {
            return batch<T>::load_aligned(p);
        }

        template <class T>
        void store(T* p, const batch<T>& v)
        {
            v.store_unaligned(p);
        }

        template <class T>
        void store_aligned(T* p, const batch<T>& v)
        {
            v.store_aligned(p);
        }

        template <class T>
        T first_lane(const batch<T>& v)
        {
            return v.get(0);
        }

#if defined(__AVX2__)
        // AVX2's lane mask for maskload/maskstore: lanes [0, count) of T's size all ones.
        template <class T>
        __m256i avx2_first_lanes(std::size_t count)
        {
            if constexpr (sizeof(T) == 4)
            {
                return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            }
            else
            {
                return _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(count)),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
            }
        }
#endif

        // The first `count` (< W) elements at p, the other lanes 0, reading nothing
        // past p + count: a row's tail. One masked load on AVX-512 and AVX2 (both
        // suppress faults in the masked-off lanes), a copy otherwise: the copy into a
        // zeroed stack batch cost every row that is not a multiple of W (1000 classes)
        // a visible share of its time.
        template <class T>
        batch<T> load_first(const T* p, std::size_t count)
        {
            [[maybe_unused]] constexpr std::size_t bytes = width<T> * sizeof(T);
#if defined(__AVX512F__)
            if constexpr (bytes == 64)
            {
                if constexpr (std::is_same_v<T, float>)
                {
                    return batch<T>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p));
                }
                else
                {
                    return batch<T>(_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << count) - 1), p));
                }
            }
#endif
#if defined(__AVX2__)
            if constexpr (bytes == 32)
            {
                if constexpr (std::is_same_v<T, float>)
                {
                    return batch<T>(_mm256_maskload_ps(p, avx2_first_lanes<T>(count)));
                }
                else
                {
                    return batch<T>(_mm256_maskload_pd(p, avx2_first_lanes<T>(count)));
                }
            }
#endif
            alignas(64) T part[width<T>] = {};
            std::memcpy(part, p, count * sizeof(T));
            return batch<T>::load_aligned(part);
        }

        // Writes the first `count` (< W) lanes of v at p, and nothing past them.
        template <class T>
        void store_first(T* p, const batch<T>& v, std::size_t count)
        {
            [[maybe_unused]] constexpr std::size_t bytes = width<T> * sizeof(T);
#if defined(__AVX512F__)
            if constexpr (bytes == 64)
            {
                if constexpr (std::is_same_v<T, float>)
                {
                    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << count) - 1), v);
                }
                else
                {
                    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << count) - 1), v);
                }
                return;
            }
#endif
#if defined(__AVX2__)
            if constexpr (bytes == 32)
            {
                if constexpr (std::is_same_v<T, float>)
                {
                    _mm256_maskstore_ps(p, avx2_first_lanes<T>(count), v);
                }
                else
                {
                    _mm256_maskstore_pd(p, avx2_first_lanes<T>(count), v);
                }
                return;
            }
#endif
            alignas(64) T part[width<T>];
            v.store_aligned(part);
            std::memcpy(p, part, count * sizeof(T));
        }

        // The W mask bytes widened to W integers of T's size, in batch<int>'s
        // register. One zero-extending load where the instruction set has it
        // (SSE4.1, AVX2, AVX-512F); GCC 12 does not find that instruction for the
        // portable loop, and its stores and wider reload stall store forwarding.
        template <class T>
        xsimd::batch<xsimd::as_integer_t<T>, arch> widen_mask_bytes(const std::uint8_t* p)
        {
            using int_type = xsimd::as_integer_t<T>;
            using ints = xsimd::batch<int_type, arch>;
            [[maybe_unused]] constexpr std::size_t w = width<T>;
            // The register's size tells the instruction set (comparing the
            // register types themselves trips -Wignored-attributes). The AVX-512
            // forms are the zero-masked ones: GCC 12's plain _mm512_cvtepu8_*
            // trip -Wuninitialized in its own header.
            [[maybe_unused]] constexpr std::size_t bytes = w * sizeof(int_type);
#if defined(__AVX512F__)
            if constexpr (bytes == 64)
            {
                if constexpr (w == 16)
                {
                    return ints(_mm512_maskz_cvtepu8_epi32(
                        __mmask16(0xffff), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
                }
                else if constexpr (w == 8)
                {
                    return ints(_mm512_maskz_cvtepu8_epi64(
                        __mmask8(0xff), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
                }
            }
#endif
#if defined(__AVX2__)
            if constexpr (bytes == 32)
            {
                if constexpr (w == 8)
                {
                    return ints(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
                }
                else if constexpr (w == 4)
                {
                    std::int32_t four;
                    std::memcpy(&four, p, 4);
                    return ints(_mm256_cvtepu8_epi64(_mm_cvtsi32_si128(four)));
                }
            }
#endif
#if defined(__SSE4_1__)
            if constexpr (bytes == 16)
            {
                if constexpr (w == 4 || w == 2)
                {
                    std::int32_t bytes = 0;
                    std::memcpy(&bytes, p, w);
                    const __m128i v = _mm_cvtsi32_si128(bytes);
                    return ints(w == 4 ? _mm_cvtepu8_epi32(v) : _mm_cvtepu8_epi64(v));
                }
            }
#endif
            alignas(64) int_type wide[width<T>];
            for (std::size_t i = 0; i < width<T>; ++i)
            {
                wide[i] = static_cast<int_type>(p[i]);
            }
            return ints::load_aligned(wide);
        }

        // W mask bytes (0 or 1) to a batch_bool. Loading the bytes as integers and
        // comparing with zero is several times faster than batch_bool's own
        // bool-pointer load in xsimd 8.1, which is a scalar loop.
        template <class T>
        batch_bool<T> load_mask(const std::uint8_t* p)
        {
            using ints = xsimd::batch<xsimd::as_integer_t<T>, arch>;
            return xsimd::bool_cast(widen_mask_bytes<T>(p) != ints(0));
        }

        // The first `count` (< W) mask bytes at p, the other lanes false, reading
        // nothing past p + count: a row's tail.
        template <class T>
        batch_bool<T> load_mask_first(const std::uint8_t* p, std::size_t count)
        {
            alignas(64) std::uint8_t part[width<T>] = {};
            std::memcpy(part, p, count);
            return load_mask<T>(part);
        }

        // Lanes [0, count) true.
        template <class T>
        batch_bool<T> first_lanes(std::size_t count)
        {
            using int_type = xsimd::as_integer_t<T>;
            alignas(64) int_type idx[width<T>];
            for (std::size_t i = 0; i < width<T>; ++i)
            {
                idx[i] = static_cast<int_type>(i);
            }
            auto lanes = xsimd::batch<int_type, arch>::load_aligned(idx);
            return xsimd::bool_cast(lanes < xsimd::batch<int_type, arch>(static_cast<int_type>(count)));
        }

        // Horizontal reductions: xsimd 8.1 has hadd (later renamed reduce_add)
        // and no reduce_max.
        template <class T>
        T reduce_add(const batch<T>& v)
        {
            return xsimd::hadd(v);
        }

        // The horizontal sums of W batches at once: lane i of the result is the
        // sum of rows[i]'s lanes (xsimd 8.1's haddp, a tree of shuffles and adds:
        // about three instructions per row where reduce_add takes eight). Each
        // row's lanes are added in the same order whatever its position, so a
        // row's sum does not depend on its neighbours.
        template <class T>
        batch<T> sum_rows(const batch<T>* rows)
        {
#ifdef XLOSS_DETAIL_AVX512_BATCHES
            if constexpr (std::is_same_v<T, float> && width<T> == 16)
            {
                // xsimd 8.1's AVX-512 float haddp returns the sums of rows 2-3
                // and 4-5 (and 10-11, 12-13) in each other's lanes: put them back.
                const __m512i order = _mm512_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
                return _mm512_permutexvar_ps(order, xsimd::haddp(rows));
            }
            else
#endif
            {
                return xsimd::haddp(rows);
            }
        }

        template <class T>
        T reduce_max(const batch<T>& v)
        {
            alignas(64) T lanes[width<T>];
            v.store_aligned(lanes);
            T m = lanes[0];
            for (std::size_t i = 1; i < width<T>; ++i)
            {
                m = lanes[i] > m ? lanes[i] : m;  // NaN lanes never win, as in the masked max
            }
            return m;
        }

        template <class T>
        batch<T> select(const batch_bool<T>& cond, const batch<T>& if_true, const batch<T>& if_false)
        {
            return xsimd::select(cond, if_true, if_false);
        }

        // a != b as in C++ and IEEE 754: true when either is NaN. Not xsimd 8.1's
        // operator!=, which on AVX-512 is the ordered compare (false for NaN), so
        // that a NaN label or target would count as 0 there and only there.
        template <class T>
        batch_bool<T> not_equal(const batch<T>& a, const batch<T>& b)
        {
            return !(a == b);
        }

        template <class T>
        batch_bool<T> is_nan(const batch<T>& x)
        {
            return !(x == x);
        }

        template <class T>
        batch<T> max(const batch<T>& a, const batch<T>& b)
        {
            return xsimd::max(a, b);
        }

        template <class T>
        batch<T> min(const batch<T>& a, const batch<T>& b)
        {
            return xsimd::min(a, b);
        }

        template <class T>
        batch<T> abs(const batch<T>& x)
        {
            return xsimd::abs(x);
        }

        template <class T>
        batch<T> sqrt(const batch<T>& x)
        {
            return xsimd::sqrt(x);
        }

        // a * b + c, fused where the ISA has FMA. g++ fuses xsimd's multiply
        // and add by itself; clang keeps them apart, which doubles a Horner
        // polynomial's latency. xsimd 8.1 fuses on AVX2 + FMA but has no
        // AVX-512 fma (its generic one multiplies, then adds).
        template <class T>
        batch<T> fma(const batch<T>& a, const batch<T>& b, const batch<T>& c)
        {
#ifdef XLOSS_DETAIL_AVX512_BATCHES
            if constexpr (std::is_same_v<T, float> && width<T> == 16)
            {
                return _mm512_fmadd_ps(a, b, c);
            }
            else if constexpr (std::is_same_v<T, double> && width<T> == 8)
            {
                return _mm512_fmadd_pd(a, b, c);
            }
            else
#endif
            {
                return xsimd::fma(a, b, c);
            }
        }

        template <class T>
        batch<T> log1p(const batch<T>& x)
        {
            return xsimd::log1p(x);
        }

        template <class T>
        batch<T> expm1(const batch<T>& x)
        {
            return xsimd::expm1(x);
        }

        template <class T>
        bool any(const batch_bool<T>& b)
        {
            return xsimd::any(b);
        }

        // exp over the whole range of T, without undefined behaviour.
        //
        // - xsimd 8.1's exp gives inf early (float above ~88.376, double above
        //   ~709.44, where the true value is still finite) and flushes denormal
        //   results to 0 (float below ~-87.34). Beyond |x| > edge we take
        //   exp(x / 2)^2 instead: x / 2 is exact and far from both limits, and
        //   the square overflows or underflows exactly where exp(x) does.
        // - Its double exp converts round(x / ln 2) to int64 with a scalar
        //   static_cast before it selects away out-of-range lanes; for |x| beyond
        //   ~6e18, +-inf or NaN that cast is undefined (clang's
        //   -fsanitize=float-cast-overflow reports it). Clamping to [-1000, 1000]
        //   first gives the same results (exp there is already 0 or inf), and NaN
        //   is passed through. float converts natively and needs none of it.
        // The lanes beyond the edge: exp(x / 2)^2 there, exp(x) in the others.
        // Out of line: rare, and it would double the inlined code.
        template <class T>
        XLOSS_NOINLINE batch<T> exp_beyond_edge(const batch<T>& arg, const batch_bool<T>& outer)
        {
            const batch<T> half = xsimd::exp(arg * batch<T>(T(0.5)));
            return xsimd::select(outer, half * half, xsimd::exp(arg));
        }

#ifdef XLOSS_DETAIL_AVX512_BATCHES
        // float exp on AVX-512 batches (the arch above): x = k ln 2 + r with
        // |r| <= ln 2 / 2 (ln 2 in two parts, so that k ln 2 is exact), exp(r)
        // by Cephes' expf polynomial, and 2^k applied by vscalefps, which
        // overflows to inf and underflows through the denormals to 0 where exp
        // does. So no edge check, no branch and no selects: 15 instructions
        // where xsimd's exp with the edge check above takes 21, and exp is most
        // of the work of a softmax row. The argument is clamped to [low, high]
        // first (exp is 0 or inf beyond +-128 in float), as +-inf would make
        // inf - inf in the reduction; NaN passes (vminps and vmaxps return their
        // second operand when one is NaN). Without High, no upper clamp. With
        // Flush, arguments below low give 0 by a zeroing mask (NaN still
        // passes), and low keeps every other result normal: vscalefps takes a
        // microcode assist for a result below FLT_MIN (~150 cycles a batch on
        // Intel: a row of -inf logits ran 7x slower than finite ones).
        template <bool High, bool Flush = false, class B>
        XLOSS_ALWAYS_INLINE B exp_scalef(const B& x, float low, float high)
        {
            static_assert(std::is_same_v<scalar_t<B>, float> && B::size == 16, "float batches of 16");
            __m512 a = x;
            if constexpr (High)
            {
                a = _mm512_min_ps(_mm512_set1_ps(high), a);
            }
            a = _mm512_max_ps(_mm512_set1_ps(low), a);
            const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(1.44269504088896341f)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), a);
            r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
            __m512 p = _mm512_set1_ps(1.9875691500e-4f);
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
            p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
            if constexpr (Flush)
            {
                const __mmask16 kept = _mm512_cmp_ps_mask(x, _mm512_set1_ps(low), _CMP_NLT_UQ);
                return _mm512_maskz_scalef_ps(kept, p, k);
            }
            return _mm512_scalef_ps(p, k);
        }
#endif

        template <class T>
        XLOSS_ALWAYS_INLINE batch<T> exp(const batch<T>& x)
        {
#ifdef XLOSS_DETAIL_AVX512_BATCHES
            if constexpr (std::is_same_v<T, float> && width<T> == 16)
            {
                return exp_scalef<true>(x, -128.0f, 128.0f);
            }
            else
#endif
            {
                batch<T> arg = x;
                if constexpr (std::is_same_v<T, double>)
                {
                    const batch<T> limit(T(1000));
                    arg = xsimd::min(xsimd::max(xsimd::select(is_nan(x), batch<T>(T(0)), x), -limit), limit);
                }
                const batch<T> edge(std::is_same_v<T, double> ? T(708) : T(87));
                const auto outer = xsimd::abs(arg) > edge;
                batch<T> r = xsimd::any(outer) ? exp_beyond_edge(arg, outer) : xsimd::exp(arg);
                if constexpr (std::is_same_v<T, double>)
                {
                    r = xsimd::select(is_nan(x), x, r);
                }
                return r;
            }
        }

        // exp of an argument <= 0 (or NaN) whose result goes into a sum of at least
        // 1, as a softmax normaliser's terms do: float takes exp_scalef without
        // the upper clamp on AVX-512 (arguments below ln FLT_MIN flushed to 0),
        // and elsewhere xsimd's exp without the edge check above, so results
        // below FLT_MIN may read as 0, which such a sum cannot see; -inf gives 0 and
        // NaN stays NaN. The edge check's compare and branch are a real share of
        // a loop that does little else. Double: below.
        template <class T>
        XLOSS_ALWAYS_INLINE batch<T> exp_into_sum(const batch<T>& x)
        {
            if constexpr (std::is_same_v<T, float>)
            {
#ifdef XLOSS_DETAIL_AVX512_BATCHES
                if constexpr (width<T> == 16)
                {
                    return exp_scalef<false, true>(x, -87.3366f, 0.0f);  // ln of FLT_MIN, rounded down
                }
                else
#endif
                {
                    return xsimd::exp(x);
                }
            }
            else
            {
                // exp's clamps (xsimd's double exp converts to int64: no NaN
                // or huge argument may reach it), for arguments <= 0: to
                // [ln DBL_MIN, 0] (exp's edge check would take its slow path
                // beyond -708 for every batch of a row of -inf logits, and a
                // denormal result costs a microcode assist), and 0 below.
                // Positive arguments (unselected elements) give 1.
                const batch<T> zero(T(0));
                const batch<T> floor(T(-708.39641));  // ln of DBL_MIN, rounded up: exp stays normal
                const auto nan = is_nan(x);
                const batch<T> r = xsimd::exp(
                    xsimd::min(xsimd::max(xsimd::select(nan, zero, x), floor), zero));
                return xsimd::select(nan, x, xsimd::select(x < floor, zero, r));
            }
        }

        // log that is right for denormals. xsimd 8.1's double log is off by up
        // to ~33 below numeric_limits<double>::min() (float is right): scale such
        // inputs by 2^54 into the normal range and take 54 ln 2 back off.
        template <class T>
        XLOSS_NOINLINE batch<T> log_with_denormals(const batch<T>& x, const batch_bool<T>& denormal)
        {
            const batch<T> scaled = xsimd::select(denormal, x * batch<T>(T(18014398509481984.0)), x);  // 2^54
            const batch<T> r = xsimd::log(scaled);
            return xsimd::select(denormal, r - batch<T>(T(54) * T(0.69314718055994530942)), r);
        }

        template <class T>
        XLOSS_ALWAYS_INLINE batch<T> log(const batch<T>& x)
        {
            if constexpr (std::is_same_v<T, double>)
            {
                const auto denormal = xsimd::abs(x) < batch<T>(std::numeric_limits<T>::min())
                                      && not_equal(x, batch<T>(T(0)));
                if (xsimd::any(denormal))
                {
                    return log_with_denormals(x, denormal);
                }
            }
            return xsimd::log(x);
        }
#else
        // The scalar fallback: width 1, <cmath> math.
        template <class T>
        using batch = T;
        template <class T>
        using batch_bool = bool;

        template <class T>
        inline constexpr std::size_t width = 1;

        template <class B>
        using scalar_t = B;

        template <class T>
        T load(const T* p)
        {
            return *p;
        }

        template <class T>
        T load_aligned(const T* p)
        {
            return *p;
        }

        template <class T>
        void store(T* p, T v)
        {
            *p = v;
        }

        template <class T>
        void store_aligned(T* p, T v)
        {
            *p = v;
        }

        template <class T>
        T first_lane(T v)
        {
            return v;
        }

        template <class T>
        T load_first(const T* p, std::size_t count)
        {
            return count ? *p : T(0);
        }

        template <class T>
        void store_first(T* p, T v, std::size_t count)
        {
            if (count)
            {
                *p = v;
            }
        }

        template <class T>
        bool load_mask(const std::uint8_t* p)
        {
            return *p != 0;
        }

        template <class T>
        bool load_mask_first(const std::uint8_t* p, std::size_t count)
        {
            return count && *p != 0;
        }

        template <class T>
        bool first_lanes(std::size_t count)
        {
            return count > 0;
        }

        template <class T>
        T reduce_add(T v)
        {
            return v;
        }

        template <class T>
        T sum_rows(const T* rows)
        {
            return rows[0];
        }

        template <class T>
        T reduce_max(T v)
        {
            return v;
        }

        template <class T>
        T select(bool cond, T if_true, T if_false)
        {
            return cond ? if_true : if_false;
        }

        template <class T>
        bool not_equal(T a, T b)
        {
            return a != b;
        }

        template <class T>
        bool is_nan(T x)
        {
            return x != x;
        }

        // Written as comparisons, not std::fmax, to match the SIMD instructions
        // behind xsimd's max and min: with a NaN operand they return the second.
        template <class T>
        T max(T a, T b)
        {
            return a > b ? a : b;
        }

        template <class T>
        T min(T a, T b)
        {
            return a < b ? a : b;
        }

        template <class T>
        T abs(T x)
        {
            return std::fabs(x);
        }

        template <class T>
        T sqrt(T x)
        {
            return std::sqrt(x);
        }

        // a * b + c, fused where the compiler may (std::fma would be a library
        // call on an ISA without FMA).
        template <class T>
        T fma(T a, T b, T c)
        {
            return a * b + c;
        }

        template <class T>
        T log1p(T x)
        {
            return std::log1p(x);
        }

        template <class T>
        T expm1(T x)
        {
            return std::expm1(x);
        }

        inline bool any(bool b)
        {
            return b;
        }

        template <class T>
        T exp(T x)
        {
            return std::exp(x);
        }

        template <class T>
        T exp_into_sum(T x)
        {
            return std::exp(x);
        }

        template <class T>
        T log(T x)
        {
            return std::log(x);
        }
#endif

        // Asks for the cache line holding p to be brought into L2 (not L1: it is
        // for later, and L1 is busy with the data at hand). Only a hint: it never
        // faults, whatever p is. Always inlined: a function that only
        // prefetches has no effect GCC must keep, and calls to it are dropped.
        XLOSS_ALWAYS_INLINE void prefetch_l2(const void* p)
        {
#if defined(__GNUC__)
            __builtin_prefetch(p, 0, 2);
#else
            (void)p;
#endif
        }

        // Asks for the lines of [p, p + bytes) to be brought into every cache
        // level (they are the next data at hand). Only a hint; always inlined
        // (see prefetch_l2).
        XLOSS_ALWAYS_INLINE void prefetch_lines(const void* p, std::size_t bytes)
        {
#if defined(__GNUC__)
            const char* first = static_cast<const char*>(p);
            for (std::size_t b = 0; b < bytes; b += 64)
            {
                __builtin_prefetch(first + b);
            }
            if (bytes > 0)
            {
                __builtin_prefetch(first + bytes - 1);  // the last line, when p is not line-aligned
            }
#else
            (void)p;
            (void)bytes;
#endif
        }

        // Square blocks for transposing short rows into tiles (transfer() in
        // schedule.hpp) and for permuted copies (permute.hpp): B x B elements, one 16-byte register per block
        // row whatever the batch width, so that the same SSE2 code serves every x86-64 build: 4 x 4 floats, 2
        // x 2 doubles, 16 x 16 mask bytes (wider registers would save a few percent of a call: RESULTS.md). B
        // = 1: no block transpose (the scalar fallback, other CPUs).
        template <class V>
        inline constexpr std::size_t transpose_block =
#if !defined(XLOSS_NO_SIMD) && defined(__SSE2__)
            sizeof(V) == 1 || sizeof(V) == 4 || sizeof(V) == 8 ? 16 / sizeof(V) : 1;
#else
            1;
#endif

#if !defined(XLOSS_NO_SIMD) && defined(__SSE2__)
        // Interleaves the low (High: high) halves of a and b, element by element.
        template <std::size_t Size, bool High>
        XLOSS_ALWAYS_INLINE __m128i interleave(__m128i a, __m128i b)
        {
            if constexpr (Size == 1)
            {
                return High ? _mm_unpackhi_epi8(a, b) : _mm_unpacklo_epi8(a, b);
            }
            else if constexpr (Size == 4)
            {
                return High ? _mm_unpackhi_epi32(a, b) : _mm_unpacklo_epi32(a, b);
            }
            else
            {
                return High ? _mm_unpackhi_epi64(a, b) : _mm_unpacklo_epi64(a, b);
            }
        }

        // dst[j * dst_stride + i] = src[i * src_stride + j] for i, j < B, in
        // log2(B) rounds of interleaving register i with register i + B/2 into
        // registers 2i and 2i + 1. Each round moves the top bit of the element
        // position into the register number and the top bit of the register
        // number into the element position; after the last, register j is
        // column j.
        template <class V>
        XLOSS_ALWAYS_INLINE void transpose_square(const V* src,
                                                  std::size_t src_stride,
                                                  V* dst,
                                                  std::size_t dst_stride)
        {
            constexpr std::size_t B = transpose_block<V>;
            __m128i rows[B];
            __m128i next[B];
            for (std::size_t i = 0; i < B; ++i)
            {
                rows[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * src_stride));
            }
            for (std::size_t round = 1; round < B; round *= 2)
            {
                for (std::size_t i = 0; i < B / 2; ++i)
                {
                    next[2 * i] = interleave<sizeof(V), false>(rows[i], rows[i + B / 2]);
                    next[2 * i + 1] = interleave<sizeof(V), true>(rows[i], rows[i + B / 2]);
                }
                for (std::size_t i = 0; i < B; ++i)
                {
                    rows[i] = next[i];
                }
            }
            for (std::size_t j = 0; j < B; ++j)
            {
                _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j * dst_stride), rows[j]);
            }
        }
#else
        // Declared for transfer()'s discarded B > 1 branch; never defined.
        template <class V>
        void transpose_square(const V* src, std::size_t src_stride, V* dst, std::size_t dst_stride);
#endif
    }
XLOSS_NAMESPACE_END

#endif
