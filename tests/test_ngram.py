"""The `ngram` plugin, interpolated modified Kneser-Ney, against a plainly written reference."""

from collections import Counter

import numpy as np
import onnx
import pytest
import torch

import namegen
from namegen import runtime
from namegen.data import examples, split_names
from namegen.exports.onnx import export

START = "<s>"
TINY = ["ab", "ba", "abba", "ab"]  # so few counts that every order falls back to KenLM's discounts


def reference_kneser_ney(names: list[str], order: int):
    """Interpolated modified Kneser-Ney, written the plain way from Chen & Goodman (1998): each
    name is <s> c1 .. cn . (the start as one symbol, as KenLM has it). Returns prob(history,
    token) for a history of at most order - 1 symbols, oldest first, and the discounts."""
    vocab = ["."] + sorted(set("".join(names)))
    raw = {n: Counter() for n in range(1, order + 1)}  # raw[n][(s1, .., sn)]: n-grams of n symbols
    for name in names:
        symbols = [START, *name, "."]
        for end in range(1, len(symbols)):
            for n in range(1, min(order, end + 1) + 1):
                raw[n][tuple(symbols[end - n + 1 : end + 1])] += 1
    # Raw counts for the longest n-grams and for those that begin with <s> (nothing comes before
    # it); otherwise the number of different symbols seen just before the n-gram.
    adjusted = {order: dict(raw[order])}
    for n in range(1, order):
        before = {}  # the symbols seen just before each n-gram
        for longer in raw[n + 1]:
            before.setdefault(longer[1:], set()).add(longer[0])
        adjusted[n] = {gram: count if gram[0] == START else len(before[gram]) for gram, count in raw[n].items()}

    def estimate(counts):
        n1, n2, n3, n4 = (sum(1 for c in counts if c == k) for k in (1, 2, 3, 4))
        if n1 == 0 or n2 == 0 or n3 == 0:
            return (0.5, 1.0, 1.5)
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        return d if 0 < d[0] <= 1 and 0 < d[1] <= 2 and 0 < d[2] <= 3 else (0.5, 1.0, 1.5)

    discounts = {n: estimate(list(adjusted[n].values())) for n in adjusted}
    following = {n: {} for n in adjusted}  # following[n][history]: {next symbol: adjusted count}
    for n, grams in adjusted.items():
        for gram, count in grams.items():
            following[n].setdefault(gram[:-1], {})[gram[-1]] = count

    def prob(history: tuple, token: str) -> float:
        lower = prob(history[1:], token) if history else 1 / len(vocab)
        n = len(history) + 1
        seen = following[n].get(history, {})
        if not seen:  # an unseen history says nothing: back off
            return lower
        discount = lambda count: discounts[n][min(count, 3) - 1]  # noqa: E731
        taken = sum(discount(count) for count in seen.values())
        count = seen.get(token, 0)
        return ((count - discount(count) if count else 0) + taken * lower) / sum(seen.values())

    return vocab, prob, [list(discounts[n]) for n in range(1, order + 1)]


def history_of(context: list[int], chars, order: int) -> tuple:
    """A padded context (token ids, left-padded with 0) as the reference's history."""
    letters = [chars[t] for t in context if t]
    symbols = ([START] if len(letters) < len(context) else []) + letters
    return tuple(symbols[max(0, len(symbols) - (order - 1)):]) if order > 1 else ()


@pytest.fixture(scope="module")
def corpus(bundled_names):
    return bundled_names[::250]  # 120 names: enough counts for estimated discounts at low orders


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("which", ["corpus", "tiny"])
def test_matches_a_plain_reference(order, which, corpus):
    names = corpus if which == "corpus" else TINY
    model = namegen.create("ngram", order=order, bits=32).fit(names)  # float32: the estimate itself
    vocab, prob, discounts = reference_kneser_ney(names, order)
    assert list(model.vocab_.chars) == vocab
    np.testing.assert_allclose(model.training_["discounts"], discounts, atol=1e-6)

    # every context of the corpus, and unseen ones: random letters after 0..block_size padding tokens
    rng = np.random.default_rng(order)
    bs, V = model.block_size, len(vocab)
    contexts = {tuple(c) for c in examples([model.vocab_.encode(n) for n in names], bs)[0].tolist()}
    for _ in range(300):
        pad = int(rng.integers(0, bs + 1))
        contexts.add((0,) * pad + tuple(rng.integers(1, V, size=bs - pad).tolist()))
    contexts = sorted(contexts)
    got = model.token_log_probs(torch.tensor(contexts)).double().exp().numpy()
    expected = np.array([[prob(history_of(list(c), vocab, order), token) for token in vocab] for c in contexts])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_both_discount_paths_are_covered(corpus):
    """The reference test above sees estimated discounts and KenLM's fallback (where counts-of-
    counts are too few: the unigrams' continuation counts, or the tiny names)."""
    fallback = [0.5, 1.0, 1.5]
    levels = namegen.create("ngram", order=5).fit(corpus).training_["discounts"]
    assert levels[0] == fallback and all(d != fallback for d in levels[1:])
    assert namegen.create("ngram", order=5).fit(TINY).training_["discounts"] == [fallback] * 5


@pytest.mark.parametrize("order", [1, 3, 6])
def test_every_row_is_a_distribution(order, fitted):
    model = namegen.create("ngram", order=order, bits=32).fit(fitted.split.train, fitted.split.val)
    table = model.network_.log_probs.double().exp()
    torch.testing.assert_close(table.sum(dim=1), torch.ones(len(table), dtype=torch.float64), atol=1e-6, rtol=0)
    assert (table > 0).all(), "every token has some probability in every context"
    # and any context at all, boundary tokens in the middle included (the tabulated sampler asks those)
    contexts = torch.from_numpy(np.random.default_rng(0).integers(0, len(model.vocab_), size=(5000, model.block_size)))
    probs = model.token_log_probs(contexts).double().exp()
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(len(probs), dtype=torch.float64), atol=1e-6, rtol=0)


def test_unseen_contexts_back_off_to_their_longest_seen_suffix():
    names = ["anna", "hanna", "hannah", "nala", "alan"]
    model = namegen.create("ngram", order=4).fit(names)
    vocab, prob, _ = reference_kneser_ney(names, 4)

    def row(text: str) -> torch.Tensor:  # next-token log-probabilities after 3 characters ('.' the boundary)
        return model.token_log_probs(torch.tensor([[model.vocab_.index[c] for c in text]]))[0]

    def reference(*history: str) -> np.ndarray:
        return np.log([prob(history, token) for token in vocab])

    # "han" and "lan" were seen, and differ; "lhn" and "nhn" were not, nor "hn": both read "n" alone
    assert not torch.allclose(row("han"), row("lan"))
    torch.testing.assert_close(row("lhn"), row("nhn"))
    np.testing.assert_allclose(row("lhn").numpy(), reference("n"), atol=1e-5)
    # "nan" was not seen, but "an" was (in "anna", "hanna", "alan")
    np.testing.assert_allclose(row("nan").numpy(), reference("a", "n"), atol=1e-5)
    # the start: "..h" is the start then "h"; a boundary in the middle (never in data, but the
    # tabulated sampler asks every context) reads what follows it as the start of a name
    np.testing.assert_allclose(row("..h").numpy(), reference(START, "h"), atol=1e-5)
    torch.testing.assert_close(row("a.h"), row("..h"))


def test_order_one_is_the_unigram_distribution(fitted):
    train = fitted.split.train
    model = namegen.create("ngram", order=1).fit(train)
    table = model.network_.log_probs.double().exp()
    assert len(table) == 1 and model.block_size == 1  # one row for every context
    contexts = torch.arange(len(model.vocab_))[:, None]
    torch.testing.assert_close(model.token_log_probs(contexts), model.network_.log_probs.expand(len(contexts), -1))
    counts = Counter("".join(train) + "." * len(train))
    frequency = np.array([counts[c] for c in model.vocab_.chars]) / sum(counts.values())
    np.testing.assert_allclose(table[0].numpy(), frequency, atol=2e-3)
    assert all(model.sample(200, seed=1))  # the sampler never ends a name before its first character


def test_order_two_is_as_good_as_counts_and_higher_orders_better(bundled_names):
    split = split_names(bundled_names, 42)
    counts = namegen.create("counts").fit(split.train, split.val).score(split.val).nll
    val = {order: namegen.create("ngram", order=order).fit(split.train, split.val).score(split.val).nll for order in (1, 2, 3, 4, 6)}
    assert abs(val[2] - counts) < 0.005
    assert val[1] > val[2] > val[3] > val[4] > val[6]
    assert val[6] < 2.03  # measured 2.0158 (docs/benchmarks.md)


def test_default_order_on_the_benchmark_corpus(shared_names):
    split = split_names(shared_names, 42)
    model = namegen.create("ngram").fit(split.train, split.val)
    assert model.hyperparams == {"order": 6, "bits": 8}
    assert model.score(split.test).nll < 1.99  # measured 1.9781 (1.9778 unquantised); counts scores 2.4584
    assert model.training_["fit_seconds"] < 0.5  # measured 0.04 s


@pytest.mark.parametrize("order", [0, -1, 2.5, "x", True])
def test_an_invalid_order_is_rejected(order):
    with pytest.raises(namegen.NamegenError, match="order"):
        namegen.create("ngram", order=order)


def test_an_order_too_high_for_the_vocabulary_is_rejected_at_fit():
    names = ["abcdefghijklmnopqrstuvwxyz"]  # 27 tokens: 27**13 < 2**63 <= 27**14
    assert namegen.create("ngram", order=13).fit(names).sample(1, seed=0) == names
    with pytest.raises(namegen.NamegenError, match=r"order 14 is too high for a vocabulary of 27 tokens.*order <= 13"):
        namegen.create("ngram", order=14).fit(names)


@pytest.mark.parametrize("order", [1, 6])
def test_save_load_round_trip(order, fitted, tmp_path):
    """The table's size is learned at fit, so loading must take it from the checkpoint."""
    model = namegen.create("ngram", order=order).fit(fitted.split.train)
    model.save(tmp_path / "run")
    loaded = namegen.load(tmp_path / "run")
    assert len(loaded.network_.log_probs) == model.training_["contexts"]
    np.testing.assert_array_equal(loaded.log_likelihood(fitted.split.test), model.log_likelihood(fitted.split.test))
    assert loaded.sample(200, seed=5) == model.sample(200, seed=5)


def test_a_checkpoint_for_another_vocabulary_does_not_load(fitted, tmp_path):
    namegen.create("ngram", order=3).fit(["ab", "ba"]).save(tmp_path / "run")
    config = (tmp_path / "run" / "config.json").read_text()
    (tmp_path / "run" / "config.json").write_text(config.replace('"vocab": ".ab"', '"vocab": ".abc"'))
    with pytest.raises(namegen.NamegenError, match="does not fit plugin 'ngram'"):
        namegen.load(tmp_path / "run")


@pytest.mark.parametrize("order, loop", [(1, "tabulated"), (3, "tabulated"), (4, "tabulated when count >= 1231, else stepwise")])
def test_low_orders_export_through_the_tabulated_sampler(order, loop, fitted, tmp_path):
    """The registry-wide ONNX tests see the default order, which samples stepwise (27**5 contexts)."""
    model = namegen.create("ngram", order=order).fit(fitted.split.train)
    sampler, _ = export(model, tmp_path / "ngram.onnx")
    exported = runtime.load(sampler)
    assert exported.metadata["sampler_loop"] == loop
    initializers = {i.name for i in onnx.load(sampler).graph.initializer}
    assert {f"network/{key}" for key in model.network_.state_dict()} <= initializers  # every checkpoint tensor
    for count in (5, 2000):  # the dense loop, and the binary search over tabulated rows
        for seed, temperature in ((0, 1.0), (7, 0.5), (2**40, 2.0)):
            assert exported.sample(count, seed=seed, temperature=temperature) == model.sample(count, seed=seed, temperature=temperature)
    np.testing.assert_allclose(exported.log_likelihood(fitted.split.test), model.log_likelihood(fitted.split.test), atol=1e-4, rtol=1e-6)


def test_eight_bit_storage_stays_close_to_the_estimate(bundled_names):
    """bits=8 stores one-byte codes for every log value: a model of its own, a little off the
    float32 estimate (names.txt test NLL 1.9781 against 1.9778)."""
    split = split_names(bundled_names, 42)
    exact, coded = (namegen.create("ngram", bits=bits).fit(split.train, split.val) for bits in (32, 8))
    assert 0 <= coded.score(split.val).nll - exact.score(split.val).nll < 0.002
    stored = lambda model: sum(t.numel() * t.element_size() for t in model.network_.state_dict().values())  # noqa: E731
    assert stored(coded) < 0.6 * stored(exact)


def test_the_export_holds_the_ngram_compact(fitted, tmp_path):
    """The files hold the stored tensors and the graph that rebuilds the dense tables, never the
    tables themselves: no initialiser or constant as large as the log-probability table."""
    model = namegen.create("ngram").fit(fitted.split.train)
    dense = model.network_.log_probs.numel()
    sampler, scorer = export(model, tmp_path / "ngram.onnx", training_names=False)
    for path in (sampler, scorer):
        graphs = [onnx.load(path).graph]
        for graph in graphs:
            graphs += [a.g for node in graph.node for a in node.attribute if a.type == onnx.AttributeProto.GRAPH]
        tensors = [init for graph in graphs for init in graph.initializer]
        tensors += [a.t for graph in graphs for node in graph.node for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
        assert max(int(np.prod(t.dims)) for t in tensors) < dense / 10


def test_gap_codes_round_trip():
    """Keys step up by any amount, at any code width: gaps of 2**bits - 1 and its multiples take
    continuation codes, and the last byte's spare bits are not keys."""
    from namegen.kneser_ney import ends_of, gap_codes, keys_of

    rng = np.random.default_rng(0)
    cases = ([0], [254, 255, 509, 510, 765, 766, 1020, 5000, 70000], np.arange(9), np.cumsum(rng.integers(1, 600, 2000)) - 1)
    for keys in cases:
        keys = np.asarray(keys, np.int64)
        for bits in (None, *range(1, 9)):
            packed = gap_codes(keys, bits)
            assert packed.dtype == np.uint8 and (bits is None or packed[0] == bits)
            assert ends_of(torch.from_numpy(packed)) >= len(keys)
            np.testing.assert_array_equal(keys_of(torch.from_numpy(packed), len(keys)).numpy(), keys)
        assert len(gap_codes(keys)) <= min(len(gap_codes(keys, bits)) for bits in range(1, 9))


def legacy_layout(model) -> dict:
    """The model's weights as a checkpoint of format 3 stored its n-gram: parents, rows per oldest
    token, n-gram counts and tokens, each in the narrowest integer type."""
    def narrowest(values):
        values = np.asarray(values, np.int64)
        top = int(values.max()) if len(values) else 0
        return torch.from_numpy(values.astype(np.uint8) if top < 256 else values.astype(np.uint16).view(np.int16) if top < 65536
                                else values.astype(np.int32))

    ngram, V = model.network_, len(model.vocab_)
    tensors = {key: value for key, value in ngram.state_dict().items() if not key.startswith(("key", "gram"))}
    sizes = ngram.level_sizes()
    for k in range(1, ngram.order):
        keys, grams = ngram.keys(k).numpy(), keys_of_gram(ngram, k)
        tensors |= {f"parent{k}": narrowest(keys % sizes[k - 1]), f"oldest{k}": narrowest(np.bincount(keys // sizes[k - 1], minlength=V)),
                    f"count{k}": narrowest(np.bincount(grams // V, minlength=sizes[k])), f"token{k}": narrowest(grams % V)}
    return tensors


def keys_of_gram(ngram, k):
    from namegen.kneser_ney import keys_of

    return keys_of(getattr(ngram, f"gram{k}"), len(getattr(ngram, f"value{k}"))).numpy()


def test_a_checkpoint_of_the_previous_layout_loads_as_the_same_model(fitted, tmp_path):
    import hashlib
    import json

    from safetensors.torch import save

    model = namegen.create("ngram", order=5).fit(fitted.split.train)
    model.save(tmp_path / "run")
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    tensors = legacy_layout(model)
    for damaged in (False, True):
        if damaged:  # the rows per oldest token no longer add up to the parents
            tensors["oldest3"] = tensors["oldest3"].clone()
            tensors["oldest3"][0] += 1
        weights = save(tensors)
        (tmp_path / "run" / config["weights"]).write_bytes(weights)
        config_path.write_text(json.dumps({**config, "format_version": 3, "weights_sha256": hashlib.sha256(weights).hexdigest()}))
        if damaged:
            with pytest.raises(namegen.NamegenError, match="n-gram's tables are damaged"):
                namegen.load(tmp_path / "run")
            continue
        loaded = namegen.load(tmp_path / "run")
        assert torch.equal(loaded.network_.log_probs, model.network_.log_probs)
        assert torch.equal(loaded.network_.trie, model.network_.trie)
        assert loaded.sample(300, seed=3) == model.sample(300, seed=3)


def test_onnxruntime_folds_the_rebuild_when_it_loads_the_sampler(fitted, tmp_path):
    """The tables are rebuilt once, at load: after onnxruntime's optimisation no node of the
    sampler reads a compact tensor any more (one left would rebuild the tables on every call)."""
    import onnxruntime as ort

    from namegen.exports.graph import subgraphs

    model = namegen.create("ngram").fit(fitted.split.train)
    sampler, _ = export(model, tmp_path / "ngram.onnx", training_names=False)
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(sampler), options, providers=["CPUExecutionProvider"])
    compact = {f"network/{key}" for key in model.network_.state_dict()}
    optimised = onnx.load(tmp_path / "optimised.onnx").graph
    assert not [i for graph in subgraphs(optimised) for node in graph.node for i in node.input if i in compact]


@pytest.mark.parametrize("damage", ["truncated", "width"])
def test_damaged_key_codes_do_not_load(damage, fitted, tmp_path):
    import hashlib
    import json

    from safetensors.torch import load_file, save

    namegen.create("ngram", order=4).fit(fitted.split.train).save(tmp_path / "run")
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    tensors = load_file(tmp_path / "run" / config["weights"])
    packed = tensors["key3"].clone()
    if damage == "truncated":
        packed = packed[: len(packed) // 2]
    else:  # the same bits read at another width
        packed[0] = 8 if packed[0] != 8 else 7
    tensors["key3"] = packed
    weights = save(tensors)
    (tmp_path / "run" / config["weights"]).write_bytes(weights)
    config_path.write_text(json.dumps({**config, "weights_sha256": hashlib.sha256(weights).hexdigest()}))
    with pytest.raises(namegen.NamegenError, match="n-gram's tables are damaged"):
        namegen.load(tmp_path / "run")
