r"""Rating-prediction metrics and the input checks shared by the evaluation modules.

Every metric accepts torch tensors, numpy arrays or lists, computes in float64 on the
device of the first tensor argument (CPU when none is a tensor) and returns a Python float.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


# NOTE: the tests run on the CPU only, so inputs on a CUDA device have not been exercised.
def _find_device(*values: object) -> torch.device:
    """Return the device of the first tensor among ``values``, or the CPU when none is a tensor."""
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")


def _to_tensor(name: str, value: ArrayLike, device: torch.device) -> torch.Tensor:
    """Convert ``value`` to a non-empty 1-D real tensor on ``device``, keeping its dtype.

    Raises
    ------
    ValueError
        If ``value`` is not 1-D or is empty.
    TypeError
        If ``value`` does not contain real numbers.
    """
    data = value if isinstance(value, torch.Tensor) else np.asarray(value)
    if data.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array with one entry per rating; got shape "
            f"{tuple(data.shape)}. Flatten it first, for example with {name}.reshape(-1)."
        )
    if data.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one rating to evaluate.")

    if isinstance(data, torch.Tensor):
        if data.is_complex():
            raise TypeError(
                f"{name} must contain real numbers; got a tensor of dtype {data.dtype}. "
                f"Convert it to floats or integers first."
            )
        return data.to(device)
    if data.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must contain real numbers; got an array of dtype {data.dtype}. "
            f"Convert it to floats or integers first."
        )
    return torch.from_numpy(np.ascontiguousarray(data)).to(device)


def _check_no_nan(name: str, tensor: torch.Tensor) -> None:
    """Raise ValueError if the 1-D ``tensor`` contains NaN, naming the count and the first row."""
    if not tensor.is_floating_point():
        return
    is_nan = torch.isnan(tensor)
    if bool(is_nan.any()):
        count = int(is_nan.sum())
        first_row = int(torch.nonzero(is_nan)[0, 0])
        raise ValueError(
            f"{name} contains {count} NaN value(s), the first at row {first_row}. "
            f"Drop or impute those rows before evaluating."
        )


def _to_float_tensor(name: str, value: ArrayLike, device: torch.device) -> torch.Tensor:
    """Convert ``value`` to a NaN-free 1-D float64 tensor on ``device``."""
    tensor = _to_tensor(name, value, device).to(torch.float64)
    _check_no_nan(name, tensor)
    return tensor


def _check_same_length(tensors: dict[str, torch.Tensor]) -> None:
    """Raise ValueError unless all ``tensors`` (keyed by argument name) have the same length."""
    lengths = {name: tensor.shape[0] for name, tensor in tensors.items()}
    if len(set(lengths.values())) > 1:
        *leading, last = lengths
        names = f"{', '.join(leading)} and {last}"
        got = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(
            f"{names} must have the same length; got lengths {got}. "
            f"Pass one entry per rating, in the same row order, in each of them."
        )


def _prediction_error(prediction: ArrayLike, rating: ArrayLike) -> torch.Tensor:
    """Return ``prediction - rating`` as float64 after checking both inputs."""
    device = _find_device(prediction, rating)
    prediction_tensor = _to_float_tensor("prediction", prediction, device)
    rating_tensor = _to_float_tensor("rating", rating, device)
    _check_same_length({"prediction": prediction_tensor, "rating": rating_tensor})
    return prediction_tensor - rating_tensor


def mse(prediction: ArrayLike, rating: ArrayLike) -> float:
    r"""Compute the mean squared error of rating predictions.

    .. math::

        \mathrm{MSE} = \frac{1}{n} \sum_{i=1}^{n} (\hat{y}_i - y_i)^2

    Parameters
    ----------
    prediction : torch.Tensor, numpy.ndarray or list, shape (n,)
        Predicted ratings :math:`\hat{y}_i`.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed ratings :math:`y_i`, in the same row order as ``prediction``.

    Returns
    -------
    float
        The mean squared error.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty or contains NaN, or if the lengths differ.

    Examples
    --------
    >>> mse([3.0, 4.0], [2.0, 4.0])
    0.5
    """
    error = _prediction_error(prediction, rating)
    return float(error.square().mean())


def mae(prediction: ArrayLike, rating: ArrayLike) -> float:
    r"""Compute the mean absolute error of rating predictions.

    .. math::

        \mathrm{MAE} = \frac{1}{n} \sum_{i=1}^{n} |\hat{y}_i - y_i|

    Parameters
    ----------
    prediction : torch.Tensor, numpy.ndarray or list, shape (n,)
        Predicted ratings :math:`\hat{y}_i`.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed ratings :math:`y_i`, in the same row order as ``prediction``.

    Returns
    -------
    float
        The mean absolute error.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty or contains NaN, or if the lengths differ.

    Examples
    --------
    >>> mae([3.0, 4.0, 1.0], [2.0, 4.0, 3.0])
    1.0
    """
    error = _prediction_error(prediction, rating)
    return float(error.abs().mean())
