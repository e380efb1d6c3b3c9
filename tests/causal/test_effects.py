"""average_effect, individual_effect and uplift_ranking: exact values, groups and a fitted check."""

import numpy as np
import pandas as pd
import pytest
import torch

from causalrec_pyro import Split, fit_svi, simulate
from causalrec_pyro.causal import average_effect, individual_effect, uplift_ranking
from causalrec_pyro.data.simulate import simulator_scm


def _true_uplift(world, pairs) -> torch.Tensor:
    """sigmoid(base + exposure_effect) - sigmoid(base) for each pair, from the true parameters."""
    params = world.params
    preference = params["item_quality"][pairs["item"]] + (
        params["user_pref"][pairs["user"]] * params["item_factors"][pairs["item"]]
    ).sum(-1)
    base = params["click_offset"] + params["click_preference"] * preference
    return torch.sigmoid(base + params["exposure_effect"]) - torch.sigmoid(base)


def test_true_parameters_give_true_effect(world, world_pairs, true_posterior):
    effect = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, num_samples=1
    )
    torch.testing.assert_close(effect.mean, torch.tensor(world.click_effect), rtol=1e-5, atol=0)
    assert effect.std == 0.0
    assert effect.ci_low == effect.ci_high == effect.mean
    assert effect.draws.shape == (1,)
    assert effect.groups is None


def test_individual_effect_closed_form(world, world_pairs, true_posterior):
    result = individual_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, num_samples=3, chunk_size=2
    )
    assert result.shape == (3, 120)
    torch.testing.assert_close(
        result, _true_uplift(world, world_pairs).expand(3, -1), rtol=1e-5, atol=1e-7
    )


def test_effect_by_user_and_item(world, world_pairs, true_posterior):
    uplift = _true_uplift(world, world_pairs)
    for by, count in (("user", 12), ("item", 10)):
        effect = average_effect(
            true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, by=by, num_samples=1
        )
        expected = torch.zeros(count).index_add_(0, world_pairs[by], uplift) / (120 / count)
        assert effect.draws.shape == (1, count)
        assert list(effect.groups) == list(range(count))
        assert effect.groups.name == by
        torch.testing.assert_close(effect.mean, expected, rtol=1e-5, atol=1e-7)
        assert effect.group_sizes.tolist() == [120 // count] * count


def test_effect_by_feature_column(world, true_posterior):
    group = pd.DataFrame({"segment": np.arange(12) % 3 * 1.0}, index=np.arange(12))
    split = Split(
        "pairs",
        world.pairs["user"],
        world.pairs["item"],
        12,
        10,
        rating=world.pairs["rating"],
        exposure=world.pairs["exposure"],
        user_features=group,
    )
    effect = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, split, by="segment", num_samples=1
    )
    uplift = _true_uplift(world, world.pairs)
    labels = world.pairs["user"] % 3
    expected = torch.stack([uplift[labels == g].mean() for g in range(3)])
    assert list(effect.groups) == [0, 1, 2]
    # Whole-number codes of a float feature column are shown as integers.
    assert effect.groups.dtype.kind == "i"
    torch.testing.assert_close(effect.mean, expected, rtol=1e-5, atol=1e-7)
    frame = effect.to_frame()
    assert list(frame.columns) == ["mean", "std", "ci_low (90%)", "ci_high (90%)", "units"]
    assert frame["units"].tolist() == [40, 40, 40]


def test_effect_by_label_tensor(world_pairs, true_posterior):
    labels = (world_pairs["item"] >= 5).long()
    effect = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, by=labels, num_samples=1
    )
    overall = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, num_samples=1
    )
    torch.testing.assert_close(effect.mean.mean(), overall.mean, rtol=1e-5, atol=0)


def test_policy_contrast(world_pairs, true_posterior):
    everything = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, num_samples=1
    )
    half = average_effect(
        true_posterior,
        "exposure",
        "click",
        lambda kwargs: (kwargs["item"] < 5).float(),
        0.0,
        world_pairs,
        num_samples=1,
    )
    assert 0.0 < half.mean < everything.mean


def test_uplift_ranking_top_k(world, world_pairs, true_posterior):
    table = uplift_ranking(true_posterior, world_pairs, k=3, num_samples=1)
    assert list(table.columns) == ["user", "item", "rank", "uplift", "uplift_std", "prob_positive"]
    assert len(table) == 36
    uplift = _true_uplift(world, world_pairs).reshape(12, 10)
    expected_items = uplift.argsort(dim=1, descending=True)[:, :3]
    assert table["item"].to_numpy().reshape(12, 3).tolist() == expected_items.tolist()
    assert table["rank"].tolist() == [1, 2, 3] * 12
    assert (table["prob_positive"] == 1.0).all()


def test_fitted_interval_covers_truth():
    # Preference drives both exposure and clicks, so the naive contrast is far off.
    world = simulate(n_users=20, n_items=15, seed=0)
    pairs = {**world.pairs, "n_users": 20, "n_items": 15}
    assert world.naive_click_contrast > 2 * world.click_effect
    posterior = fit_svi(simulator_scm(), pairs, num_steps=300, lr=0.05, progress=False, seed=0)
    effect = average_effect(posterior, "exposure", "click", 1.0, 0.0, pairs, num_samples=200)
    assert effect.ci_low <= world.click_effect <= effect.ci_high
    assert not effect.ci_low <= world.naive_click_contrast <= effect.ci_high
    assert effect.std > 0


# ---------------------------------------------------------------------- errors
def test_outcome_not_downstream_raises(world_pairs, true_posterior):
    with pytest.raises(
        ValueError, match=r"Outcome 'exposure' does not descend from treatment 'click'"
    ):
        average_effect(true_posterior, "click", "exposure", 1.0, 0.0, world_pairs, num_samples=1)


def test_invalid_level_raises(world_pairs, true_posterior):
    with pytest.raises(ValueError, match=r"ci must be a level in \(0, 1\), such as 0.9, got 90"):
        average_effect(true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, ci=90)


def test_unknown_treatment_raises(world_pairs, true_posterior):
    with pytest.raises(ValueError, match=r"treatment names the site 'shown'"):
        average_effect(true_posterior, "shown", "click", 1.0, 0.0, world_pairs)


def test_unknown_group_column_raises(world, true_posterior):
    with pytest.raises(ValueError, match=r"by='age' is not 'user', 'item' or a feature column"):
        average_effect(
            true_posterior,
            "exposure",
            "click",
            1.0,
            0.0,
            world.data["test"],
            by="age",
            num_samples=1,
        )


def test_feature_column_needs_tables(world_pairs, true_posterior):
    with pytest.raises(
        ValueError, match=r"by='gender' names a feature column, which needs data given as a Split"
    ):
        average_effect(
            true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, by="gender", num_samples=1
        )


def test_group_labels_wrong_length_raise(world_pairs, true_posterior):
    with pytest.raises(
        ValueError, match=r"one group label per unit, shape \(120,\), got shape \(5,\)"
    ):
        average_effect(
            true_posterior,
            "exposure",
            "click",
            1.0,
            0.0,
            world_pairs,
            by=torch.arange(5),
            num_samples=1,
        )


def test_missing_group_values_raise(world_pairs, true_posterior):
    labels = torch.zeros(120)
    labels[3] = float("nan")
    with pytest.raises(
        ValueError, match=r"Group column 'group' is missing \(NaN\) for 1 of 120 units"
    ):
        average_effect(
            true_posterior, "exposure", "click", 1.0, 0.0, world_pairs, by=labels, num_samples=1
        )


def test_uplift_k_checked(world_pairs, true_posterior):
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        uplift_ranking(true_posterior, world_pairs, k=0)


def test_group_column_prefix_picks_table(world, true_posterior):
    import dataclasses

    import pandas as pd

    test = world.data["test"]
    shared = pd.DataFrame({"colour": (pd.RangeIndex(test.n_users) % 2).astype(float)})
    item_table = pd.DataFrame({"colour": (pd.RangeIndex(test.n_items) % 3).astype(float)})
    split = dataclasses.replace(test, user_features=shared, item_features=item_table)
    with pytest.raises(ValueError, match=r"write 'user:colour' or 'item:colour'"):
        average_effect(true_posterior, "exposure", "click", 1.0, 0.0, split, by="colour")
    by_user = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, split, by="user:colour", num_samples=2
    )
    by_item = average_effect(
        true_posterior, "exposure", "click", 1.0, 0.0, split, by="item:colour", num_samples=2
    )
    assert len(by_user.groups) == 2
    assert len(by_item.groups) == 3
