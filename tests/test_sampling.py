"""Sampling is a pure function of (model, seed, temperature), by the documented hash."""

import numpy as np
import pytest
import torch

import namegen
from namegen import sampling

PLUGINS = namegen.available()


def reference_mix(x: int) -> int:
    """The 31-bit hash as the sampling docstring states it, in plain Python integers."""
    x ^= x // 2**16
    x = x * 0x2C1B3C6D & (2**31 - 1)
    x ^= x // 2**15
    x = x * 0x297A2D39 & (2**31 - 1)
    x ^= x // 2**16
    return x


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(1234)
    values = rng.integers(0, 2**31, size=20_000, dtype=np.int64)
    edges = np.array([0, 1, 2, 2**15, 2**16 - 1, 2**16, 2**30, 2**31 - 2, 2**31 - 1], dtype=np.int64)
    return np.concatenate([edges, values])


def test_mix_matches_the_reference_on_python_ints(inputs):
    for x in inputs[:2000].tolist():
        assert sampling.mix(x) == reference_mix(x)


def test_mix_matches_the_reference_on_numpy_arrays(inputs):
    got = sampling.mix(inputs)
    assert got.dtype == np.int64
    assert got.tolist() == [reference_mix(x) for x in inputs.tolist()]


def test_mix_matches_the_reference_on_torch_tensors(inputs):
    got = sampling.mix(torch.from_numpy(inputs))
    assert got.dtype == torch.int64
    assert got.tolist() == [reference_mix(x) for x in inputs.tolist()]


def test_mix_stays_in_31_bits_and_spreads(inputs):
    got = sampling.mix(inputs)
    assert got.min() >= 0 and got.max() < 2**31
    assert len(np.unique(got)) == len(np.unique(inputs))  # a bijection on 31-bit values


def test_uniforms_lie_in_the_open_unit_interval_and_look_uniform():
    keys = sampling.row_keys(7, torch.arange(100_000, dtype=torch.int64))
    for step in (0, 1, 13):
        u = sampling.uniforms(keys, step)
        assert u.dtype == torch.float64
        assert float(u.min()) > 0 and float(u.max()) < 1
        assert abs(float(u.mean()) - 0.5) < 0.01
        counts = torch.histc(u, bins=20, min=0, max=1)
        expected = len(u) / 20
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 60  # 19 degrees of freedom: the 0.9999 quantile is about 50
    # across steps for one name, too
    steps = torch.stack([sampling.uniforms(keys[:1], t) for t in range(5000)])
    assert abs(float(steps.mean()) - 0.5) < 0.01


def test_uniforms_depend_on_seed_row_and_step():
    keys = sampling.row_keys(3, torch.arange(1000, dtype=torch.int64))
    other = sampling.row_keys(4, torch.arange(1000, dtype=torch.int64))
    assert len(torch.unique(keys)) == 1000
    assert not torch.equal(sampling.uniforms(keys, 0), sampling.uniforms(other, 0))
    assert not torch.equal(sampling.uniforms(keys, 0), sampling.uniforms(keys, 1))
    # and the numpy and torch paths agree
    np_keys = sampling.row_keys(3, np.arange(1000, dtype=np.int64))
    np.testing.assert_array_equal(np_keys, keys.numpy())
    np.testing.assert_array_equal(sampling.uniforms(np_keys, 5), sampling.uniforms(keys, 5).numpy())


def test_seeds_are_taken_modulo_2_62():
    assert sampling.seed_key(5) == sampling.seed_key(5 + 2**62)
    assert sampling.seed_key(5) != sampling.seed_key(6)
    assert sampling.seed_key(1) != sampling.seed_key(1 + 2**31)  # the high bits count


@pytest.mark.parametrize("plugin", PLUGINS)
def test_same_seed_same_names_different_seed_different_names(plugin, fitted):
    model = fitted(plugin)
    first = model.sample(100, seed=11)
    assert model.sample(100, seed=11) == first
    assert model.sample(100, seed=12) != first
    assert model.sample(100, seed=11, temperature=0.5) != first
    assert set("".join(first)) <= set(model.vocab_.chars[1:])


@pytest.mark.parametrize("plugin", PLUGINS)
def test_sample_is_independent_of_how_many_names_are_drawn(plugin, fitted):
    model = fitted(plugin)
    for seed in (0, 99, 2**40 + 3):
        many = model.sample(1000, seed=seed)
        assert model.sample(10, seed=seed) == many[:10]
        assert model.sample(1, seed=seed) == many[:1]


def test_names_use_only_the_vocabulary(fitted):
    model = fitted("counts")
    vocab = set(model.vocab_.chars[1:])
    for temperature in (0.3, 1.0, 3.0):
        names = model.sample(500, seed=2, temperature=temperature)
        assert all(set(name) <= vocab for name in names)


@pytest.mark.parametrize("temperature", [0, -1, -0.5, 1e-50, float("nan"), float("inf")])
def test_bad_temperature_is_rejected(temperature, fitted):
    with pytest.raises(namegen.NamegenError, match="temperature"):
        fitted("counts").sample(3, temperature=temperature)


@pytest.mark.parametrize("n", [0, -1, -3, 1.5, True, sampling.MAX_COUNT + 1])
def test_bad_count_is_rejected(n, fitted):
    with pytest.raises(namegen.NamegenError, match="^n must be an integer from 1 to "):
        fitted("counts").sample(n)


def test_temperature_changes_diversity(fitted):
    model = fitted("counts")
    cold = model.sample(2000, seed=4, temperature=0.2)
    hot = model.sample(2000, seed=4, temperature=2.0)
    assert len(set(cold)) < len(set(hot))


def test_max_len_caps_the_names(fitted):
    model = fitted("counts")
    names = model.sample(500, seed=8, max_len=3)
    assert all(len(name) <= 3 for name in names)
    assert sum(len(name) == 3 for name in names) > 50  # most names are longer: they are cut
    assert all(len(name) <= model.max_len_ for name in model.sample(2000, seed=8, temperature=3.0))
    # a cut name is the uncut name's beginning
    uncut = model.sample(500, seed=8)
    assert all(u.startswith(c) for c, u in zip(names, uncut))
    with pytest.raises(namegen.NamegenError):
        model.sample(3, max_len=0)


def test_prefix_starts_every_name(fitted):
    model = fitted("counts")
    names = model.sample(300, seed=9, prefix="ma")
    assert all(name.startswith("ma") for name in names)
    assert len(set(names)) > 30 and any(len(name) > 2 for name in names)
    tokens = model.sample_tokens(300, seed=9, prefix="ma")
    assert tokens.shape == (300, model.max_len_)
    with pytest.raises(namegen.NamegenError):
        model.sample(3, prefix="m.")  # the boundary character is never part of a name
    with pytest.raises(namegen.NamegenError):
        model.sample(3, prefix="a" * model.max_len_)


def test_prefix_with_a_longer_context_plugin(fitted):
    model = fitted("tiny-mlp")
    names = model.sample(100, seed=1, prefix="jo")
    assert all(name.startswith("jo") for name in names)


def test_first_character_frequencies_match_the_model(fitted):
    model = fitted("counts")
    n = 20_000
    tokens = model.sample_tokens(n, seed=21)
    expected = model.token_log_probs(torch.tensor([[0]]))[0].double().exp().numpy()
    observed = np.bincount(tokens[:, 0], minlength=len(model.vocab_)) / n
    np.testing.assert_allclose(observed, expected, atol=0.01, rtol=0)
    assert np.abs(observed - expected).max() < 0.01


def test_second_character_frequencies_follow_the_first(fitted):
    """The draw at step 1 uses the step-1 context, not the step-0 one."""
    model = fitted("counts")
    first = model.vocab_.index["a"]
    tokens = model.sample_tokens(20_000, seed=5, prefix="a")
    expected = model.token_log_probs(torch.tensor([[first]]))[0].double().exp().numpy()
    observed = np.bincount(tokens[:, 1], minlength=len(model.vocab_)) / len(tokens)
    np.testing.assert_allclose(observed, expected, atol=0.01, rtol=0)


def test_low_temperature_approaches_the_most_likely_token(fitted):
    model = fitted("counts")
    best = int(model.token_log_probs(torch.tensor([[0]]))[0].argmax())
    tokens = model.sample_tokens(500, seed=3, temperature=0.01)
    assert (tokens[:, 0] == best).all()
