#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_losses (fuzz/corpus/) in its input format.

Each input is a 24-byte header followed by a tail of value bytes:

  0 loss (mod the number of losses: an index into tests/catalogue.hpp's
    catalogue, whose order LOSSES below follows)
  1 rank (mod 5)          2-5 extents (b < 128: b % 9, else b % 41)
  6 x shape bits: 0-3 extent 1, 4-5 leading axes dropped, 6 extent += 2 (no broadcast)
  7 y shape bits: as x, 6-7 extent += 1; integer labels: mode (mod 5), bits 3+ extent 1
  8 axis kind (mod 8: default, int, int invalid, list, list invalid, list repeated,
    no_axes, all_axes)   9-10 axis parameters (list membership, order, signs)
 11 where kind (mod 6: none, input rank, batch rank, wrong rank, bad input shape,
    bad batch shape)  12 where extent-1 bits  13 density (mod 6; 5: bits of the tail)
 14 options: bit 0 passed, 1-3 epsilon / gamma, 4-6 alpha
 15 upstream: kind (mod 4: scalar, batch, broadcast, wrong), bits 2+ shape bits
 16 misc: bit 0 size_t labels, 1-2 fill mode, 3 poison masked-out inputs
 17 upstream parameter  18 label parameter  19 scale exponents (x: bits 0-2, y: 3-5)
 20-23 seed of the fill generator
 24- values (codes: 0 NaN, 1 inf, 2 -inf, 3-4 denormals, 5-6 +-1e30, 7 0, 8 -0,
     9 min, 10-11 +-1e4, 12 1e-30, 13 88.5, 14 1, 15 0.5; 16-135 k/119; 136-255
     (b - 196) / 6)

The byte format is decoded by fuzz/case.cpp (decode) and fuzz/model.cpp.

Run: python3 fuzz/make_corpus.py  (deterministic; rewrites fuzz/corpus/).
"""
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# One row per loss, in the catalogue's order (the loss byte is the index):
# its short name (the corpus file prefix), what its seed second input holds
# ("probs": values in [0, 1]; "logits": values in [-10, 10)), and whether it
# takes integer labels (byte 7 is then the label mode, not shape bits).
LOSSES = [
    ("sce", "probs", False),
    ("sce_int", "probs", True),
    ("kl", "probs", False),
    ("convex_kl", "probs", False),
    ("cos_sim", "logits", False),
    ("cos_dist", "probs", False),
    ("focal", "probs", False),
    ("squared_error", "logits", False),
    ("l2_loss", "logits", False),
    ("huber", "logits", False),
    ("log_cosh", "logits", False),
    ("kl_log_targets", "logits", False),
    ("poly", "probs", False),
    ("bce", "probs", False),
]
LOSS_ID = {name: i for i, (name, _, _) in enumerate(LOSSES)}


def header(loss, rank, ext, xb=0, yb=0, axis=0, a=0, b=0, mask=0, mask_ones=0, density=2, options=0,
           upstream=0, misc=0, up_param=0, label_param=0, scales=0, seed=1):
    ext = (list(ext) + [0, 0, 0, 0])[:4]
    h = [loss, rank] + ext + [xb, yb, axis, a, b, mask, mask_ones, density, options, upstream, misc,
                             up_param, label_param, scales]
    h += list(seed.to_bytes(4, "big"))
    assert len(h) == 24
    return bytes(v & 0xff for v in h)


def main():
    rng = random.Random(20261125)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    cases = {}
    probs = bytes(rng.randrange(16, 136) for _ in range(48))
    logits = bytes(rng.randrange(136, 256) for _ in range(48))
    specials = bytes(range(0, 16)) * 3
    for li, (name, second_kind, integer_labels) in enumerate(LOSSES):
        second = probs if second_kind == "probs" else logits
        # [2, 5], default axis, no mask.
        cases[f"{name}_basic"] = header(li, 2, [2, 5]) + logits[:10] + second[:10]
        # [3, 17] (past a SIMD width), int axis 0, input-rank mask, options.
        cases[f"{name}_axis0_mask"] = header(li, 2, [3, 17], axis=1, a=2, mask=1, density=2, options=3,
                                             seed=li + 7) + logits[:20]
        # [2, 3, 4, 5], axis list {3, 1} (non-adjacent), batch-rank mask, broadcast upstream.
        cases[f"{name}_list_batchmask"] = header(li, 4, [2, 3, 4, 5], axis=3, a=1, b=0b1010, mask=2,
                                                 density=3, upstream=2 | (0b01 << 2), seed=li + 11)
        # Specials everywhere, masked out with poison.
        cases[f"{name}_poison"] = header(li, 2, [4, 9], yb=0 if integer_labels else 0x01, axis=1,
                                         a=0xff, mask=1, density=1, misc=0b1000 | (3 << 1),
                                         upstream=1, up_param=1, seed=li + 13) + specials
        # Errors: bad axis, wrong mask rank, bad upstream.
        cases[f"{name}_bad_axis"] = header(li, 3, [2, 3, 4], axis=2, a=1) + logits[:8]
        cases[f"{name}_repeated_axis"] = header(li, 3, [2, 3, 4], axis=5, a=0x40, b=0b0101) + logits[:8]
        cases[f"{name}_wrong_mask_rank"] = header(li, 3, [2, 3, 4], axis=1, a=5, mask=3) + logits[:8]
        cases[f"{name}_bad_upstream"] = header(li, 2, [3, 4], axis=1, a=3, upstream=3) + logits[:8]
        # no_axes and all_axes, empty extents, rank 0.
        cases[f"{name}_no_axes"] = header(li, 3, [2, 1, 7], axis=6, mask=1, mask_ones=0b010) + logits[:14]
        cases[f"{name}_all_axes_rank0"] = header(li, 0, [], axis=7) + logits[:2]
        cases[f"{name}_empty"] = header(li, 2, [3, 0], axis=0, mask=2) + logits[:4]
        # Tiny and huge magnitudes (cosine's rescaled path, float overflow).
        cases[f"{name}_scaled"] = header(li, 2, [2, 33], scales=(4 | (6 << 3)), options=1, seed=li + 17)
    # Integer labels out of range, in a selected and in an unselected slice.
    sce_int = LOSS_ID["sce_int"]
    cases["sce_int_label_out_of_range"] = header(sce_int, 2, [4, 6], axis=1, a=0xff, label_param=0x80,
                                                 seed=5) + bytes([230, 225, 240, 255]) + logits[:20]
    cases["sce_int_size_t_labels"] = header(sce_int, 3, [2, 3, 5], axis=3, a=0, b=0b0110, misc=1,
                                            seed=9) + logits[:30]
    cases["sce_int_masked_label_slice"] = header(sce_int, 2, [5, 4], axis=1, a=0xff, mask=2, density=1,
                                                 label_param=0x80, seed=3) + bytes([255] * 8)
    cases["kl_zero_targets_neg_inf"] = header(LOSS_ID["kl"], 1, [8], axis=0) + bytes([2, 2, 7, 140, 150, 7, 2, 160]) \
        + bytes([16, 16, 135, 40, 16, 80, 16, 20])
    cases["cos_zero_vector"] = header(LOSS_ID["cos_sim"], 2, [2, 8], options=0) + bytes([7] * 16) + logits[:16]
    cases["focal_large_logits"] = header(LOSS_ID["focal"], 1, [16], options=1 | (3 << 1)) + bytes([5, 6, 10, 11, 13] * 3)
    # -inf log targets (code 2) against finite and -inf log-predictions, and
    # one finite target against a -inf log-prediction (+inf).
    cases["kl_log_targets_neg_inf_targets"] = header(LOSS_ID["kl_log_targets"], 2, [2, 8], axis=0, seed=21) \
        + bytes([140, 150, 2, 160, 170, 2, 180, 190, 2, 200, 210, 220, 230, 240, 2, 250]) \
        + bytes([2, 160, 2, 150, 2, 140, 200, 2, 2, 2, 2, 2, 150, 160, 2, 170])
    # -inf logits (code 2) on zero labels (code 7), +-1e4 logits (codes 10, 11),
    # Poly-1 style options bits (epsilon 4).
    cases["poly_neg_inf_large_logits"] = header(LOSS_ID["poly"], 2, [2, 9], options=1 | (7 << 1), seed=23) \
        + bytes([2, 10, 11, 150, 2, 160, 170, 180, 190, 11, 11, 10, 2, 2, 200, 210, 220, 230]) \
        + bytes([7, 60, 40, 20, 7, 30, 16, 16, 16, 80, 40, 20, 7, 7, 30, 60, 16, 16])
    # Binary cross entropy: hard labels (codes 7: 0, 14: 1) and soft ones
    # against +-inf (1, 2), +-1e4 (10, 11) and +-1e30 (5, 6) logits; weights
    # 0.25 and pos_weight 0.5 (options: alpha index 1, gamma index 3).
    bce = LOSS_ID["bce"]
    cases["bce_hard_labels_large_logits"] = header(bce, 2, [2, 8], options=1 | (3 << 1) | (1 << 4), seed=25) \
        + bytes([1, 2, 10, 11, 5, 6, 150, 200, 1, 2, 10, 11, 5, 6, 13, 7]) \
        + bytes([14, 7, 14, 7, 14, 7, 60, 14, 7, 14, 7, 14, 7, 14, 14, 7])
    cases["bce_weights_column_mask"] = header(bce, 2, [17, 5], axis=1, a=0, mask=1, density=2,
                                              options=1 | (6 << 1) | (4 << 4), seed=27) + logits[:30]
    cases["big_column"] = header(LOSS_ID["sce"], 3, [140, 130, 129], axis=1, a=1, mask=1, density=3, seed=99)
    for name, data in sorted(cases.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(cases)} inputs to {OUT}")


if __name__ == "__main__":
    main()
