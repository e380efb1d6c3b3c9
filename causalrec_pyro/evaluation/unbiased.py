r"""Estimators of the MSE over all user-item pairs from ratings observed missing not at random.

The target is the MSE over the whole population of :math:`N` user-item pairs (typically
:math:`N = n_{\mathrm{users}} \cdot n_{\mathrm{items}}`):

.. math::

    R = \frac{1}{N} \sum_{u,i} \delta_{u,i}, \qquad \delta_{u,i} = (\hat{y}_{u,i} - y_{u,i})^2.

Only pairs with :math:`O_{u,i} = 1` are observed, with propensity
:math:`p_{u,i} = P(O_{u,i} = 1) > 0`. The plain mean of :math:`\delta` over observed pairs is
biased when what is observed depends on the rating. Inverse-propensity weighting removes that
bias when the propensities are right. The IPS and SNIPS estimators follow Schnabel et al.
(2016), "Recommendations as Treatments: Debiasing Learning and Evaluation", ICML.
"""

from __future__ import annotations

import numbers

import torch

from .ratings import (
    ArrayLike,
    _check_no_nan,
    _check_same_length,
    _find_device,
    _to_float_tensor,
    _to_tensor,
)


def _check_propensity(propensity: torch.Tensor, observed: torch.Tensor | None = None) -> None:
    """Raise ValueError unless every propensity, or every observed one, lies in (0, 1]."""
    invalid = (propensity <= 0) | (propensity > 1)
    if observed is not None:
        invalid &= observed
    if bool(invalid.any()):
        count = int(invalid.sum())
        first_row = int(torch.nonzero(invalid)[0, 0])
        raise ValueError(
            f"propensity must lie in (0, 1]; got {count} value(s) outside it, the first "
            f"{float(propensity[first_row])} at row {first_row}. Every observed pair needs a "
            f"positive observation probability. Clip estimated propensities, for example with "
            f"propensity.clamp(min=1e-3, max=1.0)."
        )


def _weighted_errors(
    prediction: ArrayLike, rating: ArrayLike, propensity: ArrayLike
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the observed-pair inputs and return the squared errors and the propensities."""
    device = _find_device(prediction, rating, propensity)
    prediction_tensor = _to_float_tensor("prediction", prediction, device)
    rating_tensor = _to_float_tensor("rating", rating, device)
    propensity_tensor = _to_float_tensor("propensity", propensity, device)
    _check_same_length(
        {"prediction": prediction_tensor, "rating": rating_tensor, "propensity": propensity_tensor}
    )
    _check_propensity(propensity_tensor)
    return (prediction_tensor - rating_tensor).square(), propensity_tensor


def ips_mse(
    prediction: ArrayLike, rating: ArrayLike, propensity: ArrayLike, *, num_pairs: int
) -> float:
    r"""Estimate the MSE over all user-item pairs by inverse-propensity scoring (IPS).

    .. math::

        \hat{R}_{\mathrm{IPS}} = \frac{1}{N} \sum_{(u,i):\, O_{u,i} = 1}
            \frac{(\hat{y}_{u,i} - y_{u,i})^2}{p_{u,i}}

    The estimate is unbiased for the MSE over all :math:`N` pairs when the propensities are
    the true observation probabilities and every pair has :math:`p_{u,i} > 0`.

    Parameters
    ----------
    prediction : torch.Tensor, numpy.ndarray or list, shape (n,)
        Predicted rating of each observed pair.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed rating of each observed pair.
    propensity : torch.Tensor, numpy.ndarray or list, shape (n,)
        Probability :math:`p_{u,i}` that each observed pair was observed, in (0, 1].
    num_pairs : int
        Number :math:`N` of user-item pairs the MSE is taken over, for example
        ``n_users * n_items``. It must be at least ``n``.

    Returns
    -------
    float
        The IPS estimate of the MSE.

    Raises
    ------
    TypeError
        If ``num_pairs`` is not an integer.
    ValueError
        If an input is not 1-D, is empty or contains NaN, if the lengths differ, if a
        propensity is outside (0, 1], or if ``num_pairs < n``.

    Examples
    --------
    >>> ips_mse([3.0, 4.0], [2.0, 4.0], [0.5, 0.25], num_pairs=4)
    0.5
    """
    squared_error, propensity_tensor = _weighted_errors(prediction, rating, propensity)
    num_observed = squared_error.shape[0]
    if isinstance(num_pairs, bool) or not isinstance(num_pairs, numbers.Integral):
        raise TypeError(
            f"num_pairs must be an int; got {type(num_pairs).__name__} {num_pairs!r}. Pass the "
            f"number of user-item pairs, for example n_users * n_items."
        )
    if num_pairs < num_observed:
        raise ValueError(
            f"num_pairs must be at least the number of observed ratings ({num_observed}); got "
            f"{num_pairs}. Pass the number of user-item pairs, for example n_users * n_items."
        )
    return float((squared_error / propensity_tensor).sum() / num_pairs)


def snips_mse(prediction: ArrayLike, rating: ArrayLike, propensity: ArrayLike) -> float:
    r"""Estimate the MSE over all user-item pairs by self-normalized IPS (SNIPS).

    .. math::

        \hat{R}_{\mathrm{SNIPS}} =
            \frac{\sum_{(u,i):\, O_{u,i} = 1} (\hat{y}_{u,i} - y_{u,i})^2 / p_{u,i}}
                 {\sum_{(u,i):\, O_{u,i} = 1} 1 / p_{u,i}}

    The denominator estimates :math:`N`, so no pair count is needed. SNIPS is biased but
    consistent and usually has a lower variance than IPS. With constant propensities it
    equals the plain mean of the observed squared errors.

    Parameters
    ----------
    prediction : torch.Tensor, numpy.ndarray or list, shape (n,)
        Predicted rating of each observed pair.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed rating of each observed pair.
    propensity : torch.Tensor, numpy.ndarray or list, shape (n,)
        Probability :math:`p_{u,i}` that each observed pair was observed, in (0, 1].

    Returns
    -------
    float
        The SNIPS estimate of the MSE.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty or contains NaN, if the lengths differ, or if a
        propensity is outside (0, 1].

    Examples
    --------
    >>> snips_mse([3.0, 4.0], [2.0, 4.0], [0.5, 0.25])
    0.3333333333333333
    """
    squared_error, propensity_tensor = _weighted_errors(prediction, rating, propensity)
    inverse_propensity = 1.0 / propensity_tensor
    return float((squared_error * inverse_propensity).sum() / inverse_propensity.sum())


def doubly_robust_mse(
    prediction: ArrayLike,
    rating: ArrayLike,
    propensity: ArrayLike,
    imputed_error: ArrayLike,
    observed_mask: ArrayLike,
) -> float:
    r"""Estimate the MSE over all user-item pairs by the doubly robust (DR) estimator.

    Every argument has one entry per user-item pair of the population, so its length is
    :math:`N`. With imputed squared errors :math:`\hat{\delta}_{u,i}` for all pairs:

    .. math::

        \hat{R}_{\mathrm{DR}} = \frac{1}{N} \sum_{u,i} \left( \hat{\delta}_{u,i}
            + \frac{O_{u,i}\, (\delta_{u,i} - \hat{\delta}_{u,i})}{p_{u,i}} \right),
        \qquad \delta_{u,i} = (\hat{y}_{u,i} - y_{u,i})^2.

    The estimate is unbiased when the propensities are the true observation probabilities,
    whatever the imputation. It equals the MSE over all pairs exactly when the imputed errors
    are the true ones, whatever the propensities.

    Parameters
    ----------
    prediction : torch.Tensor, numpy.ndarray or list, shape (N,)
        Predicted rating of each pair. Only observed pairs are read.
    rating : torch.Tensor, numpy.ndarray or list, shape (N,)
        Rating of each pair. Only observed pairs are read, so unobserved ones may be NaN.
    propensity : torch.Tensor, numpy.ndarray or list, shape (N,)
        Observation probability of each pair. Observed pairs must lie in (0, 1].
    imputed_error : torch.Tensor, numpy.ndarray or list, shape (N,)
        Imputed squared error :math:`\hat{\delta}_{u,i}` of each pair, for example from a
        model of the error fitted on the observed pairs.
    observed_mask : torch.Tensor, numpy.ndarray or list, shape (N,)
        :math:`O_{u,i}`: True or 1 where the rating was observed, False or 0 elsewhere.

    Returns
    -------
    float
        The DR estimate of the MSE.

    Raises
    ------
    ValueError
        If an input is not 1-D or is empty, if the lengths differ, or if ``observed_mask``
        contains a value other than 0 or 1. Also if ``imputed_error`` contains NaN, or if an
        observed pair has a NaN input or a propensity outside (0, 1].

    Examples
    --------
    >>> doubly_robust_mse(prediction=[3.0, 4.0, 2.0], rating=[2.0, 4.0, float("nan")],
    ...                   propensity=[0.5, 0.5, 0.5], imputed_error=[0.5, 0.5, 0.5],
    ...                   observed_mask=[True, True, False])
    0.5
    """
    device = _find_device(prediction, rating, propensity, imputed_error, observed_mask)
    mask_tensor = _to_tensor("observed_mask", observed_mask, device)
    is_binary = (mask_tensor == 0) | (mask_tensor == 1)
    if not bool(is_binary.all()):
        first_row = int(torch.nonzero(~is_binary)[0, 0])
        raise ValueError(
            f"observed_mask must contain only True/False or 0/1; got "
            f"{mask_tensor[first_row].item()!r} at row {first_row}. Pass a boolean mask of the "
            f"observed pairs."
        )
    observed = mask_tensor.to(torch.bool)

    # Unobserved entries of these arrays are never read, so NaN there is allowed.
    tensors = {
        name: _to_tensor(name, value, device).to(torch.float64)
        for name, value in (
            ("prediction", prediction),
            ("rating", rating),
            ("propensity", propensity),
        )
    }
    imputed_tensor = _to_float_tensor("imputed_error", imputed_error, device)
    _check_same_length({**tensors, "imputed_error": imputed_tensor, "observed_mask": observed})
    for name, tensor in tensors.items():
        _check_no_nan(name, torch.where(observed, tensor, 0.0))
    _check_propensity(tensors["propensity"], observed)

    # torch.where drops the correction of unobserved pairs, so a NaN rating there never reaches
    # the sum. Their propensity is set to 1 to keep the division finite.
    propensity_tensor = torch.where(observed, tensors["propensity"], 1.0)
    squared_error = (tensors["prediction"] - tensors["rating"]).square()
    correction = torch.where(observed, (squared_error - imputed_tensor) / propensity_tensor, 0.0)
    return float((imputed_tensor + correction).mean())
