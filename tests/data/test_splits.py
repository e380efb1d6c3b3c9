"""Tests of the per-user random and time splits."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from causalrec_pyro.data import RatingData, Split, from_dataframe, split_by_time, split_by_user


def make_split(rows_per_user=(10, 5, 2, 1, 4), seed=0):
    """Build a split where user u has rows_per_user[u] rows, shuffled, with distinct times."""
    user = np.repeat(np.arange(len(rows_per_user)), rows_per_user)
    user = np.random.default_rng(seed).permutation(user)
    n = len(user)
    return Split(
        name="train",
        user=torch.as_tensor(user),
        item=torch.arange(n),
        n_users=len(rows_per_user),
        n_items=n,
        rating=torch.arange(n, dtype=torch.float32),
        timestamp=torch.as_tensor(np.random.default_rng(seed + 1).permutation(n)),
    )


def rows_per_user(split):
    return np.bincount(split.user.numpy(), minlength=split.n_users).tolist()


def test_split_by_user_counts_per_user():
    data = split_by_user(make_split(), test_fraction=0.2)
    # round(0.2 * n) rows per user, halves up, leaving at least one training row.
    assert rows_per_user(data["test"]) == [2, 1, 0, 0, 1]
    assert rows_per_user(data["train"]) == [8, 4, 2, 1, 3]


def test_split_by_user_rounds_half_up():
    data = split_by_user(make_split((10, 2)), test_fraction=0.25)
    assert rows_per_user(data["test"]) == [3, 1]


def test_split_by_user_partitions_rows():
    source = make_split()
    data = split_by_user(source, test_fraction=0.3, seed=4)
    train, test = data["train"], data["test"]
    assert len(train) + len(test) == len(source)
    assert set(train.item.tolist()).isdisjoint(test.item.tolist())
    assert sorted(train.item.tolist() + test.item.tolist()) == list(range(len(source)))
    # Items are row numbers here, so increasing items mean the original order is kept.
    assert train.item.tolist() == sorted(train.item.tolist())
    assert test.item.tolist() == sorted(test.item.tolist())
    assert torch.equal(test.rating, test.item.float())


def test_split_by_user_is_seeded():
    first = split_by_user(make_split(), seed=3)["test"].item.tolist()
    again = split_by_user(make_split(), seed=3)["test"].item.tolist()
    other = [split_by_user(make_split(), seed=s)["test"].item.tolist() for s in range(4, 9)]
    assert first == again
    assert any(items != first for items in other)


def test_split_by_user_min_train():
    data = split_by_user(make_split(), test_fraction=0.9, min_train=3)
    assert rows_per_user(data["train"]) == [3, 3, 2, 1, 3]
    assert rows_per_user(data["test"]) == [7, 2, 0, 0, 1]


def test_split_by_user_zero_fraction():
    data = split_by_user(make_split(), test_fraction=0.0)
    assert len(data["test"]) == 0
    assert len(data["train"]) == 22


def test_split_by_user_logs_sizes(caplog):
    with caplog.at_level(logging.INFO, logger="causalrec_pyro.data"):
        split_by_user(make_split(), test_fraction=0.2)
    assert "into 18 'train' rows and 4 'test' rows" in caplog.text
    assert "1 users with 1 or fewer rows" in caplog.text


def test_split_by_user_keeps_data_fields():
    df = pd.DataFrame({"user": [5, 5, 5, 6, 6], "item": [1, 2, 3, 1, 2], "rating": 3.0})
    features = pd.DataFrame({"age": [20.0, 30.0]}, index=[5, 6])
    data = from_dataframe(df, rating_scale=(1, 5), random=True, user_features=features)
    data = split_by_user(data, test_fraction=0.4)
    assert data.user_ids.tolist() == [5, 6]
    assert data.rating_scale == (1.0, 5.0)
    assert data.user_features is not None
    assert data["test"].random is True
    assert data["test"].user_features is data.user_features
    assert list(data.splits) == ["train", "test"]


def test_split_by_user_keeps_other_splits():
    source = make_split()
    data = RatingData({"train": source, "test": source.replace(name="test")}, range(5), range(22))
    data = split_by_user(data, names=("fit", "valid"))
    assert set(data.splits) == {"test", "fit", "valid"}
    assert len(data["fit"]) + len(data["valid"]) == len(source)


def test_split_by_user_name_clash_raises():
    source = make_split()
    data = RatingData({"train": source, "test": source.replace(name="test")}, range(5), range(22))
    with pytest.raises(ValueError, match=r"already has a split 'test' besides 'train'"):
        split_by_user(data)


def test_split_by_user_unknown_split_raises():
    data = RatingData({"all": make_split()}, range(5), range(22))
    with pytest.raises(KeyError, match=r"has no split 'train'; available splits: \['all'\]"):
        split_by_user(data)
    assert len(split_by_user(data, split="all")["test"]) == 4


def test_split_by_user_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got 1"):
        split_by_user(make_split(), test_fraction=1)
    with pytest.raises(ValueError, match=r"min_train must be an integer >= 0, got -1"):
        split_by_user(make_split(), min_train=-1)
    with pytest.raises(ValueError, match=r"names must be two different split names"):
        split_by_user(make_split(), names=("a", "a"))
    with pytest.raises(TypeError, match=r"Expected a RatingData or a Split, got list"):
        split_by_user([1, 2])


def test_split_by_user_empty_split_raises():
    empty = make_split().subset(torch.zeros(22, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"Split 'train' has no rows to divide"):
        split_by_user(empty)


def test_split_by_user_matches_loop_reference():
    source = make_split(tuple(range(1, 40)), seed=7)
    data = split_by_user(source, test_fraction=0.3, min_train=2)
    user = source.user.numpy()
    test_rows = np.bincount(data["test"].user.numpy(), minlength=source.n_users)
    for u in range(source.n_users):
        n = int((user == u).sum())
        expected = min(int(np.floor(0.3 * n + 0.5)), max(n - 2, 0))
        assert test_rows[u] == expected, f"user {u} with {n} rows"


def test_split_by_time_holds_out_latest():
    source = make_split()
    data = split_by_time(source, test_fraction=0.2)
    assert rows_per_user(data["test"]) == [2, 1, 0, 0, 1]
    user = source.user.numpy()
    time = source.timestamp.numpy()
    for u in range(source.n_users):
        train_times = data["train"].timestamp[data["train"].user == u]
        test_times = data["test"].timestamp[data["test"].user == u]
        if len(test_times):
            assert train_times.max() < test_times.min()
            assert sorted(test_times.tolist()) == sorted(time[user == u])[-len(test_times) :]


def test_split_by_time_ties_follow_row_order():
    split = Split(
        name="train",
        user=torch.zeros(4, dtype=torch.long),
        item=torch.arange(4),
        n_users=1,
        n_items=4,
        timestamp=torch.tensor([7, 7, 7, 7]),
    )
    assert split_by_time(split, test_fraction=0.5)["test"].item.tolist() == [2, 3]


def test_split_by_time_needs_timestamps():
    with pytest.raises(ValueError, match=r"has no timestamp column.*use split_by_user"):
        split_by_time(make_split().replace(timestamp=None))
