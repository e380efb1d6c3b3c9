"""Tests of the rating metrics and of the input checks they share with the other metrics."""

import numpy as np
import pytest
import torch

from causalrec_pyro.evaluation import mae, mse


def test_mse_hand_computed():
    # errors: 3 - 2 = 1, 4 - 4 = 0, 1 - 3 = -2, so MSE = (1 + 0 + 4) / 3 = 5 / 3.
    assert mse([3.0, 4.0, 1.0], [2.0, 4.0, 3.0]) == pytest.approx(5.0 / 3.0, rel=1e-12)


def test_mae_hand_computed():
    # |errors| = 1, 0, 2, so MAE = 3 / 3 = 1.
    assert mae([3.0, 4.0, 1.0], [2.0, 4.0, 3.0]) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("metric", [mse, mae])
def test_rating_metrics_input_types(metric):
    prediction = [3.5, 2.0, 4.25, 1.0]
    rating = [4, 2, 5, 3]
    expected = metric(prediction, rating)

    from_numpy = metric(np.array(prediction), np.array(rating))
    from_tensor = metric(torch.tensor(prediction), torch.tensor(rating))
    from_mixed = metric(torch.tensor(prediction, dtype=torch.float32), np.array(rating))

    assert type(expected) is float
    assert type(from_tensor) is float
    assert from_numpy == pytest.approx(expected, rel=1e-12)
    assert from_tensor == pytest.approx(expected, rel=1e-12)
    assert from_mixed == pytest.approx(expected, rel=1e-12)


def test_rating_metrics_match_numpy():
    rng = np.random.default_rng(0)
    prediction = rng.normal(3.0, 1.0, size=300)
    rating = rng.integers(1, 6, size=300)

    assert mse(prediction, rating) == pytest.approx(np.mean((prediction - rating) ** 2), rel=1e-12)
    assert mae(prediction, rating) == pytest.approx(np.mean(np.abs(prediction - rating)), rel=1e-12)


def test_mse_reads_reversed_view():
    # A reversed view has a negative stride, which torch.from_numpy rejects.
    prediction = np.array([1.0, 2.0, 4.0])[::-1]
    assert mse(prediction, [4.0, 2.0, 1.0]) == 0.0


def test_mse_rejects_length_mismatch():
    message = (
        "prediction and rating must have the same length; got lengths prediction=3, rating=2. "
        "Pass one entry per rating, in the same row order, in each of them."
    )
    with pytest.raises(ValueError) as error:
        mse([1.0, 2.0, 3.0], [1.0, 2.0])
    assert str(error.value) == message


def test_mse_rejects_two_dimensional_input():
    with pytest.raises(ValueError, match=r"prediction must be a 1-D array .* got shape \(2, 1\)"):
        mse(np.ones((2, 1)), [1.0, 2.0])


def test_mae_rejects_scalar_input():
    with pytest.raises(ValueError, match=r"rating must be a 1-D array .* got shape \(\)"):
        mae([1.0], 1.0)


def test_mse_rejects_empty_input():
    with pytest.raises(ValueError, match="prediction is empty; pass at least one rating"):
        mse([], [])


def test_mse_rejects_nan_rating():
    rating = [1.0, float("nan"), 3.0, float("nan")]
    with pytest.raises(ValueError, match=r"rating contains 2 NaN value\(s\), the first at row 1\."):
        mse([1.0, 2.0, 3.0, 4.0], rating)


def test_mae_rejects_nan_tensor():
    prediction = torch.tensor([1.0, 2.0, float("nan")])
    with pytest.raises(
        ValueError, match=r"prediction contains 1 NaN value\(s\), the first at row 2"
    ):
        mae(prediction, [1.0, 2.0, 3.0])


def test_mse_rejects_strings():
    with pytest.raises(
        TypeError, match="rating must contain real numbers; got an array of dtype <U1"
    ):
        mse([1.0, 2.0], ["4", "5"])


def test_mse_rejects_complex_tensor():
    with pytest.raises(TypeError, match="prediction must contain real numbers; got a tensor"):
        mse(torch.tensor([1.0 + 1.0j]), [1.0])
