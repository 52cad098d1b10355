"""Reading name files, the deterministic split, the bundled dataset, (context, next) pairs."""

import random
import re
from collections import Counter

import numpy as np
import pytest

import namegen
from namegen.data import examples, read_names, split_names


def test_read_names_strips_and_drops_blank_lines_and_keeps_duplicates(tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes(b"  emma \n\n\tOlivia\nemma\n   \n\nAVA\r\nZo\xc3\xab\n")
    assert read_names(path) == ["emma", "Olivia", "emma", "AVA", "Zo\u00eb"]
    assert read_names(path, lowercase=True) == ["emma", "olivia", "emma", "ava", "zo\u00eb"]
    assert read_names(str(path)) == read_names(path)


def test_a_last_line_without_newline_counts(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("anna\nbob")
    assert read_names(path) == ["anna", "bob"]


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("anna\nbob\n\nzo\u00eb\n".encode("latin-1"))
    with pytest.raises(namegen.NamegenError) as info:
        read_names(path)
    message = str(info.value)
    assert "line 4" in message and "UTF-8" in message and "latin1.txt" in message


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   \n\t\n  ", b"\r\n"])
def test_empty_or_blank_file_is_an_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(namegen.NamegenError, match="no names"):
        read_names(path)


def test_missing_file_or_folder_is_an_error(tmp_path):
    with pytest.raises(namegen.NamegenError, match="does not exist"):
        read_names(tmp_path / "missing.txt")
    with pytest.raises(namegen.NamegenError, match="not a file"):
        read_names(tmp_path)


def test_split_is_deterministic_80_10_10_disjoint_and_covering():
    names = [f"name{i}" for i in range(1003)]
    split = split_names(names, 42)
    assert split == split_names(names, 42)
    assert (len(split.train), len(split.val), len(split.test)) == (802, 100, 101)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sorted(split.train + split.val + split.test) == sorted(names)
    assert split.train != names[:802]  # shuffled
    other = split_names(names, 43)
    assert other.train != split.train and other.val != split.val


def test_split_keeps_duplicates():
    names = ["ann"] * 10 + ["bob"] * 10
    split = split_names(names, 1)
    assert Counter(split.train + split.val + split.test) == Counter(names)


@pytest.mark.parametrize("source", ["bundled", "shared"])
def test_seed_42_split_is_the_tutorials(source, request):
    names = request.getfixturevalue(f"{source}_names")
    state = random.getstate()
    try:
        words = list(names)
        random.seed(42)
        random.shuffle(words)
    finally:
        random.setstate(state)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    split = split_names(names, 42)
    assert split.train == words[:n1]
    assert split.val == words[n1:n2]
    assert split.test == words[n2:]


def test_bundled_dataset(bundled_names):
    assert 25_000 <= len(bundled_names) <= 35_000
    assert all(re.fullmatch("[a-z]+", name) for name in bundled_names)
    assert len(set(bundled_names)) == len(bundled_names)
    assert read_names("bundled") == bundled_names


def naive_examples(encoded, block_size):
    contexts, targets, owners = [], [], []
    for owner, ids in enumerate(encoded):
        context = [0] * block_size
        for token in [*ids, 0]:
            contexts.append(list(context))
            targets.append(token)
            owners.append(owner)
            context = context[1:] + [token]
    return contexts, targets, owners


@pytest.mark.parametrize("block_size", [1, 2, 3, 8])
def test_examples_match_a_naive_construction(block_size):
    rng = np.random.default_rng(block_size)
    encoded = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [2, 2]]
    encoded += [rng.integers(1, 27, size=rng.integers(1, 12)).tolist() for _ in range(50)]
    contexts, targets, owners = examples(encoded, block_size)
    assert contexts.dtype == targets.dtype == owners.dtype == np.int64
    assert contexts.shape == (sum(len(e) + 1 for e in encoded), block_size)
    assert np.bincount(owners).tolist() == [len(e) + 1 for e in encoded]  # L + 1 pairs per name
    want = naive_examples(encoded, block_size)
    assert contexts.tolist() == want[0]
    assert targets.tolist() == want[1]
    assert owners.tolist() == want[2]


def test_examples_spelled_out_for_block_size_3():
    contexts, targets, _ = examples([[5, 13, 13, 1]], 3)  # "emma" with e=5, m=13, a=1
    assert contexts.tolist() == [[0, 0, 0], [0, 0, 5], [0, 5, 13], [5, 13, 13], [13, 13, 1]]
    assert targets.tolist() == [5, 13, 13, 1, 0]


def test_examples_of_no_names():
    contexts, targets, owners = examples([], 3)
    assert contexts.shape == (0, 3) and targets.shape == (0,) and owners.shape == (0,)
