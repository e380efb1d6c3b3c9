"""Tests of the RatingData and Split containers."""

import numpy as np
import pandas as pd
import pytest
import torch

from causalrec_pyro.data import RatingData, Split


def make_split(name="train", **changes):
    fields = {
        "name": name,
        "user": torch.tensor([0, 0, 1, 2]),
        "item": torch.tensor([0, 2, 1, 2]),
        "n_users": 3,
        "n_items": 3,
        "rating": torch.tensor([1.0, 2.0, 3.0, 4.0]),
        "rating_scale": (1.0, 5.0),
    }
    fields.update(changes)
    return Split(**fields)


def make_data(**changes):
    return RatingData({"train": make_split()}, ["a", "b", "c"], [10, 20, 30], **changes)


def test_split_length_and_fields():
    split = make_split()
    assert len(split) == 4
    assert split.random is False
    assert split.exposure is None


def test_split_rejects_unequal_user_item():
    with pytest.raises(ValueError, match=r"user and item must be 1-D tensors of one length"):
        make_split(item=torch.tensor([0, 1]))


def test_split_rejects_wrong_column_shape():
    with pytest.raises(ValueError, match=r"column 'rating' has shape \(3,\), expected \(4,\)"):
        make_split(rating=torch.tensor([1.0, 2.0, 3.0]))


def test_split_rejects_user_out_of_range():
    with pytest.raises(ValueError, match=r"user index out of range \[0, 3\): min 0, max 3"):
        make_split(user=torch.tensor([0, 0, 1, 3]))


def test_split_rejects_item_out_of_range():
    with pytest.raises(ValueError, match=r"item index out of range \[0, 3\): min -1"):
        make_split(item=torch.tensor([-1, 2, 1, 2]))


def test_split_allows_no_rows():
    split = make_split(
        user=torch.tensor([], dtype=torch.long),
        item=torch.tensor([]).long(),
        rating=torch.tensor([]),
    )
    assert len(split) == 0


def test_subset_by_mask_keeps_columns():
    split = make_split(timestamp=torch.tensor([5, 6, 7, 8]))
    part = split.subset(torch.tensor([True, False, True, False]), name="part")
    assert part.name == "part"
    assert part.user.tolist() == [0, 1]
    assert part.item.tolist() == [0, 1]
    assert part.rating.tolist() == [1.0, 3.0]
    assert part.timestamp.tolist() == [5, 7]
    assert part.n_users == 3


def test_subset_by_index_keeps_name():
    part = make_split().subset(torch.tensor([3, 0]))
    assert part.name == "train"
    assert part.user.tolist() == [2, 0]


def test_observed_without_exposure_is_self():
    split = make_split()
    assert split.observed is split


def test_observed_keeps_exposed_rows():
    split = make_split(exposure=torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert split.observed.rating.tolist() == [1.0, 3.0]


def test_replace_and_to_device():
    split = make_split().replace(random=True).to("cpu")
    assert split.random is True
    assert split.user.device.type == "cpu"


def test_to_kwargs_keys_and_features():
    features = pd.DataFrame({"age": [20.0, 30.0, np.nan]})
    kwargs = make_split(user_features=features).to_kwargs()
    assert set(kwargs) == {"user", "item", "n_users", "n_items", "rating", "user_features"}
    assert kwargs["user_features"].shape == (3, 1)
    assert kwargs["user_features"].dtype == torch.float32
    assert torch.isnan(kwargs["user_features"][2, 0])


def test_with_unobserved_adds_every_pair():
    propensities = torch.full((3, 3), 0.5)
    full = make_split().with_unobserved(propensity_matrix=propensities)
    assert len(full) == 9
    assert full.exposure.sum().item() == 4
    assert full.rating[full.exposure == 0].unique().tolist() == [1.0]
    assert full.propensity.tolist() == [0.5] * 9
    assert full.weight is None
    pairs = set(zip(full.user.tolist(), full.item.tolist()))
    assert len(pairs) == 9


def test_with_unobserved_samples_with_weights():
    sampled = make_split().with_unobserved(num_unobserved=2, seed=1)
    assert len(sampled) == 6
    assert sampled.weight[:4].tolist() == [1.0] * 4
    assert sampled.weight[4:].sum().item() == pytest.approx(5.0)


def test_with_unobserved_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"has no rating column"):
        make_split(rating=None).with_unobserved()
    with pytest.raises(ValueError, match=r"already has an exposure column"):
        make_split(exposure=torch.ones(4)).with_unobserved()
    with pytest.raises(ValueError, match=r"num_unobserved must be >= 1 or None, got 0"):
        make_split().with_unobserved(num_unobserved=0)


def test_schema_lists_columns():
    schema = make_split(timestamp=torch.tensor([1, 2, 3, 4])).schema()
    assert schema["num_rows"] == 4
    assert schema["columns"] == ["rating", "timestamp"]
    assert schema["rating_scale"] == [1.0, 5.0]


def test_rating_data_sizes_and_lookup():
    data = make_data()
    assert (data.n_users, data.n_items) == (3, 3)
    assert "train" in data
    assert "test" not in data
    assert data.user_index(["c", "a"]).tolist() == [2, 0]
    assert data.item_index(20).tolist() == [1]
    assert "n_users=3" in repr(data)


def test_rating_data_needs_a_split():
    with pytest.raises(ValueError, match=r"needs at least one split, got none"):
        RatingData({}, [0], [0])


def test_rating_data_rejects_size_mismatch():
    with pytest.raises(ValueError, match=r"has 3 users and 3 items, but the id maps have 2 and 3"):
        RatingData({"train": make_split()}, ["a", "b"], [10, 20, 30])


def test_rating_data_unknown_split():
    with pytest.raises(KeyError, match=r"has no split 'valid'; available splits: \['train'\]"):
        make_data()["valid"]


def test_rating_data_unknown_id():
    with pytest.raises(KeyError, match=r"Unknown user id\(s\) \['z'\]"):
        make_data().user_index(["a", "z"])


def test_with_split_keeps_tables_and_info():
    info = pd.DataFrame({"title": ["x", "y", "z"]})
    data = make_data(item_info=info, rating_scale=(1.0, 5.0))
    assert data.user_info is None
    bigger = data.with_split(make_split("test"))
    assert set(bigger.splits) == {"train", "test"}
    assert bigger.item_info is info
    assert bigger.rating_scale == (1.0, 5.0)
    assert set(data.splits) == {"train"}
