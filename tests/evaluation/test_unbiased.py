"""Tests of the IPS, SNIPS and doubly robust MSE estimators."""

import numpy as np
import pytest
import torch

from causalrec_pyro.evaluation import doubly_robust_mse, ips_mse, snips_mse

# Hand-computed case: three observed pairs out of N = 6.
# squared errors: (3 - 2)^2 = 1, (4 - 4)^2 = 0, (1 - 3)^2 = 4; propensities 0.5, 0.25, 0.8.
# IPS   = (1 / 0.5 + 0 / 0.25 + 4 / 0.8) / 6 = (2 + 0 + 5) / 6 = 7 / 6.
# SNIPS = (2 + 0 + 5) / (1 / 0.5 + 1 / 0.25 + 1 / 0.8) = 7 / 7.25.
PREDICTION = [3.0, 4.0, 1.0]
RATING = [2.0, 4.0, 3.0]
PROPENSITY = [0.5, 0.25, 0.8]


def simulate_population(seed):
    """Draw a population of 20 x 30 user-item pairs whose observation depends on the rating.

    The predictions are much worse on low ratings, and low ratings are rarely observed, so
    the plain mean over observed pairs underestimates the MSE.
    """
    rng = np.random.default_rng(seed)
    rating = rng.integers(1, 6, size=20 * 30).astype(float)
    prediction = np.where(rating <= 2, rating + 2.0, rating) + rng.normal(0.0, 0.5, rating.size)
    propensity = np.array([0.05, 0.1, 0.2, 0.4, 0.6])[rating.astype(int) - 1]
    return rng, prediction, rating, propensity


def test_ips_mse_hand_computed():
    result = ips_mse(PREDICTION, RATING, PROPENSITY, num_pairs=6)
    assert result == pytest.approx(7.0 / 6.0, rel=1e-12)


def test_snips_mse_hand_computed():
    assert snips_mse(PREDICTION, RATING, PROPENSITY) == pytest.approx(7.0 / 7.25, rel=1e-12)


def test_dr_hand_computed():
    # Six pairs, observed at rows 0, 2 and 3. Squared errors there: 1, 4, 0.
    # Imputed errors 0.5 for every pair, so the sum of imputed errors is 3.
    # Corrections (error - imputed) / propensity: (1 - 0.5) / 0.5 = 1, (4 - 0.5) / 0.7 = 5,
    # (0 - 0.5) / 0.25 = -2. DR = (3 + 1 + 5 - 2) / 6 = 7 / 6.
    nan = float("nan")
    result = doubly_robust_mse(
        prediction=[3.0, 9.0, 1.0, 4.0, 2.0, 5.0],
        rating=[2.0, nan, 3.0, 4.0, nan, nan],
        propensity=[0.5, 0.1, 0.7, 0.25, 0.3, 0.2],
        imputed_error=[0.5] * 6,
        observed_mask=[True, False, True, True, False, False],
    )
    assert result == pytest.approx(7.0 / 6.0, rel=1e-12)


def test_estimators_accept_tensors():
    prediction = torch.tensor(PREDICTION)
    rating = torch.tensor(RATING)
    propensity = torch.tensor(PROPENSITY)

    ips = ips_mse(prediction, rating, propensity, num_pairs=6)
    snips = snips_mse(prediction, rating, propensity)

    assert type(ips) is float
    assert type(snips) is float
    assert ips == pytest.approx(7.0 / 6.0, rel=1e-6)
    assert snips == pytest.approx(7.0 / 7.25, rel=1e-6)


def test_snips_constant_propensity_is_mean():
    # 1, 0, 4 are the squared errors, so the plain mean is 5 / 3.
    assert snips_mse(PREDICTION, RATING, [0.3, 0.3, 0.3]) == pytest.approx(5.0 / 3.0, rel=1e-12)


def test_ips_full_observation_is_mse():
    # Propensity 1 and every pair observed: IPS is the plain MSE, (1 + 0 + 4) / 3.
    assert ips_mse(PREDICTION, RATING, [1.0, 1.0, 1.0], num_pairs=3) == pytest.approx(5.0 / 3.0)


def test_dr_exact_with_true_imputation():
    # When the imputed errors are the true errors, every correction is zero, so DR equals
    # the full-data MSE for any observation mask and any propensities.
    rng, prediction, rating, propensity = simulate_population(seed=3)
    true_error = (prediction - rating) ** 2
    observed = rng.uniform(size=rating.size) < propensity

    result = doubly_robust_mse(prediction, rating, propensity, true_error, observed)

    assert result == pytest.approx(true_error.mean(), rel=1e-12)


def test_ips_unbiased_under_mnar():
    rng, prediction, rating, propensity = simulate_population(seed=0)
    squared_error = (prediction - rating) ** 2
    true_mse = squared_error.mean()
    num_pairs = rating.size
    num_draws = 4000

    estimates = []
    for _ in range(num_draws):
        observed = rng.uniform(size=num_pairs) < propensity
        estimates.append(
            ips_mse(
                prediction[observed], rating[observed], propensity[observed], num_pairs=num_pairs
            )
        )
    mean_estimate = np.mean(estimates)

    # Exact variance of one IPS draw with independent Bernoulli(p) observations:
    # Var = sum(delta^2 (1 - p) / p) / N^2. By the normal approximation, the mean over draws
    # lies within 4 standard errors of the truth with probability 0.99994.
    variance = np.sum(squared_error**2 * (1.0 - propensity) / propensity) / num_pairs**2
    tolerance = 4.0 * np.sqrt(variance / num_draws)
    # The tolerance must be far smaller than the bias of the naive observed-pair mean,
    # E[sum(O delta)] / E[sum(O)], or a biased estimator could pass too.
    naive_bias = np.sum(propensity * squared_error) / np.sum(propensity) - true_mse

    assert abs(naive_bias) > 10.0 * tolerance
    assert tolerance < 0.02 * true_mse
    assert abs(mean_estimate - true_mse) < tolerance


def test_dr_unbiased_with_wrong_imputation():
    rng, prediction, rating, propensity = simulate_population(seed=1)
    squared_error = (prediction - rating) ** 2
    true_mse = squared_error.mean()
    # A deliberately poor imputation: the same error for every pair.
    imputed_error = np.full(rating.size, 0.5)
    num_draws = 2000

    estimates = []
    for _ in range(num_draws):
        observed = rng.uniform(size=rating.size) < propensity
        estimates.append(doubly_robust_mse(prediction, rating, propensity, imputed_error, observed))
    mean_estimate = np.mean(estimates)

    # Var = sum((delta - imputed)^2 (1 - p) / p) / N^2 for one draw.
    residual = squared_error - imputed_error
    variance = np.sum(residual**2 * (1.0 - propensity) / propensity) / rating.size**2
    tolerance = 4.0 * np.sqrt(variance / num_draws)
    imputation_bias = imputed_error.mean() - true_mse

    assert abs(imputation_bias) > 10.0 * tolerance
    assert abs(mean_estimate - true_mse) < tolerance


@pytest.mark.parametrize("bad_value", [0.0, 1.5, -0.2])
def test_estimators_reject_bad_propensity(bad_value):
    propensity = [0.5, bad_value, 0.8]
    message = (
        rf"propensity must lie in \(0, 1\]; got 1 value\(s\) outside it, the first {bad_value}"
    )
    with pytest.raises(ValueError, match=message):
        ips_mse(PREDICTION, RATING, propensity, num_pairs=6)
    with pytest.raises(ValueError, match=message):
        snips_mse(PREDICTION, RATING, propensity)


def test_estimators_reject_nan_propensity():
    with pytest.raises(
        ValueError, match=r"propensity contains 1 NaN value\(s\), the first at row 2"
    ):
        snips_mse(PREDICTION, RATING, [0.5, 0.5, float("nan")])


def test_ips_mse_rejects_too_few_pairs():
    message = r"num_pairs must be at least the number of observed ratings \(3\); got 2\."
    with pytest.raises(ValueError, match=message):
        ips_mse(PREDICTION, RATING, PROPENSITY, num_pairs=2)


def test_ips_mse_rejects_non_integer_pairs():
    with pytest.raises(TypeError, match="num_pairs must be an int; got float 6.0"):
        ips_mse(PREDICTION, RATING, PROPENSITY, num_pairs=6.0)


def test_ips_mse_rejects_length_mismatch():
    message = (
        "prediction, rating and propensity must have the same length; "
        "got lengths prediction=3, rating=3, propensity=2"
    )
    with pytest.raises(ValueError, match=message):
        ips_mse(PREDICTION, RATING, [0.5, 0.5], num_pairs=6)


def test_dr_rejects_non_binary_mask():
    with pytest.raises(
        ValueError, match="observed_mask must contain only True/False or 0/1; got 2"
    ):
        doubly_robust_mse(PREDICTION, RATING, PROPENSITY, [0.1, 0.1, 0.1], [1, 2, 0])


def test_dr_accepts_integer_mask():
    boolean = doubly_robust_mse(PREDICTION, RATING, PROPENSITY, [0.1] * 3, [True, False, True])
    integer = doubly_robust_mse(PREDICTION, RATING, PROPENSITY, [0.1] * 3, [1, 0, 1])
    assert integer == boolean


def test_dr_rejects_observed_nan_rating():
    rating = [2.0, float("nan"), 3.0]
    with pytest.raises(ValueError, match=r"rating contains 1 NaN value\(s\), the first at row 1"):
        doubly_robust_mse(PREDICTION, rating, PROPENSITY, [0.1] * 3, [True, True, False])


def test_dr_ignores_unobserved_pairs():
    # Row 1 is unobserved, so its propensity and NaN rating are never read.
    result = doubly_robust_mse(
        PREDICTION, [2.0, float("nan"), 3.0], [0.5, 0.0, 0.8], [0.5] * 3, [True, False, True]
    )
    # (1.5 + (1 - 0.5) / 0.5 + (4 - 0.5) / 0.8) / 3 = (1.5 + 1 + 4.375) / 3.
    assert result == pytest.approx((1.5 + 1.0 + 4.375) / 3.0, rel=1e-12)


def test_dr_rejects_observed_zero_propensity():
    with pytest.raises(ValueError, match=r"propensity must lie in \(0, 1\]; .* at row 1\."):
        doubly_robust_mse(PREDICTION, RATING, [0.5, 0.0, 0.8], [0.5] * 3, [True, True, True])


def test_dr_rejects_nan_imputed_error():
    with pytest.raises(
        ValueError, match=r"imputed_error contains 1 NaN value\(s\), the first at row 0"
    ):
        doubly_robust_mse(PREDICTION, RATING, PROPENSITY, [float("nan"), 0.1, 0.1], [1, 1, 1])


def test_dr_rejects_short_mask():
    with pytest.raises(ValueError, match="got lengths .*observed_mask=2"):
        doubly_robust_mse(PREDICTION, RATING, PROPENSITY, [0.1] * 3, [True, False])
