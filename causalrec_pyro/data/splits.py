"""Per-user splits of one split's interactions into training and test rows.

Both splitters hold out about ``test_fraction`` of each user's rows: ``round(test_fraction * n)``
rows of a user with ``n`` rows, rounding halves up, but never so many that fewer than
``min_train`` rows stay in training. A user with ``min_train`` rows or fewer keeps them all in
training. Both run in vectorized numpy: rows are sorted by user and then by a key (a random
number, or the timestamp), and each row's rank within its user comes from the per-user counts.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from causalrec_pyro.data.core import RatingData, Split

logger = logging.getLogger(__name__)

__all__ = ["split_by_time", "split_by_user"]


def split_by_user(
    split_or_data: RatingData | Split,
    test_fraction: float = 0.2,
    seed: int = 0,
    min_train: int = 1,
    *,
    split: str = "train",
    names: tuple[str, str] = ("train", "test"),
) -> RatingData:
    """Hold out a seeded random ``test_fraction`` of each user's rows as a test split.

    Parameters
    ----------
    split_or_data : RatingData or Split
        The data set whose split ``split`` is divided, or a single split. A single split gets
        ids ``0..n-1`` in the returned data set.
    test_fraction : float
        Share of each user's rows to hold out, in ``[0, 1)``.
    seed : int
        Seed of the numpy random generator that orders each user's rows.
    min_train : int
        Minimum number of training rows to leave each user.
    split : str
        Name of the split to divide, when ``split_or_data`` is a :class:`RatingData`.
    names : tuple of str
        Names of the training and test splits that replace the divided split. Other splits are
        kept. A name that another split already has raises ``ValueError``.

    Returns
    -------
    RatingData
        Both new splits keep the rows' original order and the divided split's ``random`` flag.

    Examples
    --------
    >>> data = split_by_user(Split("all", torch.tensor([0, 0, 0, 0, 1]),
    ...                            torch.tensor([0, 1, 2, 3, 0]), n_users=2, n_items=4),
    ...                      test_fraction=0.5)
    >>> len(data["train"]), len(data["test"])
    (3, 2)
    """
    data, source = _source_split(split_or_data, split)
    order_key = np.random.default_rng(seed).random(len(source))
    return _divide(data, source, order_key, test_fraction, min_train, names, order_name="at random")


def split_by_time(
    split_or_data: RatingData | Split,
    test_fraction: float = 0.2,
    min_train: int = 1,
    *,
    split: str = "train",
    names: tuple[str, str] = ("train", "test"),
) -> RatingData:
    """Hold out the latest ``test_fraction`` of each user's rows, by timestamp, as a test split.

    Rows with equal timestamps count as later the further down they are in the split. The
    arguments are those of :func:`split_by_user`. A split without timestamps raises
    ``ValueError``.
    """
    data, source = _source_split(split_or_data, split)
    if source.timestamp is None:
        raise ValueError(
            f"Split {source.name!r} has no timestamp column, so it cannot be split by time. "
            "Pass timestamp= when building the data, or use split_by_user."
        )
    order_key = source.timestamp.cpu().numpy()
    return _divide(data, source, order_key, test_fraction, min_train, names, order_name="by time")


def _source_split(split_or_data: RatingData | Split, split: str) -> tuple[RatingData, Split]:
    if isinstance(split_or_data, RatingData):
        return split_or_data, split_or_data[split]
    if isinstance(split_or_data, Split):
        source = split_or_data
        data = RatingData(
            {source.name: source},
            np.arange(source.n_users),
            np.arange(source.n_items),
            user_features=source.user_features,
            item_features=source.item_features,
            rating_scale=source.rating_scale,
        )
        return data, source
    raise TypeError(f"Expected a RatingData or a Split, got {type(split_or_data).__name__}.")


def _test_mask(
    user: np.ndarray,
    n_users: int,
    order_key: np.ndarray,
    test_fraction: float,
    min_train: int,
) -> np.ndarray:
    """Mark the last rows of each user, in ``order_key`` order, that go to the test split."""
    order = np.lexsort((order_key, user))
    sorted_user = user[order]
    counts = np.bincount(user, minlength=n_users)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(user)) - starts[sorted_user]

    n_test = np.floor(test_fraction * counts + 0.5).astype(np.int64)
    n_test = np.minimum(n_test, np.maximum(counts - min_train, 0))
    is_test = np.empty(len(user), dtype=bool)
    is_test[order] = rank >= (counts - n_test)[sorted_user]
    return is_test


def _divide(
    data: RatingData,
    source: Split,
    order_key: np.ndarray,
    test_fraction: float,
    min_train: int,
    names: tuple[str, str],
    order_name: str,
) -> RatingData:
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}.")
    if isinstance(min_train, bool) or not isinstance(min_train, (int, np.integer)) or min_train < 0:
        raise ValueError(f"min_train must be an integer >= 0, got {min_train!r}.")
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different split names, got {names!r}.")
    others = {name: other for name, other in data.splits.items() if name != source.name}
    clashing = [name for name in names if name in others]
    if clashing:
        raise ValueError(
            f"RatingData {data.name!r} already has a split {clashing[0]!r} besides "
            f"{source.name!r}. Pass names= with other names, for example "
            "names=('train', 'valid')."
        )
    if len(source) == 0:
        raise ValueError(f"Split {source.name!r} has no rows to divide.")

    user = source.user.cpu().numpy()
    is_test = _test_mask(user, source.n_users, order_key, test_fraction, min_train)
    mask = torch.as_tensor(is_test, device=source.user.device)
    train = source.subset(~mask, name=names[0])
    test = source.subset(mask, name=names[1])

    counts = np.bincount(user, minlength=source.n_users)
    logger.info(
        "Split %r divided %s into %d %r rows and %d %r rows. %d users with %d or fewer "
        "rows kept all of them in %r.",
        source.name,
        order_name,
        len(train),
        names[0],
        len(test),
        names[1],
        int(((counts > 0) & (counts <= min_train)).sum()),
        min_train,
        names[0],
    )
    return RatingData(
        {**others, names[0]: train, names[1]: test},
        data.user_ids,
        data.item_ids,
        user_features=data.user_features,
        item_features=data.item_features,
        rating_scale=data.rating_scale,
        propensities=data.propensities,
        user_info=data.user_info,
        item_info=data.item_info,
        name=data.name,
    )
