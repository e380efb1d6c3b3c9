r"""Per-user ranking metrics (AUC, NDCG@k, Recall@k) and :func:`evaluate`.

Each metric ranks every user's test items by score and averages a per-user value over the
users where it is defined. The work is vectorized: rows are sorted by (user, score), each
row's position inside its user comes from the user's first row, and per-user sums come from
``torch.bincount``. Nothing loops over users in Python.

Relevance is binary, :math:`\mathrm{rel} = 1[\mathrm{rating} \ge \mathrm{threshold}]`.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import torch

from .ratings import (
    ArrayLike,
    _check_no_nan,
    _check_same_length,
    _find_device,
    _to_float_tensor,
    _to_tensor,
    mae,
    mse,
)


class _RankingInput(NamedTuple):
    """Checked ranking inputs, one entry per row except ``user_count``.

    ``user_index`` maps each row to a user in 0..num_users-1, ``user_count`` is the number
    of rows per user, and ``relevance`` is 1.0 where rating >= threshold, else 0.0.
    """

    user_index: torch.Tensor
    user_count: torch.Tensor
    score: torch.Tensor
    rating: torch.Tensor
    relevance: torch.Tensor


def _to_user_tensor(user: ArrayLike, device: torch.device) -> torch.Tensor:
    """Convert user ids to a tensor, mapping string or object ids to integer codes."""
    if not isinstance(user, torch.Tensor):
        array = np.asarray(user)
        if array.ndim == 1 and array.dtype.kind in "USO":
            try:
                _, codes = np.unique(array, return_inverse=True)
            except TypeError:
                raise TypeError(
                    f"user ids must be all numbers or all strings so that they can be sorted; got "
                    f"an array of dtype {array.dtype} with mixed types. Map them to one type first."
                ) from None
            user = codes.reshape(-1)
    tensor = _to_tensor("user", user, device)
    _check_no_nan("user", tensor)
    return tensor


def _prepare_ranking_input(
    user: ArrayLike,
    score: ArrayLike,
    rating: ArrayLike,
    threshold: float,
    score_name: str = "score",
) -> _RankingInput:
    """Check the inputs of a ranking metric and convert them to tensors on one device."""
    device = _find_device(user, score, rating)
    user_tensor = _to_user_tensor(user, device)
    score_tensor = _to_float_tensor(score_name, score, device)
    rating_tensor = _to_float_tensor("rating", rating, device)
    _check_same_length({"user": user_tensor, score_name: score_tensor, "rating": rating_tensor})

    _, user_index, user_count = torch.unique(user_tensor, return_inverse=True, return_counts=True)
    relevance = (rating_tensor >= threshold).to(torch.float64)
    return _RankingInput(user_index, user_count, score_tensor, rating_tensor, relevance)


def _check_k(k: int) -> None:
    """Raise unless ``k`` is an integer of at least 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int; got {type(k).__name__} {k!r}. Pass, for example, k=5.")
    if k < 1:
        raise ValueError(
            f"k must be at least 1; got k={k}. Pass the number of top-ranked items to score, "
            f"for example k=5."
        )


def _sort_within_user(data: _RankingInput, descending: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort rows by user, then by score, and return the order and each sorted row's position.

    Both sorts are stable, so rows with equal score keep their input order. The position
    is 0-based inside the row's user.
    """
    order = torch.sort(data.score, descending=descending, stable=True).indices
    order = order[torch.sort(data.user_index[order], stable=True).indices]

    user_start = torch.cumsum(data.user_count, dim=0) - data.user_count
    row_number = torch.arange(order.shape[0], device=order.device)
    position = row_number - user_start[data.user_index[order]]
    return order, position


def _top_k_sums(data: _RankingInput, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return each user's DCG@k, number of hits in the top k and number of positives."""
    order, position = _sort_within_user(data, descending=True)
    sorted_user = data.user_index[order]
    sorted_relevance = data.relevance[order]
    in_top_k = (position < k).to(torch.float64)
    discount = 1.0 / torch.log2(position.to(torch.float64) + 2.0)

    num_users = data.user_count.shape[0]
    dcg = torch.bincount(sorted_user, sorted_relevance * in_top_k * discount, minlength=num_users)
    hits = torch.bincount(sorted_user, sorted_relevance * in_top_k, minlength=num_users)
    num_positive = torch.bincount(data.user_index, data.relevance, minlength=num_users)
    return dcg, hits, num_positive


def _raise_no_positive(metric: str, threshold: float, num_users: int) -> None:
    raise ValueError(
        f"{metric} needs at least one user with a positive test item (rating >= {threshold}); "
        f"none of the {num_users} users has one. Check threshold against the rating scale."
    )


def auc(user: ArrayLike, score: ArrayLike, rating: ArrayLike, threshold: float = 4.0) -> float:
    r"""Compute the per-user AUC, averaged over users.

    For user :math:`u` with positive test items :math:`P_u` (rating >= ``threshold``) and
    negative ones :math:`N_u`, the AUC is the probability that a random positive scores
    higher than a random negative, where a tie counts 1/2:

    .. math::

        \mathrm{AUC}_u = \frac{1}{|P_u|\,|N_u|} \sum_{i \in P_u} \sum_{j \in N_u}
            \left( 1[s_i > s_j] + \tfrac{1}{2}\, 1[s_i = s_j] \right),
        \qquad
        \mathrm{AUC} = \frac{1}{|U'|} \sum_{u \in U'} \mathrm{AUC}_u,

    where :math:`U' = \{u : |P_u| > 0,\ |N_u| > 0\}`. Users with only positives or only
    negatives are left out. Because ties count 1/2, the row order of tied scores does not
    matter here. The sums are computed from Mann-Whitney mid-ranks, in O(n log n).

    Parameters
    ----------
    user : torch.Tensor, numpy.ndarray or list, shape (n,)
        User id of each test rating, as numbers or strings.
    score : torch.Tensor, numpy.ndarray or list, shape (n,)
        Ranking score of each test rating. A higher score ranks first.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed rating of each test rating.
    threshold : float, default 4.0
        Ratings at or above this value are positives.

    Returns
    -------
    float
        The mean of :math:`\mathrm{AUC}_u` over :math:`U'`.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty or contains NaN, if the lengths differ, or if no
        user has both a positive and a negative test item.

    Examples
    --------
    >>> auc(user=[0, 0, 0], score=[0.9, 0.2, 0.5], rating=[5, 1, 4])
    1.0
    """
    data = _prepare_ranking_input(user, score, rating, threshold)
    return _auc(data, threshold)


def _auc(data: _RankingInput, threshold: float) -> float:
    order, position = _sort_within_user(data, descending=False)
    sorted_user = data.user_index[order]
    sorted_score = data.score[order]

    # A tie block is a run of sorted rows with the same user and score. Every row of a block
    # gets the block's mid-rank, the mean of the 1-based positions the block spans.
    starts_block = torch.ones_like(sorted_user, dtype=torch.bool)
    starts_block[1:] = (sorted_user[1:] != sorted_user[:-1]) | (
        sorted_score[1:] != sorted_score[:-1]
    )
    block_index = torch.cumsum(starts_block.to(torch.long), dim=0) - 1
    block_first_position = position[starts_block][block_index].to(torch.float64)
    block_size = torch.bincount(block_index)[block_index].to(torch.float64)
    mid_rank = block_first_position + (block_size + 1.0) / 2.0

    num_users = data.user_count.shape[0]
    sorted_relevance = data.relevance[order]
    positive_rank_sum = torch.bincount(
        sorted_user, sorted_relevance * mid_rank, minlength=num_users
    )
    num_positive = torch.bincount(data.user_index, data.relevance, minlength=num_users)
    num_negative = data.user_count.to(torch.float64) - num_positive

    has_both = (num_positive > 0) & (num_negative > 0)
    if not bool(has_both.any()):
        raise ValueError(
            f"auc needs at least one user with both a positive (rating >= {threshold}) and a "
            f"negative (rating < {threshold}) test item; none of the {num_users} users has both. "
            f"Check threshold against the rating scale."
        )
    num_positive = num_positive[has_both]
    num_negative = num_negative[has_both]
    # Mann-Whitney U: positive rank sum minus its minimum, P (P + 1) / 2.
    u_statistic = positive_rank_sum[has_both] - num_positive * (num_positive + 1.0) / 2.0
    return float((u_statistic / (num_positive * num_negative)).mean())


def ndcg_at_k(
    user: ArrayLike, score: ArrayLike, rating: ArrayLike, k: int = 5, threshold: float = 4.0
) -> float:
    r"""Compute NDCG@k with binary relevance, averaged over users with a positive.

    Each user's test items are ranked by score, highest first. Items with equal score are
    ranked in input row order, the earlier row first. With :math:`\mathrm{rel}_{u,j}` the
    relevance of the item at rank :math:`j`, :math:`n_u` the user's number of test items and
    :math:`|P_u|` the number of positives:

    .. math::

        \mathrm{DCG@k}_u = \sum_{j=1}^{\min(k, n_u)} \frac{\mathrm{rel}_{u,j}}{\log_2(j + 1)},
        \qquad
        \mathrm{IDCG@k}_u = \sum_{j=1}^{\min(k, |P_u|)} \frac{1}{\log_2(j + 1)},

    .. math::

        \mathrm{NDCG@k} = \frac{1}{|U'|} \sum_{u \in U'}
            \frac{\mathrm{DCG@k}_u}{\mathrm{IDCG@k}_u},
        \qquad U' = \{u : |P_u| > 0\}.

    Parameters
    ----------
    user : torch.Tensor, numpy.ndarray or list, shape (n,)
        User id of each test rating, as numbers or strings.
    score : torch.Tensor, numpy.ndarray or list, shape (n,)
        Ranking score of each test rating. A higher score ranks first.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed rating of each test rating.
    k : int, default 5
        Number of top-ranked items scored per user, at least 1.
    threshold : float, default 4.0
        Ratings at or above this value are relevant.

    Returns
    -------
    float
        The mean NDCG@k over users with at least one positive.

    Raises
    ------
    TypeError
        If ``k`` is not an integer.
    ValueError
        If an input is not 1-D, is empty or contains NaN, if the lengths differ, if
        ``k < 1``, or if no user has a positive test item.

    Examples
    --------
    >>> round(ndcg_at_k(user=[0, 0, 0], score=[0.9, 0.2, 0.5], rating=[1, 5, 1], k=2), 4)
    0.0
    >>> round(ndcg_at_k(user=[0, 0, 0], score=[0.9, 0.2, 0.5], rating=[1, 5, 1], k=3), 4)
    0.5
    """
    _check_k(k)
    data = _prepare_ranking_input(user, score, rating, threshold)
    dcg, _, num_positive = _top_k_sums(data, k)
    return _ndcg_from_sums(dcg, num_positive, k, threshold)


def _ndcg_from_sums(
    dcg: torch.Tensor, num_positive: torch.Tensor, k: int, threshold: float
) -> float:

    has_positive = num_positive > 0
    if not bool(has_positive.any()):
        _raise_no_positive("ndcg_at_k", threshold, num_positive.shape[0])

    # cumulative_discount[m] is the IDCG of a user with m relevant items in the top k.
    ideal_length = torch.clamp(num_positive[has_positive], max=k).to(torch.long)
    ranks = torch.arange(1, int(ideal_length.max()) + 1, device=dcg.device, dtype=torch.float64)
    cumulative_discount = torch.cat(
        [dcg.new_zeros(1), torch.cumsum(1.0 / torch.log2(ranks + 1.0), 0)]
    )
    idcg = cumulative_discount[ideal_length]
    return float((dcg[has_positive] / idcg).mean())


def recall_at_k(
    user: ArrayLike, score: ArrayLike, rating: ArrayLike, k: int = 5, threshold: float = 4.0
) -> float:
    r"""Compute Recall@k, averaged over users with a positive.

    Each user's test items are ranked by score, highest first. Items with equal score are
    ranked in input row order, the earlier row first. Recall@k divides the number of
    positives in the top k by the user's number of positives :math:`|P_u|`:

    .. math::

        \mathrm{Recall@k}_u = \frac{1}{|P_u|} \sum_{j=1}^{\min(k, n_u)} \mathrm{rel}_{u,j},
        \qquad
        \mathrm{Recall@k} = \frac{1}{|U'|} \sum_{u \in U'} \mathrm{Recall@k}_u,
        \qquad U' = \{u : |P_u| > 0\}.

    A user with more than ``k`` positives cannot reach 1.

    Parameters
    ----------
    user : torch.Tensor, numpy.ndarray or list, shape (n,)
        User id of each test rating, as numbers or strings.
    score : torch.Tensor, numpy.ndarray or list, shape (n,)
        Ranking score of each test rating. A higher score ranks first.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed rating of each test rating.
    k : int, default 5
        Number of top-ranked items scored per user, at least 1.
    threshold : float, default 4.0
        Ratings at or above this value are relevant.

    Returns
    -------
    float
        The mean Recall@k over users with at least one positive.

    Raises
    ------
    TypeError
        If ``k`` is not an integer.
    ValueError
        If an input is not 1-D, is empty or contains NaN, if the lengths differ, if
        ``k < 1``, or if no user has a positive test item.

    Examples
    --------
    >>> recall_at_k(user=[0, 0, 0, 0], score=[0.9, 0.2, 0.5, 0.1], rating=[5, 5, 1, 1], k=2)
    0.5
    """
    _check_k(k)
    data = _prepare_ranking_input(user, score, rating, threshold)
    _, hits, num_positive = _top_k_sums(data, k)
    return _recall_from_sums(hits, num_positive, threshold)


def _recall_from_sums(hits: torch.Tensor, num_positive: torch.Tensor, threshold: float) -> float:

    has_positive = num_positive > 0
    if not bool(has_positive.any()):
        _raise_no_positive("recall_at_k", threshold, num_positive.shape[0])
    return float((hits[has_positive] / num_positive[has_positive]).mean())


def evaluate(
    user: ArrayLike, prediction: ArrayLike, rating: ArrayLike, k: int = 5, threshold: float = 4.0
) -> dict[str, float]:
    """Compute the rating and ranking metrics of one set of predictions.

    ``prediction`` serves both as the rating prediction (for MSE and MAE) and as the
    ranking score (for AUC, NDCG@k and Recall@k). See :func:`mse`, :func:`mae`,
    :func:`auc`, :func:`ndcg_at_k` and :func:`recall_at_k` for the definitions.

    Parameters
    ----------
    user : torch.Tensor, numpy.ndarray or list, shape (n,)
        User id of each test rating, as numbers or strings.
    prediction : torch.Tensor, numpy.ndarray or list, shape (n,)
        Predicted rating of each test rating.
    rating : torch.Tensor, numpy.ndarray or list, shape (n,)
        Observed rating of each test rating.
    k : int, default 5
        Cut-off of NDCG@k and Recall@k, at least 1.
    threshold : float, default 4.0
        Ratings at or above this value are positives.

    Returns
    -------
    dict of str to float
        The keys ``"mse"``, ``"mae"``, ``"auc"``, ``f"ndcg@{k}"`` and ``f"recall@{k}"``.

    Raises
    ------
    TypeError
        If ``k`` is not an integer.
    ValueError
        If an input is invalid as described for the single metrics, or if no user has
        both a positive and a negative test item, which AUC needs.

    Examples
    --------
    >>> metrics = evaluate(user=[0, 0, 1, 1], prediction=[4.5, 2.0, 3.0, 4.0],
    ...                    rating=[5, 1, 2, 4], k=1)
    >>> sorted(metrics)
    ['auc', 'mae', 'mse', 'ndcg@1', 'recall@1']
    >>> metrics["auc"], metrics["recall@1"]
    (1.0, 1.0)
    """
    _check_k(k)
    # Errors name `prediction`, the argument the caller passed, rather than `score`.
    data = _prepare_ranking_input(user, prediction, rating, threshold, score_name="prediction")
    dcg, hits, num_positive = _top_k_sums(data, k)
    return {
        "mse": mse(data.score, data.rating),
        "mae": mae(data.score, data.rating),
        "auc": _auc(data, threshold),
        f"ndcg@{k}": _ndcg_from_sums(dcg, num_positive, k, threshold),
        f"recall@{k}": _recall_from_sums(hits, num_positive, threshold),
    }
