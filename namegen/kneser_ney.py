"""An interpolated Kneser-Ney character n-gram, counted: the `ngram` plugin's network, and the
n-gram a gradient plugin mixes into its own (TrainConfig.ngram_mix, namegen.mixture).

The estimator is interpolated modified Kneser-Ney (Chen & Goodman 1998): at each order, the
counts of the n-grams seen are reduced by an absolute discount D1, D2 or D3+ (for counts 1, 2,
and 3 or more, estimated from that order's counts-of-counts), and the mass taken off goes to the
next lower order, whose counts are continuation counts (how many different characters precede
the n-gram) rather than raw counts. The lowest order interpolates with a uniform distribution,
so every token has some probability in every context.

The start of a name is one event, as KenLM treats its <s>: contexts arrive left-padded with the
boundary token, and a context that starts with two boundary tokens says no more than the same
context with one, so it never gets a row of its own; an n-gram that starts at the boundary has
nothing before it, so it keeps its raw count at every order.

The network is sparse: only contexts seen in training have a row (for order 6 on the 25,626
training names of names.txt, 59K rows, not 27**5 = 14M), kept in a trie, and a context reads
the row of its longest suffix that has one, which is exactly the model's back-off for an unseen
context. So any order exports: the ONNX sampler tabulates the network when V**(order - 1) <=
65,536 and runs it in its loop otherwise, as for any plugin.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import NamegenError

# KenLM's, for an order whose counts-of-counts give no valid discounts: tiny data, or the shortest
# contexts' continuation counts (27 tokens, each preceded by many characters: no count of 1)
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def estimate_discounts(counts: np.ndarray) -> tuple[float, float, float]:
    """D1, D2, D3+ from the counts-of-counts n1..n4 (Chen & Goodman, eq. 26), or the fallback
    where they do not give 0 < Dc <= c (a discount of 0 would leave unseen tokens no mass)."""
    n1, n2, n3, n4 = (int((counts == c).sum()) for c in (1, 2, 3, 4))
    if n1 == 0 or n2 == 0 or n3 == 0:
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    discounts = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < d <= c for c, d in enumerate(discounts, start=1)):
        return FALLBACK_DISCOUNTS
    return discounts


def adjusted_counts(contexts: np.ndarray, targets: np.ndarray, vocab_size: int, order: int) -> list:
    """Per context length k = 0 .. order - 1, the n-grams that get counted there and their
    counts: raw counts for the longest and for those at the start of a name, continuation counts
    for the rest. An n-gram is one base-V number: its context's tokens (oldest most significant),
    then the next token; `contexts` are the last block_size tokens, left-padded with 0."""
    V, top = vocab_size, order - 1
    grams = np.zeros(len(targets), np.int64)
    for column in range(contexts.shape[1] - top, contexts.shape[1]):
        grams = grams * V + contexts[:, column]
    grams, raw = np.unique(grams * V + targets, return_counts=True)
    levels = [None] * order
    for k in range(top, -1, -1):
        if k < top:  # the n-grams one token shorter are the suffixes of the longer ones
            grams, longer = np.unique(grams % V ** (k + 1), return_inverse=True)
            continuation = np.bincount(longer, minlength=len(grams))  # how many characters precede each
            raw = np.bincount(longer, weights=raw, minlength=len(grams)).astype(np.int64)
        context, no_token = grams // V, np.full(len(grams), -1)
        first = context // V ** (k - 1) if k >= 1 else no_token  # the context's oldest token
        second = context // V ** (k - 2) % V if k >= 2 else no_token
        counts = raw if k == top else np.where(first == 0, raw, continuation)
        repeat = (first == 0) & (second == 0)  # two boundary tokens: the same event as the context with one
        levels[k] = (grams[~repeat], counts[~repeat])
    return levels


def kneser_ney(contexts: np.ndarray, targets: np.ndarray, vocab_size: int, order: int):
    """The model of the (context, next) pairs: next-token probabilities float64 [rows, V] of every
    context seen (row 0 the empty context, then level by level), the trie int32 [rows below the
    longest contexts, V] (trie[r, t] is the row of token t + row r's context, or -1), and the
    discounts D1, D2, D3+ of each context length."""
    V = vocab_size
    rows, parents, oldest, discounts = [], [], [], []
    lower_contexts, lower_rows = np.zeros(1, np.int64), np.full((1, V), 1.0 / V)  # below the shortest: uniform
    first = lower_first = 0  # the row numbers of this level's first row and of the level below's
    for k, (grams, counts) in enumerate(adjusted_counts(contexts, targets, V, order)):
        numbers, row_of = np.unique(grams // V, return_inverse=True)  # this level's contexts, sorted
        level_discounts = estimate_discounts(counts)
        discount = np.asarray(level_discounts)[np.minimum(counts, 3) - 1]
        total = np.bincount(row_of, weights=counts, minlength=len(numbers))
        taken = np.bincount(row_of, weights=discount, minlength=len(numbers))
        # Each row interpolates with the row of its context without the oldest token, which was
        # seen one level down (a suffix of a seen context is seen; the data are padded names).
        shorter = numbers % V ** (k - 1) if k >= 1 else np.zeros(len(numbers), np.int64)
        parent = np.searchsorted(lower_contexts, shorter)
        assert np.array_equal(lower_contexts[np.minimum(parent, len(lower_contexts) - 1)], shorter)
        level_rows = taken[:, None] * lower_rows[parent]
        level_rows[row_of, grams % V] += counts - discount  # each (row, token) once
        level_rows /= total[:, None]
        if k >= 1:
            parents.append(lower_first + parent)
            oldest.append(numbers // V ** (k - 1))
        lower_first, first = first, first + len(numbers)
        rows.append(level_rows)
        discounts.append([round(d, 6) for d in level_discounts])
        lower_contexts, lower_rows = numbers, level_rows
    rows = np.concatenate(rows)
    trie = np.full((len(rows) - len(lower_rows), V), -1, np.int32)  # the longest contexts have no children
    if parents:
        trie[np.concatenate(parents), np.concatenate(oldest)] = np.arange(1, len(rows), dtype=np.int32)
    return rows, trie, discounts


class NgramNetwork(torch.nn.Module):
    """log P(next | context) from the row of the longest suffix of the context seen in training,
    found by walking the trie from the empty context, one older token at a time."""

    def __init__(self, vocab_size: int, order: int):
        super().__init__()
        self.vocab_size, self.order = vocab_size, order
        self.block_size = max(order - 1, 1)  # order 1 ignores its context, but every network reads one token
        # Sized at fit. Row 0 is the empty context, the end of every back-off.
        self.register_buffer("log_probs", torch.zeros(1, vocab_size))
        if order > 1:  # order 1 has one row and nothing to walk (and ONNX keeps no unused tensor)
            self.register_buffer("trie", torch.full((1, vocab_size), -1, dtype=torch.int32))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        row = context[:, -1] * 0  # the empty context
        going = row == 0
        for length in range(1, self.order):
            # the context one token longer, if it was seen; once one is unseen, so is every longer one
            entry = torch.where(going, row * self.vocab_size + context[:, -length], 0)
            child = self.trie.reshape(-1).index_select(0, entry).long()  # 1-D gathers: twice as fast as 2-D indexing
            going = going & (child >= 0)
            row = torch.where(going, child, row)
        return self.log_probs.index_select(0, row)

    @torch.no_grad()
    def transitions(self) -> torch.Tensor:
        """int32 [rows, V]: the row that the context of row r followed by token t reads, for every
        r and t. The longest seen suffix of a context plus t is the longest seen suffix of (the
        context's own longest seen suffix) plus t (a seen context's prefixes are seen), so a
        network that carries the row of its history moves on by one lookup, not a trie walk."""
        V, rows, k = self.vocab_size, len(self.log_probs), self.order - 1
        if k == 0:
            return torch.zeros(rows, V, dtype=torch.int32)
        # Each row's context (oldest token first, right-aligned in k columns) and its length, from the trie:
        # trie[r, t] is the row of t + context(r), and rows come level by level.
        child = self.trie.reshape(-1).long()
        seen = child >= 0
        parent, token, child = torch.arange(len(child))[seen] // V, torch.arange(len(child))[seen] % V, child[seen]
        contexts, depth = torch.zeros(rows, k, dtype=torch.long), torch.zeros(rows, dtype=torch.long)
        for _ in range(k):  # each pass fixes one more level
            grown = contexts[parent].clone()
            grown[torch.arange(len(parent)), k - 1 - depth[parent]] = token
            contexts[child], depth[child] = grown, depth[parent] + 1
        # Walk the trie for context(r) + t, never further back than that context reaches.
        windows = torch.cat([contexts.repeat_interleave(V, dim=0), torch.arange(V).repeat(rows)[:, None]], dim=1)
        reach = (depth + 1).clamp(max=k).repeat_interleave(V)
        row, going = torch.zeros(rows * V, dtype=torch.long), torch.ones(rows * V, dtype=torch.bool)
        trie = self.trie.reshape(-1).long()
        for length in range(1, k + 1):
            going = going & (length <= reach)
            found = trie[torch.where(going, row * V + windows[:, -length], 0)]
            going = going & (found >= 0)
            row = torch.where(going, found, row)
        return row.reshape(rows, V).int()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        check_stored_order(state_dict, prefix, self.order, "order")
        take_stored_rows(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def check_stored_order(state_dict: dict, prefix: str, order: int, field: str) -> None:
    """Raise a NamegenError when the tables a checkpoint holds under `prefix` are not those of an
    n-gram of `order` (the config's `field`). Their sizes are learned at fit, so loading accepts
    any number of rows: a 6-gram's tables read as a 5-gram would load, and score otherwise. The
    trie tells the order: its deepest context, and the rows that must have children."""
    trie, log_probs = state_dict.get(prefix + "trie"), state_dict.get(prefix + "log_probs")
    if trie is None or log_probs is None or trie.dim() != 2 or log_probs.dim() != 2:
        return  # no trie (order 1) or another layout: the strict key and shape check says what is wrong
    rows, children = len(log_probs), trie.long()
    if len(children) > rows or bool(((children < -1) | (children >= rows)).any()):
        raise NamegenError(f"the {field} n-gram's trie points outside its tables")
    depth, level, frontier = 0, torch.full((rows,), -1), torch.zeros(1, dtype=torch.long)
    level[0] = 0
    while True:  # breadth first from the empty context, one context length a pass
        kids = children[frontier[frontier < len(children)]].reshape(-1)
        kids = kids[kids >= 0]
        if not len(kids):
            break
        if bool((level[kids] >= 0).any()):
            raise NamegenError(f"the {field} n-gram's trie is damaged (a context is reached twice)")
        depth += 1
        level[kids], frontier = depth, kids
    if bool((level < 0).any()):
        raise NamegenError(f"the {field} n-gram's trie is damaged (a context is not reached)")
    # An n-gram of `order` keeps contexts of up to order - 1 tokens, and a trie row for each
    # shorter one (a short-names n-gram may lack the longest: a lower-order trie of the same rows).
    if depth > order - 1 or len(children) < int((level < order - 1).sum()):
        raise NamegenError(f"{field} is {order} but the weights hold a {depth + 1}-gram")


def take_stored_rows(module: torch.nn.Module, state_dict: dict, prefix: str) -> None:
    """Size `module`'s own buffers to the rows the checkpoint holds, before torch copies the values
    in: the number of rows is learned at fit (the other sizes stay the module's, so a checkpoint
    for another vocabulary still fails to load)."""
    for name, buffer in list(module._buffers.items()):
        stored = state_dict.get(prefix + name)
        if buffer is not None and stored is not None and stored.dim() == buffer.dim():
            setattr(module, name, buffer.new_zeros((len(stored), *buffer.shape[1:])))


def check_order(vocab_size: int, order: int) -> None:
    """An n-gram is counted as one int64 base-V number: a clear error where it would overflow."""
    if vocab_size**order >= 2**63:
        highest = next(n for n in range(1, order) if vocab_size ** (n + 1) >= 2**63)
        raise NamegenError(f"order {order} is too high for a vocabulary of {vocab_size} tokens "
                           f"(its n-grams would overflow int64); use order <= {highest}")


def count(network: NgramNetwork, contexts: torch.Tensor, targets: torch.Tensor) -> dict:
    """Fill `network` with the model of the (context, next) pairs; returns a summary."""
    check_order(network.vocab_size, network.order)
    probs, trie, discounts = kneser_ney(contexts.numpy(), targets.numpy(), network.vocab_size, network.order)
    network.log_probs = torch.from_numpy(np.log(probs)).float()
    if network.order > 1:
        network.trie = torch.from_numpy(trie)
    return {"method": "counting (interpolated modified Kneser-Ney)", "contexts": len(probs),
            "discounts": discounts}  # D1, D2, D3+ per context length 0 .. order - 1
