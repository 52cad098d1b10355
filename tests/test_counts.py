"""The `counts` plugin is the tutorial's smoothed bigram count table."""

import numpy as np
import pytest
import torch

import namegen
from namegen.data import split_names

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "liam", "noah", "ava", "lucas"]


def test_counts_val_nll_on_the_benchmark_corpus(shared_names):
    split = split_names(shared_names, 42)
    model = namegen.create("counts").fit(split.train, split.val)
    assert abs(model.score(split.val).nll - 2.45) < 0.01
    assert model.training_["val_nll"] == pytest.approx(model.score(split.val).nll, abs=1e-5)


def naive_probabilities(names, alpha):
    chars = ["."] + sorted(set("".join(names)))
    index = {c: i for i, c in enumerate(chars)}
    table = [[0.0] * len(chars) for _ in chars]
    for name in names:
        padded = "." + name + "."
        for a, b in zip(padded, padded[1:]):
            table[index[a]][index[b]] += 1
    probs = []
    for row in table:
        smoothed = [c + alpha for c in row]
        total = sum(smoothed)
        probs.append([c / total for c in smoothed])
    return chars, np.array(probs)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_table_matches_a_naive_count(alpha):
    model = namegen.create("counts", alpha=alpha).fit(NAMES)
    chars, expected = naive_probabilities(NAMES, alpha)
    assert list(model.vocab_.chars) == chars
    contexts = torch.arange(len(chars))[:, None]
    got = model.token_log_probs(contexts).double().exp().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_more_smoothing_gives_unseen_pairs_more_mass():
    low = namegen.create("counts", alpha=0.5).fit(NAMES)
    high = namegen.create("counts", alpha=5).fit(NAMES)
    assert not any("ve" in name for name in NAMES)  # 'v' is never followed by 'e'
    v, e = low.vocab_.index["v"], low.vocab_.index["e"]
    context = torch.tensor([[v]])
    assert high.token_log_probs(context)[0, e] > low.token_log_probs(context)[0, e]


@pytest.mark.parametrize("alpha", [-1, -0.01, 0, float("nan"), "-2"])
def test_alpha_of_zero_or_less_is_rejected(alpha):
    with pytest.raises(namegen.NamegenError, match="alpha"):
        namegen.create("counts", alpha=alpha)


def test_a_tiny_alpha_gives_unseen_pairs_almost_no_probability():
    model = namegen.create("counts", alpha=1e-12).fit(["ab"])
    a, b = model.vocab_.index["a"], model.vocab_.index["b"]
    probs = model.token_log_probs(torch.tensor([[0], [a], [b]])).exp()
    torch.testing.assert_close(probs, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), atol=1e-9, rtol=0)
    assert model.sample(5, seed=0) == ["ab"] * 5
