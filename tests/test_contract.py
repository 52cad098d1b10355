"""The shared NameModel layer works for any plugin, not only bigram ones."""

import math

import numpy as np
import pytest
import torch

import namegen
from namegen.testing import parametrize_with_checks

PLUGINS = namegen.available()  # conftest has loaded tests/plugins (tiny-mlp) already


def test_the_registry_parametrisation_covers_a_non_bigram_plugin():
    assert {"counts", "linear", "tiny-mlp"} <= set(PLUGINS)


def test_tiny_mlp_fits_scores_and_samples(fitted):
    model = fitted("tiny-mlp")
    split = fitted.split
    assert model.block_size == 3 and model.network_.block_size == 3
    ll = model.log_likelihood(split.val[:50])
    assert isinstance(ll, np.ndarray) and ll.dtype == np.float64 and ll.shape == (50,)
    assert np.all(np.isfinite(ll)) and np.all(ll < 0)
    score = model.score(split.val)
    assert score.names == len(split.val) and score.tokens == sum(map(len, split.val)) + len(split.val)
    assert math.isfinite(score.nll) and score.perplexity == pytest.approx(math.exp(score.nll))
    # it learned something: clearly better than uniform over the vocabulary
    assert score.nll < math.log(len(model.vocab_)) - 0.3
    names = model.sample(50, seed=1)
    assert len(names) == 50 and all(isinstance(n, str) for n in names)
    assert set("".join(names)) <= set(model.vocab_.chars[1:])
    assert len(set(names)) > 10


def test_tiny_mlp_uses_more_than_the_last_character(fitted):
    """A block_size-3 model gives the same last character different next-token odds in different contexts."""
    model = fitted("tiny-mlp")
    a, n = model.vocab_.index["a"], model.vocab_.index["n"]
    e, o = model.vocab_.index["e"], model.vocab_.index["o"]
    log_probs = model.token_log_probs(torch.tensor([[e, o, n], [a, a, n]]))
    assert not torch.allclose(log_probs[0], log_probs[1], atol=1e-4)


def test_tiny_mlp_save_load_round_trip(fitted, tmp_path):
    model = fitted("tiny-mlp")
    names = fitted.split.test[:100]
    model.save(tmp_path / "run")
    loaded = namegen.load(tmp_path / "run")
    assert type(loaded) is type(model) and loaded.plugin_name == "tiny-mlp"
    assert loaded.hyperparams == model.hyperparams and loaded.vocab_ == model.vocab_
    assert loaded.max_len_ == model.max_len_ and loaded.block_size == 3
    np.testing.assert_array_equal(loaded.log_likelihood(names), model.log_likelihood(names))
    assert loaded.sample(200, seed=5, temperature=0.7) == model.sample(200, seed=5, temperature=0.7)


def test_fit_returns_self_and_sets_learned_state():
    model = namegen.create("counts")
    assert model.network_ is None and model.vocab_ is None
    with pytest.raises(namegen.NamegenError, match="not fitted"):
        model.sample(1)
    assert model.fit(["anna", "bob"]) is model
    assert model.network_ is not None and model.training_["train_names"] == 2


def test_boundary_token_is_index_zero_and_vocab_comes_from_the_data():
    names = ["anna", "bob", "cecil", "dora"]
    model = namegen.create("counts").fit(names, ["eve"])
    assert model.vocab_.chars[0] == "."
    assert set(model.vocab_.chars) == set("".join(names + ["eve"])) | {"."}
    assert "z" not in model.vocab_.chars
    with pytest.raises(namegen.NamegenError, match="'z'"):
        model.log_likelihood(["zed"])


def test_names_with_the_boundary_character_are_rejected():
    with pytest.raises(namegen.NamegenError, match="boundary"):
        namegen.create("counts").fit(["a.b", "ab"])


@pytest.mark.parametrize("bad", ["emma", [], ["emma", ""], ["emma", 3]])
def test_fit_rejects_bad_name_lists(bad):
    with pytest.raises(namegen.NamegenError):
        namegen.create("counts").fit(bad)


def test_log_likelihood_of_no_names_is_empty(fitted):
    assert fitted("counts").log_likelihood([]).shape == (0,)


@parametrize_with_checks(PLUGINS)
def test_plugin_passes_check(plugin, check, plugin_subject, record_property):
    """Every plugin passes every check of namegen.testing (one test each; the step form's checks
    skip for a plugin without one), on the session's one fit and export of it."""
    figures = check(plugin_subject(plugin))
    for key, value in figures.items():
        if "identity" in key or "diff" in key:
            record_property(f"max_abs_diff [{plugin}] {check.name}: {key}", value)


def test_progress_bar_appears_only_after_its_delay():
    """The CLI's fit shows a rich bar only for fits longer than a second: a quick fit prints nothing."""
    from namegen.train import LazyProgress

    quick = LazyProgress("fit", 100, delay=60.0)
    quick.update(50)
    assert quick.bar is None
    quick.close()
    slow = LazyProgress("fit", 100, delay=0.0)
    slow.update(50, loss=2.5)
    try:
        assert slow.bar is not None and slow.bar.tasks[0].completed == 50
    finally:
        slow.close()
    off = LazyProgress("fit", 100, enabled=False, delay=0.0)
    off.update(50)
    assert off.bar is None
