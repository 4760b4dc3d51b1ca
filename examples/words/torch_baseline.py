#!/usr/bin/python3
"""The words example's model in PyTorch, for the README's comparison.

Same data, split, model, optimiser and schedule as examples/words/words.cpp:
Debian's wamerican list, lower-cased, letters a-z only, de-duplicated,
sorted, shuffled by the same mt19937 Fisher-Yates shuffle (seed 42) and cut
80/10/10; the same bucketed padded batches (the same generator, seed + 2 for
the batches); Embedding(27, 16) -> GRU(16, 128) -> Linear(128, 27) with
PyTorch's default initialisation (which words.cpp copies); the loss
cross_entropy with padding labels -100 (ignore_index), i.e. the mean over
real positions that words.cpp computes with xloss and a where mask; Adam
(lr 5e-3, cosine decay to 0 per step), clip_grad_norm_(1.0), 6 epochs.

    /usr/bin/python3 examples/words/torch_baseline.py [--threads 2] [--epochs 6]

Not part of the tests. Prints per-epoch lines, the test loss and the mean
training seconds per epoch.
"""
import argparse
import math
import random
import time

import torch
import torch.nn.functional as F

BEGIN, END, PAD = 0, 26, -100
WORDS_FILE = "/usr/share/dict/american-english"


def mt19937(seed):
    """A random.Random whose getrandbits(32) is std::mt19937(seed)'s output.

    Python seeds its Mersenne Twister through init_by_array; the C++ standard
    fixes init_genrand, so the state is built here and installed directly.
    """
    state = [seed & 0xFFFFFFFF]
    for i in range(1, 624):
        prev = state[-1]
        state.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
    rng = random.Random()
    rng.setstate((3, tuple(state + [624]), None))
    return rng


def shuffle(order, rng):
    """examples/common/random.hpp's Fisher-Yates shuffle, step for step."""
    for i in range(len(order), 1, -1):
        j = rng.getrandbits(32) % i
        order[i - 1], order[j] = order[j], order[i - 1]


def read_words(path):
    words = set()
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            w = line.rstrip("\n").lower()
            # ASCII letters only, as words.cpp (str.lower would also fold 'É').
            if w and all("a" <= c <= "z" for c in w):
                words.add(w)
    return sorted(words)


def split_words(words, seed):
    order = list(range(len(words)))
    shuffle(order, mt19937(seed))
    n_train, n_val = len(words) * 8 // 10, len(words) // 10
    picked = [words[i] for i in order]
    return picked[:n_train], picked[n_train:n_train + n_val], picked[n_train + n_val:]


def make_batch(batch_words):
    """inputs [B, T] (<bow> + letters, padding reads <bow>), labels [B, T] (letters, <eow>, -100)."""
    steps = max(len(w) for w in batch_words) + 1
    inputs = torch.full((len(batch_words), steps), BEGIN, dtype=torch.long)
    labels = torch.full((len(batch_words), steps), PAD, dtype=torch.long)
    for b, w in enumerate(batch_words):
        codes = [ord(c) - ord("a") for c in w]
        inputs[b, 1:len(w) + 1] = torch.tensor([c + 1 for c in codes], dtype=torch.long)
        labels[b, :len(w) + 1] = torch.tensor(codes + [END], dtype=torch.long)
    return inputs, labels


def bucketed_batches(words, order, batch_size, bucket):
    run = batch_size * bucket
    for begin in range(0, len(order), run):
        order[begin:begin + run] = sorted(order[begin:begin + run], key=lambda i: len(words[i]))  # stable
    return [make_batch([words[i] for i in order[b:b + batch_size]]) for b in range(0, len(order), batch_size)]


def training_batches(words, batch_size, rng):
    order = list(range(len(words)))
    shuffle(order, rng)
    batches = bucketed_batches(words, order, batch_size, 32)
    batch_order = list(range(len(batches)))
    shuffle(batch_order, rng)
    return [batches[i] for i in batch_order]


class WordModel(torch.nn.Module):
    def __init__(self, embedding, hidden):
        super().__init__()
        self.embed = torch.nn.Embedding(27, embedding)
        self.gru = torch.nn.GRU(embedding, hidden, batch_first=True)
        self.out = torch.nn.Linear(hidden, 27)

    def forward(self, inputs):
        states, _ = self.gru(self.embed(inputs))
        return self.out(states)  # [B, T, 27]


def loss_of(model, inputs, labels, reduction="mean"):
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, 27), labels.reshape(-1), ignore_index=PAD, reduction=reduction)


@torch.no_grad()
def evaluate(model, batches):
    nats = sum(loss_of(model, x, y, "sum").item() for x, y in batches)
    positions = sum((y != PAD).sum().item() for _, y in batches)
    return nats / positions


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words-file", default=WORDS_FILE)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--embedding", type=int, default=16)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, validation, test = split_words(read_words(a.words_file), a.seed)
    print(f"words: {len(train)} train, {len(validation)} validation, {len(test)} test; "
          f"torch {torch.__version__}, {a.threads} threads")
    eval_batches = lambda ws: bucketed_batches(ws, list(range(len(ws))), 512, len(ws))
    validation_batches = eval_batches(validation)

    model = WordModel(a.embedding, a.hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps_per_epoch = math.ceil(len(train) / a.batch_size)
    total = a.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    batch_rng = mt19937(a.seed + 2)
    train_seconds = []
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        nats, positions = 0.0, 0
        model.train()
        for inputs, labels in training_batches(train, a.batch_size, batch_rng):
            loss = loss_of(model, inputs, labels)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            optimiser.step()
            schedule.step()
            n = (labels != PAD).sum().item()
            nats += loss.item() * n
            positions += n
        train_seconds.append(time.perf_counter() - start)
        model.eval()
        val = evaluate(model, validation_batches)
        print(f"epoch {epoch:2d}/{a.epochs}  train {nats / positions:.4f}  validation {val:.4f} nats/char  "
              f"{time.perf_counter() - start:5.2f} s (training {train_seconds[-1]:5.2f} s)", flush=True)
    print(f"\ntest loss: {evaluate(model, eval_batches(test)):.4f} nats/char")
    print(f"training: {sum(train_seconds) / len(train_seconds):.2f} s per epoch on average")


if __name__ == "__main__":
    main()
