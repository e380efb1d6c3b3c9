"""Rating data sets: interactions as tensors, named splits, id maps and feature tables.

A :class:`RatingData` contains one or more named :class:`Split` objects (``"train"``, ``"test"``...)
over a shared index space of users ``0..n_users-1`` and items ``0..n_items-1``. Each split stores
one row per user-item interaction. ``Split.to_kwargs()`` turns a split into the keyword arguments
of a model written to the model contract (``user``, ``item``, ``rating``, ``n_users``, ...).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

logger = logging.getLogger(__name__)

__all__ = ["RatingData", "Split"]

#: Optional per-interaction columns of a split, in the order they are passed to models.
OPTIONAL_COLUMNS = ("rating", "exposure", "propensity", "timestamp", "weight")


@dataclasses.dataclass(frozen=True)
class Split:
    """One named set of interactions over the index space of a :class:`RatingData`.

    Parameters
    ----------
    name : str
        The split's name, such as ``"train"``.
    user, item : torch.LongTensor
        Contiguous user and item indices, shape ``(N,)``.
    rating : torch.Tensor, optional
        Ratings or clicks as floats, shape ``(N,)``. Where ``exposure`` is given and 0, the
        rating is a placeholder (the scale's lowest value) that models must mask out.
    exposure : torch.Tensor, optional
        1.0 where the rating of the pair was observed, 0.0 where it was not, shape ``(N,)``.
    propensity : torch.Tensor, optional
        Known probability that the pair's rating is observed, shape ``(N,)``.
    timestamp : torch.Tensor, optional
        Unix time of each interaction, shape ``(N,)``.
    weight : torch.Tensor, optional
        Likelihood weight of each row, for rows that stand for several pairs, shape ``(N,)``.
    random : bool
        True when the items of this split were chosen at random (missing completely at random),
        as in Coat's test set.
    n_users, n_items : int
        Sizes of the shared index space.
    user_features, item_features : pandas.DataFrame, optional
        Feature tables indexed by user and item index (numeric columns).
    rating_scale : tuple of float, optional
        Lowest and highest rating, such as ``(1.0, 5.0)``.
    """

    name: str
    user: torch.Tensor
    item: torch.Tensor
    n_users: int
    n_items: int
    rating: torch.Tensor | None = None
    exposure: torch.Tensor | None = None
    propensity: torch.Tensor | None = None
    timestamp: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    random: bool = False
    user_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None
    rating_scale: tuple[float, float] | None = None

    def __post_init__(self):
        n = self.user.shape[0]
        if self.user.dim() != 1 or self.item.shape != self.user.shape:
            raise ValueError(
                f"Split {self.name!r}: user and item must be 1-D tensors of one length, "
                f"got shapes {tuple(self.user.shape)} and {tuple(self.item.shape)}."
            )
        for column in OPTIONAL_COLUMNS:
            value = getattr(self, column)
            if value is not None and value.shape != (n,):
                raise ValueError(
                    f"Split {self.name!r}: column {column!r} has shape {tuple(value.shape)}, "
                    f"expected ({n},) to match user and item."
                )
        if n and (int(self.user.min()) < 0 or int(self.user.max()) >= self.n_users):
            raise ValueError(
                f"Split {self.name!r}: user index out of range [0, {self.n_users}): "
                f"min {int(self.user.min())}, max {int(self.user.max())}."
            )
        if n and (int(self.item.min()) < 0 or int(self.item.max()) >= self.n_items):
            raise ValueError(
                f"Split {self.name!r}: item index out of range [0, {self.n_items}): "
                f"min {int(self.item.min())}, max {int(self.item.max())}."
            )

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def observed(self) -> Split:
        """The rows whose rating was observed (all rows when ``exposure`` is absent)."""
        if self.exposure is None:
            return self
        return self.subset(self.exposure > 0)

    def subset(self, index: torch.Tensor, name: str | None = None) -> Split:
        """Return the rows selected by a boolean mask or an index tensor, as a new split."""
        changes = {"user": self.user[index], "item": self.item[index]}
        for column in OPTIONAL_COLUMNS:
            value = getattr(self, column)
            if value is not None:
                changes[column] = value[index]
        if name is not None:
            changes["name"] = name
        return dataclasses.replace(self, **changes)

    def replace(self, **changes) -> Split:
        """Return a copy of the split with the given fields replaced."""
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> Split:
        """Return the split with every tensor moved to ``device``."""
        changes = {"user": self.user.to(device), "item": self.item.to(device)}
        for column in OPTIONAL_COLUMNS:
            value = getattr(self, column)
            if value is not None:
                changes[column] = value.to(device)
        return dataclasses.replace(self, **changes)

    def to_kwargs(self) -> dict:
        """Return the keyword arguments a contract model takes for this split.

        The keys are ``user``, ``item``, ``n_users``, ``n_items``, each optional column that is
        present, and ``user_features`` / ``item_features`` as float tensors of shape
        ``(n_users, F)`` / ``(n_items, F)`` when the tables exist. :class:`~causalrec_pyro.SCM`
        keeps only the keys its model accepts.
        """
        kwargs = {
            "user": self.user,
            "item": self.item,
            "n_users": self.n_users,
            "n_items": self.n_items,
        }
        for column in OPTIONAL_COLUMNS:
            value = getattr(self, column)
            if value is not None:
                kwargs[column] = value
        if self.user_features is not None:
            kwargs["user_features"] = _table_to_tensor(self.user_features, self.user.device)
        if self.item_features is not None:
            kwargs["item_features"] = _table_to_tensor(self.item_features, self.user.device)
        return kwargs

    def with_unobserved(
        self,
        num_unobserved: int | None = None,
        propensity_matrix: torch.Tensor | None = None,
        seed: int = 0,
    ) -> Split:
        """Add the user-item pairs without a rating, with ``exposure`` 0, for exposure models.

        Every observed row gets ``exposure=1``. With ``num_unobserved=None`` every pair of the
        ``n_users x n_items`` grid that has no rating in this split is added, which is exact.
        Otherwise that many unobserved pairs are drawn uniformly at random (with replacement)
        and each gets ``weight = (number of unobserved pairs) / num_unobserved``, so the
        weighted likelihood is an unbiased estimate of the full one.

        ``propensity_matrix`` of shape ``(n_users, n_items)`` fills the ``propensity`` column.
        The ratings of the added rows are placeholders: the lowest value of ``rating_scale``.
        """
        if self.rating is None:
            raise ValueError(
                f"Split {self.name!r} has no rating column; unobserved pairs are only "
                "defined relative to observed ratings."
            )
        if self.exposure is not None:
            raise ValueError(
                f"Split {self.name!r} already has an exposure column; "
                "call with_unobserved() on the observed ratings only."
            )
        device = self.user.device
        n_pairs = self.n_users * self.n_items
        observed_flat = torch.zeros(n_pairs, dtype=torch.bool, device=device)
        observed_flat[self.user * self.n_items + self.item] = True
        unobserved_flat = (~observed_flat).nonzero().squeeze(-1)
        total_unobserved = int(unobserved_flat.shape[0])
        weight = None
        if num_unobserved is not None and num_unobserved < total_unobserved:
            if num_unobserved < 1:
                raise ValueError(f"num_unobserved must be >= 1 or None, got {num_unobserved}.")
            generator = torch.Generator().manual_seed(seed)
            pick = torch.randint(total_unobserved, (num_unobserved,), generator=generator)
            unobserved_flat = unobserved_flat[pick.to(device)]
            scale = total_unobserved / num_unobserved
            weight = torch.cat(
                [
                    torch.ones(len(self), device=device),
                    torch.full((num_unobserved,), scale, device=device),
                ]
            )
        low = self.rating_scale[0] if self.rating_scale else float(self.rating.min())
        n_new = int(unobserved_flat.shape[0])
        user = torch.cat([self.user, unobserved_flat // self.n_items])
        item = torch.cat([self.item, unobserved_flat % self.n_items])
        rating = torch.cat([self.rating, torch.full((n_new,), low, device=device)])
        exposure = torch.cat(
            [torch.ones(len(self), device=device), torch.zeros(n_new, device=device)]
        )
        propensity = None
        if propensity_matrix is not None:
            propensity = propensity_matrix.to(device)[user, item]
        logger.info(
            "Split %r: added %d of %d unobserved pairs to %d observed ratings.",
            self.name,
            n_new,
            total_unobserved,
            len(self),
        )
        return dataclasses.replace(
            self,
            user=user,
            item=item,
            rating=rating,
            exposure=exposure,
            propensity=propensity,
            timestamp=None,
            weight=weight,
        )

    def schema(self) -> dict:
        """Return a JSON-serialisable description of the split (sizes, columns, scale)."""
        return {
            "name": self.name,
            "num_rows": len(self),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "columns": [c for c in OPTIONAL_COLUMNS if getattr(self, c) is not None],
            "random": self.random,
            "rating_scale": list(self.rating_scale) if self.rating_scale else None,
        }


def _table_to_tensor(table: pd.DataFrame, device: torch.device) -> torch.Tensor:
    values = table.to_numpy(dtype=np.float32, na_value=np.nan)
    # Copy, because pandas 3 can return a read-only array and torch.as_tensor warns about those.
    return torch.tensor(values, device=device)


class RatingData:
    """A data set of user-item interactions with named splits and id maps.

    Parameters
    ----------
    splits : mapping of str to Split
        The named splits; all share ``n_users`` and ``n_items``.
    user_ids, item_ids : array-like
        Original identifier of each user and item index (``user_ids[i]`` is the id of user
        index ``i``).
    user_features, item_features : pandas.DataFrame, optional
        Numeric feature tables indexed by user and item index.
    rating_scale : tuple of float, optional
        Lowest and highest possible rating.
    propensities : torch.Tensor, optional
        Known observation propensities of shape ``(n_users, n_items)`` (Coat ships them).
    user_info, item_info : pandas.DataFrame, optional
        Descriptive columns that are not model inputs (titles, zip codes), indexed by user and
        item index. ``Split.to_kwargs()`` never passes them to a model.
    name : str
        A short name of the data set, such as ``"coat"``.
    """

    def __init__(
        self,
        splits: Mapping[str, Split],
        user_ids,
        item_ids,
        *,
        user_features: pd.DataFrame | None = None,
        item_features: pd.DataFrame | None = None,
        rating_scale: tuple[float, float] | None = None,
        propensities: torch.Tensor | None = None,
        user_info: pd.DataFrame | None = None,
        item_info: pd.DataFrame | None = None,
        name: str = "data",
    ):
        if not splits:
            raise ValueError(f"RatingData {name!r} needs at least one split, got none.")
        self.splits = dict(splits)
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)
        self.user_features = user_features
        self.item_features = item_features
        self.rating_scale = rating_scale
        self.propensities = propensities
        self.user_info = user_info
        self.item_info = item_info
        self.name = name
        for split in self.splits.values():
            if (split.n_users, split.n_items) != (self.n_users, self.n_items):
                raise ValueError(
                    f"Split {split.name!r} has {split.n_users} users and {split.n_items} items, "
                    f"but the id maps have {self.n_users} and {self.n_items}."
                )

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    def __getitem__(self, name: str) -> Split:
        if name not in self.splits:
            raise KeyError(
                f"RatingData {self.name!r} has no split {name!r}; "
                f"available splits: {sorted(self.splits)}."
            )
        return self.splits[name]

    def __contains__(self, name: str) -> bool:
        return name in self.splits

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (
            f"RatingData(name={self.name!r}, n_users={self.n_users}, n_items={self.n_items}, "
            f"splits: {sizes})"
        )

    def user_index(self, ids) -> torch.Tensor:
        """Map original user ids to indices; an unknown id raises ``KeyError`` naming it."""
        return _lookup(self.user_ids, ids, "user")

    def item_index(self, ids) -> torch.Tensor:
        """Map original item ids to indices; an unknown id raises ``KeyError`` naming it."""
        return _lookup(self.item_ids, ids, "item")

    def with_split(self, split: Split) -> RatingData:
        """Return a new data set with ``split`` added (or replaced, by name)."""
        splits = dict(self.splits)
        splits[split.name] = split
        return RatingData(
            splits,
            self.user_ids,
            self.item_ids,
            user_features=self.user_features,
            item_features=self.item_features,
            rating_scale=self.rating_scale,
            propensities=self.propensities,
            user_info=self.user_info,
            item_info=self.item_info,
            name=self.name,
        )


def _lookup(known_ids: np.ndarray, ids, kind: str) -> torch.Tensor:
    position = pd.Index(known_ids).get_indexer(np.atleast_1d(np.asarray(ids)))
    if (position < 0).any():
        unknown = np.atleast_1d(np.asarray(ids))[position < 0]
        raise KeyError(
            f"Unknown {kind} id(s) {unknown[:5].tolist()}: not in the data set's {kind} map "
            f"of {len(known_ids)} ids. Check the id type (int vs str) and the split."
        )
    return torch.as_tensor(position, dtype=torch.long)
