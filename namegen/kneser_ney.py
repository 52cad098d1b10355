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
context. It stores less still, as ARPA files do: the n-grams seen (118K there) and a back-off
weight per context, log values in one byte each (`NgramNetwork`). So any order exports: the ONNX sampler tabulates the network when V**(order - 1) <=
65,536 and runs it in its loop otherwise, as for any plugin.
"""

from __future__ import annotations

import re

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
    """The model of the (context, next) pairs, level by level (context length k = 0 .. order - 1),
    as an ARPA file holds it: per level, its contexts (rows, sorted by their base-V number, so by
    their oldest token first) with `parent` (the row one level down of the context without its
    oldest token), `oldest` (how many rows each token is the oldest of: V numbers), `backoff`
    (log of the weight of the parent's distribution in this row's) and `count`
    (how many tokens were seen after it), and its seen n-grams, grouped by row, with `token` and
    `value` (log p). Every other log p(t | row) is backoff(row) + log p(t | parent); the empty
    context's row lists every token. Returns the levels and the discounts D1, D2, D3+
    of each context length. float64 throughout."""
    V = vocab_size
    levels, discounts = [], []
    lower_contexts, lower_rows = np.zeros(1, np.int64), np.full((1, V), 1.0 / V)  # below the shortest: uniform
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
        if k == 0:  # the empty context: every token, so that the tables' width is the vocabulary's
            row_of, grams, counts = np.zeros(V, np.int64), np.arange(V), np.zeros(V)
        levels.append({  # grams come sorted by number: by row, then token
            "parent": parent, "oldest": np.bincount(numbers // V ** (k - 1), minlength=V) if k >= 1 else np.zeros(V, np.int64),
            "backoff": np.log(taken / total), "count": np.bincount(row_of, minlength=len(numbers)),
            "token": grams % V, "value": np.log(level_rows[row_of, grams % V])})
        discounts.append([round(d, 6) for d in level_discounts])
        lower_contexts, lower_rows = numbers, level_rows
    return levels, discounts


CODES = 256  # quantised log-probabilities and back-off weights: one byte each, a codebook per level and kind


def quantise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 codes and a float32 codebook of CODES entries for `values`, KenLM's binning: sorted,
    cut into CODES bins of equal counts, each bin's mean its value. Where there are no more
    distinct values than codes, the codebook holds them all (exact)."""
    codebook = np.zeros(CODES, np.float32)
    distinct, inverse = np.unique(values.astype(np.float32), return_inverse=True)
    if len(distinct) <= CODES:
        codebook[: len(distinct)] = distinct
        return inverse.astype(np.uint8), codebook
    order = np.argsort(values, kind="stable")
    sizes = np.full(CODES, len(values) // CODES) + (np.arange(CODES) < len(values) % CODES)  # np.array_split's bins
    codes = np.empty(len(values), np.uint8)
    codes[order] = np.repeat(np.arange(CODES), sizes)
    codebook[:] = np.add.reduceat(values[order], np.cumsum(sizes) - sizes) / sizes
    return codes, codebook


def widened(stored: torch.Tensor) -> torch.Tensor:
    """Indices a checkpoint of format 3 stored in the narrowest integer type, back as int64 (int16
    held 0 .. 65,535 as two's complement: torch.onnx cannot trace uint16)."""
    wide = stored.long()
    return wide & 0xFFFF if stored.dtype == torch.int16 else wide


def filled(anchor: torch.Tensor, value, size: int) -> torch.Tensor:
    """A 1-D tensor of `size` copies of `value`, in anchor's dtype. Derived from `anchor` (a
    non-empty buffer) so that torch.onnx traces an Expand: a tensor made from constants alone
    (torch.full, ones_like) is traced as a constant and would be stored in the file."""
    return (anchor.reshape(-1)[:1] * 0 + value).expand(size)


def counting(anchor: torch.Tensor, size: int, start: int = 0) -> torch.Tensor:
    """int64 start, start + 1, .. (`size` of them), traced as a CumSum, not a stored constant."""
    return filled(anchor.long(), 1, size).cumsum(0) + (start - 1)


COMPACT = ("key", "backoff", "gram", "value")  # per level k >= 1, buffers `<kind><k>`
CODEBOOKS = ("backoff_codebook", "value_codebook")  # float32 [order - 1 and order, CODES], where quantised


def vocabulary_wide(name: str) -> bool:
    """The compact buffers of V numbers whatever the data (their shape is the module's)."""
    return name == "value0"


def gap_codes(keys: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Strictly increasing non-negative keys, packed: a header byte, the code width `bits` (1 to
    8; by default the one that packs them smallest), then each key's distance from the one
    before (from -1 for the first) as codes of that width, little-endian bit after bit: as many
    codes of 2**bits - 1 as fit, then the rest. A level's contexts and n-grams come sorted, so
    their keys step up by little: 2 to 5 bits a key where an index took 8 to 16."""
    gaps = np.diff(np.asarray(keys, np.int64), prepend=-1)
    if bits is None:
        bits = min(range(1, 9), key=lambda b: int((gaps // (2**b - 1) + 1).sum()) * b)
    full, rest = np.divmod(gaps, 2**bits - 1)
    codes = np.full(int((full + 1).sum()), 2**bits - 1, np.int64)
    codes[np.cumsum(full + 1) - 1] = rest
    stream = ((codes[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.concatenate([[bits], np.packbits(stream, bitorder="little")]).astype(np.uint8)


def keys_of(packed: torch.Tensor, size: int) -> torch.Tensor:
    """The first `size` keys of `gap_codes`, int64: integer arithmetic and a cumulative sum, the
    same in every runtime. The width is read here, so an export holds it as a constant; the keys
    are scattered into place, not selected with a mask: onnxruntime folds a scatter into a
    constant when it loads the file, not a NonZero. Codes past the last key's (the last byte's
    spare bits) go to a spare slot."""
    if not size or len(packed) < 2:
        return packed[:0].long()
    bits = int(packed[0])
    data = torch.cat([packed[1:].long(), filled(packed.long(), 0, 1)])  # a 0 after the last byte: every code reads two
    at = counting(packed, (len(packed) - 1) * 8 // bits) * bits  # each code's first bit
    powers = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128])
    pairs = data.index_select(0, at // 8) + data.index_select(0, at // 8 + 1) * 256
    codes = pairs // powers.index_select(0, at % 8) % 2**bits
    ends = codes < 2**bits - 1
    place = torch.where(ends, ends.long().cumsum(0) - 1, size).clamp(max=size)
    return filled(codes, 0, size + 1).scatter(0, place, codes.cumsum(0) - 1)[:size]


def ends_of(packed: torch.Tensor) -> int:
    """How many keys `gap_codes` packed (spare bits may end a few more: `check_compact` reads
    only as many as the level's other tensors say)."""
    if not len(packed) or not 1 <= int(packed[0]) <= 8:
        return -1
    bits = int(packed[0])  # a level with no keys (names shorter than the order) is this byte alone
    stream = np.unpackbits(packed[1:].numpy(), bitorder="little")
    codes = stream[: len(stream) // bits * bits].reshape(-1, bits) @ (1 << np.arange(bits))
    return int((codes < 2**bits - 1).sum())


def compact_names(order: int) -> list[str]:
    """The compact buffers of an n-gram of `order`: the empty context's row, then each level's."""
    return ["value0"] + [f"{kind}{k}" for k in range(1, order) for kind in COMPACT]


class NgramNetwork(torch.nn.Module):
    """log P(next | context) from the row of the longest suffix of the context seen in training,
    found by walking the trie from the empty context, one older token at a time.

    Stored (the state_dict): `kneser_ney`'s levels, compact: `value0`, the empty context's V
    log-probabilities, then per level k >= 1 `key<k>` (each row's oldest token x rows of level
    k - 1 + its parent), `backoff<k>`, `gram<k>` (each seen n-gram's row x V + token) and
    `value<k>`; keys packed by `gap_codes`, log values as uint8 codes
    into `backoff_codebook[k]`, `value_codebook[k]` (float32 where not quantised). The dense tables the network reads, `log_probs` float32
    [rows, V] and `trie` (and with `steps`, `transitions`), are rebuilt from them at fit and load,
    not stored. The rebuild adds float32s and nothing else (no exp or log, whose results differ
    between runtimes' maths libraries), so torch, onnxruntime and onnxruntime-web rebuild the
    same bits: an ONNX export computes the tables in its graph from the compact tensors, which
    onnxruntime folds into constants when it loads the file.
    """

    def __init__(self, vocab_size: int, order: int, steps: bool = False):
        super().__init__()
        self.vocab_size, self.order, self.steps = vocab_size, order, steps
        self.block_size = max(order - 1, 1)  # order 1 ignores its context, but every network reads one token
        self.dense = False  # a checkpoint of format 2 stores the dense tables themselves (loaded as they are)
        for name in compact_names(order):  # sized at fit (no rows but the empty context until then)
            self.register_buffer(name, torch.zeros(vocab_size if vocabulary_wide(name) else 0, dtype=torch.uint8))
        self.register_buffer("value_codebook", torch.zeros(order, CODES))  # dropped where not quantised
        if order > 1:  # back-off weights start at level 1 (and ONNX keeps no unused tensor)
            self.register_buffer("backoff_codebook", torch.zeros(order - 1, CODES))
        self.register_buffer("log_probs", torch.zeros(1, vocab_size), persistent=False)
        if order > 1:  # order 1 has one row and nothing to walk
            self.register_buffer("trie", torch.full((1, vocab_size), -1, dtype=torch.int32), persistent=False)
        if steps:
            self.register_buffer("transitions", torch.zeros(1, vocab_size, dtype=torch.int32), persistent=False)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        log_probs, trie = self.log_probs, getattr(self, "trie", None)
        if torch.onnx.is_in_onnx_export() and not self.dense:
            log_probs, trie = self.tables()[:2]  # in the graph, from the compact tensors: folded at load
        row = context[:, -1] * 0  # the empty context
        going = row == 0
        for length in range(1, self.order):
            # the context one token longer, if it was seen; once one is unseen, so is every longer one
            entry = torch.where(going, row * self.vocab_size + context[:, -length], 0)
            child = trie.reshape(-1).index_select(0, entry).long()  # 1-D gathers: twice as fast as 2-D indexing
            going = going & (child >= 0)
            row = torch.where(going, child, row)
        return log_probs.index_select(0, row)

    def step_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(log_probs, transitions), for a step form: the buffers, or in an ONNX export the graph
        that rebuilds them."""
        if torch.onnx.is_in_onnx_export() and not self.dense:
            log_probs, _, transitions = self.tables(with_transitions=True)
            return log_probs, transitions
        return self.log_probs, self.transitions

    def level_sizes(self) -> list[int]:
        return [1] + [len(getattr(self, f"backoff{k}")) for k in range(1, self.order)]

    def decoded(self, kind: str, k: int) -> torch.Tensor:
        stored = getattr(self, f"{kind}{k}")
        if stored.is_floating_point():
            return stored.float()
        codebook = self.value_codebook[k] if kind == "value" else self.backoff_codebook[k - 1]
        return codebook.float().index_select(0, stored.long())

    def tables(self, with_transitions: bool = False):
        """log_probs float32 [rows, V] (rows level by level, row 0 the empty context), the trie
        int64 [rows below the longest contexts, V] (trie[r, t]: the row of t + context(r), or -1;
        None for order 1) and, if asked, the transitions int64 [rows, V]: the row that context(r)
        followed by t reads, so that a step form carrying the row of its history moves on by one
        lookup, not a trie walk. From the compact tensors; float32 additions only, so every
        runtime gets the same bits."""
        V, sizes = self.vocab_size, self.level_sizes()
        anchor = self.value0  # never empty: the empty context's row
        firsts = [sum(sizes[:k]) for k in range(self.order)]
        dtype = self.value0.dtype if self.value0.is_floating_point() else self.value_codebook.dtype
        below = self.decoded("value", 0)[None, :]
        tables, parents, oldest = [below], [filled(anchor.long(), 0, 1)], [None]
        for k, size in enumerate(sizes[1:], start=1):
            if not size:  # names shorter than the order leave the longest contexts unseen
                break
            keys = self.keys(k)
            parent = keys % sizes[k - 1]
            oldest.append(keys // sizes[k - 1])
            table = self.decoded("backoff", k)[:, None] + below.index_select(0, parent)
            grams = keys_of(getattr(self, f"gram{k}"), len(getattr(self, f"value{k}")))  # row x V + token: its place in the table
            table = table.reshape(-1).scatter(0, grams, self.decoded("value", k)).reshape(size, V)
            tables.append(table)
            parents.append(parent)
            below = table
        log_probs = torch.cat(tables).to(dtype)
        if self.order == 1:
            return log_probs, None, filled(anchor.long(), 0, V)[None, :] if with_transitions else None
        rows = sum(sizes)
        links = rows - len(tables[-1]) if len(tables) == self.order else rows  # the longest contexts have no children
        trie = filled(anchor.long(), -1, links * V)
        for k in range(1, len(tables)):
            entry = (parents[k] + firsts[k - 1]) * V + oldest[k]
            trie = trie.scatter(0, entry, counting(anchor, sizes[k], firsts[k]))
        if not with_transitions:
            return log_probs, trie.reshape(links, V), None
        # Each row's context minus its newest token (`prefix`, a row: a seen context's prefixes
        # are seen) and that newest token, level by level from the trie; then `forward[p, t]`
        # is the row of context(p) + t where that was seen.
        prefix, newest = [None, filled(anchor.long(), 0, sizes[1])], [None, oldest[1]]
        for k in range(2, len(tables)):
            prefix.append(trie.index_select(0, prefix[k - 1].index_select(0, parents[k]) * V + oldest[k]))
            newest.append(newest[k - 1].index_select(0, parents[k]))
        forward = filled(anchor.long(), -1, rows * V).scatter(0, torch.cat(prefix[1:]) * V + torch.cat(newest[1:]), counting(anchor, rows - 1, 1))
        forward = forward.reshape(rows, V)
        # The longest seen suffix of context(r) + t is that row where it was seen, else the
        # longest seen suffix of context(parent(r)) + t (one level down: computed already).
        steps = [torch.where(forward[:1] >= 0, forward[:1], 0)]
        for k in range(1, len(tables)):
            level = forward[firsts[k] : firsts[k] + sizes[k]]
            steps.append(torch.where(level >= 0, level, steps[k - 1].index_select(0, parents[k])))
        return log_probs, trie.reshape(links, V), torch.cat(steps)

    def keys(self, k: int) -> torch.Tensor:
        """Level k's row keys: oldest token x rows of level k - 1 + parent."""
        return keys_of(getattr(self, f"key{k}"), self.level_sizes()[k])

    @torch.no_grad()
    def rebuild(self) -> None:
        """The dense tables from the compact tensors, after a fit or a load."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # memory-bound ops of a few MB: on a busy 2-core machine a second thread made it 3x slower
        try:
            log_probs, trie, transitions = self.tables(with_transitions=self.steps)
        finally:
            torch.set_num_threads(threads)
        self.log_probs = log_probs
        if trie is not None:
            self.trie = trie.int()
        if self.steps:
            self.transitions = transitions.int()

    @torch.no_grad()
    def store(self, levels: list[dict], quantised: bool = True) -> None:
        """Keep `kneser_ney`'s levels as the compact tensors (log values quantised to one byte each,
        or float32) and rebuild the tables from them: the model is the stored one, exactly."""
        for k, level in enumerate(levels):
            if k:
                oldest = np.repeat(np.arange(self.vocab_size), level["oldest"])
                setattr(self, f"key{k}", torch.from_numpy(gap_codes(oldest * len(levels[k - 1]["count"]) + level["parent"])))
                row = np.repeat(np.arange(len(level["count"])), level["count"])
                setattr(self, f"gram{k}", torch.from_numpy(gap_codes(row * self.vocab_size + level["token"])))
            for kind in ("backoff", "value") if k else ("value",):
                if quantised:
                    codes, codebook = quantise(level[kind])
                    setattr(self, f"{kind}{k}", torch.from_numpy(codes))
                    (self.value_codebook[k] if kind == "value" else self.backoff_codebook[k - 1]).copy_(torch.from_numpy(codebook))
                else:
                    setattr(self, f"{kind}{k}", torch.from_numpy(level[kind].astype(np.float32)))
        if not quantised:
            self.drop_codebooks()
        self.rebuild()

    def drop_codebooks(self) -> None:
        for name in CODEBOOKS:
            self._buffers.pop(name, None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        check_stored_order(state_dict, prefix, self.order, "order", self.vocab_size)
        if prefix + "log_probs" in state_dict:  # format 2: the dense tables themselves
            self.use_dense_tables()
        else:
            take_stored_layout(self, state_dict, prefix)
            stored = state_dict.get(prefix + "value0")
            if stored is not None and stored.is_floating_point():  # not quantised: no codebooks
                self.drop_codebooks()
        take_stored_rows(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if not self.dense and all(prefix + name in state_dict for name in self.state_dict()):
            self.rebuild()

    def use_dense_tables(self) -> None:
        """Store the dense tables (as checkpoints of format 2 did) instead of the compact ones."""
        for name in [n for n in self._buffers if n not in ("log_probs", "trie", "transitions")]:
            del self._buffers[name]
        self.dense = True
        self._non_persistent_buffers_set -= {"log_probs", "trie"}


def check_stored_order(state_dict: dict, prefix: str, order: int, field: str, vocab_size: int) -> None:
    """Raise a NamegenError when the tables a checkpoint holds under `prefix` are not those of an
    n-gram of `order` (the config's `field`), or do not hold together. Their sizes are learned at
    fit, so loading accepts any number of rows: a 6-gram's tables read as a 5-gram would load,
    and score otherwise. The compact layout holds one set of tensors per level; the dense one of
    format 2 tells the order by its trie: its deepest context, and the rows that must have children."""
    if prefix + "log_probs" not in state_dict:
        upgrade_format3(state_dict, prefix, vocab_size)
        levels = [int(m.group(1)) for key in state_dict if key.startswith(prefix)
                  and (m := re.fullmatch(r"value(\d+)", key[len(prefix):]))]
        if levels and max(levels) + 1 != order:
            raise NamegenError(f"{field} is {order} but the weights hold a {max(levels) + 1}-gram")
        check_compact(state_dict, prefix, order, field, vocab_size)
        return
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


def upgrade_format3(state_dict: dict, prefix: str, vocab_size: int) -> None:
    """A checkpoint of format 3 stores each level's parents, its rows per oldest token, and each
    row's n-gram count and tokens (`parent<k>`, `oldest<k>`, `count<k>`, `token<k>`, narrowest
    integers): turn them into the `key<k>` and `gram<k>` codes, in place. Damaged ones become
    tensors that `check_compact` rejects."""
    above, k = 1, 1
    legacy = ("parent", "oldest", "count", "token")
    while all(prefix + f"{kind}{k}" in state_dict for kind in legacy):
        parent, groups, count, token = (widened(state_dict.pop(prefix + f"{kind}{k}")) for kind in legacy)
        for kind, (numbers, width) in {"key": (groups, above), "gram": (count, vocab_size)}.items():
            try:
                keys = torch.repeat_interleave(torch.arange(len(numbers)), numbers) * width + (parent if kind == "key" else token)
                ordered = bool((keys.diff() > 0).all()) and (not len(keys) or int(keys[0]) >= 0)
            except RuntimeError:  # the numbers do not add up to the parents or tokens
                ordered = False
            state_dict[prefix + f"{kind}{k}"] = torch.from_numpy(gap_codes(keys.numpy())) if ordered else torch.zeros(0, dtype=torch.int32)
        above, k = len(count), k + 1


def take_stored_rows(module: torch.nn.Module, state_dict: dict, prefix: str) -> None:
    """Size `module`'s own buffers to the rows the checkpoint holds, before torch copies the values
    in: the number of rows is learned at fit (the other sizes stay the module's, so a checkpoint
    for another vocabulary still fails to load)."""
    for name, buffer in list(module._buffers.items()):
        stored = state_dict.get(prefix + name)
        if buffer is not None and stored is not None and stored.dim() == buffer.dim():
            setattr(module, name, buffer.new_zeros((len(stored), *buffer.shape[1:])))


def check_compact(state_dict: dict, prefix: str, order: int, field: str, vocab_size: int) -> None:
    """The compact tensors hold together: the types `store` writes, one row at level 0, every
    parent a row of the level below, every context and every seen n-gram once (both come sorted),
    as many of each as the back-off weights and values say. Where a tensor is missing, the
    strict key check says so."""
    def damaged(why: str) -> NamegenError:
        return NamegenError(f"the {field} n-gram's tables are damaged ({why})")

    tensors = {}
    for name in compact_names(order):
        tensor, kind, k = state_dict.get(prefix + name), name.rstrip("0123456789"), int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))
        if tensor is None:
            return
        quantised = kind in ("backoff", "value")
        if tensor.dim() != 1 or tensor.dtype not in ((torch.uint8, torch.float32) if quantised else (torch.uint8,)):
            raise damaged(f"{name} is {tensor.dtype} {list(tensor.shape)}")
        tensors[kind, k] = tensor
    for name, levels in zip(CODEBOOKS, (order - 1, order)):
        codebook = state_dict.get(prefix + name)
        if codebook is not None and tuple(codebook.shape) != (levels, CODES):
            raise damaged(f"{name} is {list(codebook.shape)}")
    above = 1
    for k in range(1, order):
        rows, grams = len(tensors["backoff", k]), len(tensors["value", k])
        for kind, size, limit in (("key", rows, vocab_size * above), ("gram", grams, vocab_size * rows)):
            packed = tensors[kind, k]
            if ends_of(packed) < size:
                raise damaged(f"{kind}{k} packs fewer than the {size} keys of level {k}")
            keys = keys_of(packed, size)  # strictly increasing by construction, unless the width byte was changed
            if size and (int(keys[0]) < 0 or bool((keys.diff() <= 0).any()) or int(keys[-1]) >= limit):
                raise damaged(f"level {k}'s {'parents' if kind == 'key' else 'n-grams'}")
        above = rows


def take_stored_layout(module: torch.nn.Module, state_dict: dict, prefix: str) -> None:
    """Give `module`'s compact buffers the shapes and types the checkpoint holds (learned at fit:
    the rows, and each tensor's type), before torch copies the values in."""
    for name, buffer in list(module._buffers.items()):
        stored = state_dict.get(prefix + name)
        if buffer is not None and stored is not None and name not in module._non_persistent_buffers_set and stored.dim() == 1:
            # V-wide tensors keep the module's width: a checkpoint for another vocabulary fails to load
            setattr(module, name, torch.empty(buffer.shape if vocabulary_wide(name) else stored.shape, dtype=stored.dtype))


def check_order(vocab_size: int, order: int) -> None:
    """An n-gram is counted as one int64 base-V number: a clear error where it would overflow."""
    if vocab_size**order >= 2**63:
        highest = next(n for n in range(1, order) if vocab_size ** (n + 1) >= 2**63)
        raise NamegenError(f"order {order} is too high for a vocabulary of {vocab_size} tokens "
                           f"(its n-grams would overflow int64); use order <= {highest}")


def count(network: NgramNetwork, contexts: torch.Tensor, targets: torch.Tensor, quantised: bool = True) -> dict:
    """Fill `network` with the model of the (context, next) pairs (its log values quantised to one
    byte each unless not `quantised`); returns a summary."""
    check_order(network.vocab_size, network.order)
    levels, discounts = kneser_ney(contexts.numpy(), targets.numpy(), network.vocab_size, network.order)
    network.store(levels, quantised)
    return {"method": "counting (interpolated modified Kneser-Ney)", "contexts": len(network.log_probs),
            "discounts": discounts}  # D1, D2, D3+ per context length 0 .. order - 1
