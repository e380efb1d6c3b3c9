"""Checks and conversions of interaction columns, shared by the readers and the loaders.

Every check raises an error that names the table (a file path or ``"DataFrame"``), the row (a
line number where the table comes from a file), the value, and what to do next.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from causalrec_pyro.data.core import Split

logger = logging.getLogger(__name__)

#: Accepted values of ``duplicates``.
DUPLICATE_RULES = ("error", "last", "mean")


@dataclasses.dataclass(frozen=True)
class RowSource:
    """Origin of a table's rows, used to point error messages at one row.

    ``name`` is a file path or ``"DataFrame"``. ``locate`` turns a 0-based row position into
    text such as ``"line 7"`` or ``"row 3 (index label 'a')"``.
    """

    name: str
    locate: Callable[[int], str]


@dataclasses.dataclass(frozen=True)
class Interactions:
    """Validated interaction columns: index arrays, ratings and timestamps as numpy arrays."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None
    timestamp: np.ndarray | None


def make_split(
    name: str,
    rows: Interactions,
    n_users: int,
    n_items: int,
    **fields,
) -> Split:
    """Build a :class:`Split` from validated rows: long indices, float32 ratings.

    ``torch.tensor`` copies each array, because pandas may hand out read-only numpy views.
    """
    rating = None if rows.rating is None else torch.tensor(rows.rating, dtype=torch.float32)
    timestamp = None if rows.timestamp is None else torch.tensor(rows.timestamp)
    return Split(
        name=name,
        user=torch.tensor(rows.user, dtype=torch.long),
        item=torch.tensor(rows.item, dtype=torch.long),
        n_users=n_users,
        n_items=n_items,
        rating=rating,
        timestamp=timestamp,
        **fields,
    )


def check_rating_scale(rating_scale) -> tuple[float, float] | None:
    """Return ``rating_scale`` as two floats, or raise ``ValueError`` unless low < high."""
    if rating_scale is None:
        return None
    try:
        low, high = (float(value) for value in rating_scale)
    except (TypeError, ValueError):
        raise ValueError(
            f"rating_scale must be two numbers (lowest, highest), got {rating_scale!r}."
        ) from None
    if not low < high:
        raise ValueError(
            f"rating_scale must have lowest < highest, got {rating_scale!r}, "
            "for example rating_scale=(1, 5)."
        )
    return low, high


def check_duplicates_rule(duplicates: str) -> None:
    if duplicates not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}.")


def check_table(df: pd.DataFrame, columns: dict, source: RowSource) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame, got {type(df).__name__}.")
    requested = {role: column for role, column in columns.items() if column is not None}
    missing = [column for column in requested.values() if column not in df.columns]
    if missing:
        raise KeyError(
            f"{source.name} has no column(s) {missing}. Available columns: "
            f"{list(df.columns)}. Pass {', '.join(f'{role}=' for role in requested)} "
            "to name the columns to use."
        )
    if len(df) == 0:
        raise ValueError(
            f"{source.name} has no rows. Expected at least one interaction, so check the file "
            "or the filter that built the table."
        )


def plain(value):
    """Return numpy scalars as Python scalars so that messages show ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def first_index(mask: np.ndarray) -> int:
    """Return the position of the first true value of a boolean mask."""
    return int(np.argmax(mask))


def factorize_ids(df: pd.DataFrame, column: str, kind: str, source: RowSource):
    """Map the ids of ``column`` to indices in sorted id order. Return indices and sorted ids."""
    values = df[column]
    missing = values.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{source.name}, {source.locate(first_index(missing))}: the {kind} id in column "
            f"{column!r} is missing ({int(missing.sum())} of {len(df)} rows have none). "
            "Fill or drop those rows before loading."
        )
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError as error:
        raise ValueError(
            f"{source.name}: the {kind} ids in column {column!r} cannot be sorted ({error}). "
            f"Convert them to one type, for example df[{column!r}].astype(str)."
        ) from None
    return codes.astype(np.int64), np.asarray(uniques)


def known_ids(
    df: pd.DataFrame,
    column: str,
    id_map: np.ndarray,
    kind: str,
    source: RowSource,
    split_name: str,
) -> np.ndarray:
    """Map the ids of ``column`` to their indices in ``id_map``. Unknown ids raise ValueError."""
    values = df[column]
    position = pd.Index(id_map).get_indexer(values)
    unknown = position < 0
    if unknown.any():
        unknown_ids = np.asarray(pd.unique(values[unknown]))
        raise ValueError(
            f"{source.name}: {len(unknown_ids)} {kind} id(s) of split {split_name!r} are not "
            f"in the data's {kind} map, for example {unknown_ids[:5].tolist()} "
            f"(first at {source.locate(first_index(unknown))}). A model has no training rows for "
            f"them, so drop those rows first, for example with "
            f"df[df[{column!r}].isin(data.{kind}_ids)]. Also check that the ids have the "
            f"type of data.{kind}_ids (dtype {id_map.dtype})."
        )
    return position.astype(np.int64)


def rating_values(
    df: pd.DataFrame, column: str, source: RowSource, scale: tuple[float, float] | None
) -> np.ndarray:
    """Return the ratings as float64 after checking they are finite numbers within ``scale``."""
    raw = df[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    not_numbers = (numbers.isna() & raw.notna()).to_numpy()
    if not_numbers.any():
        position = first_index(not_numbers)
        raise ValueError(
            f"{source.name}, {source.locate(position)}: rating {plain(raw.iloc[position])!r} "
            f"in column {column!r} is not a number. Fix the value, or convert the column with "
            "pandas.to_numeric."
        )

    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    if missing.any():
        raise ValueError(
            f"{source.name}, {source.locate(first_index(missing))}: the rating in column "
            f"{column!r} is missing (NaN in {int(missing.sum())} of {len(df)} rows). "
            "Drop or fill those rows before loading."
        )
    infinite = ~np.isfinite(values)
    if infinite.any():
        position = first_index(infinite)
        raise ValueError(
            f"{source.name}, {source.locate(position)}: rating {values[position]} in column "
            f"{column!r} is not finite. Fix the value."
        )

    if scale is not None:
        outside = (values < scale[0]) | (values > scale[1])
        if outside.any():
            position = first_index(outside)
            raise ValueError(
                f"{source.name}, {source.locate(position)}: rating {values[position]:g} is "
                f"outside the rating scale [{scale[0]:g}, {scale[1]:g}] "
                f"({int(outside.sum())} of {len(values)} rows are outside). Fix those rows, "
                "or pass a rating_scale that covers them."
            )
    return values


def timestamp_values(df: pd.DataFrame, column: str, source: RowSource) -> np.ndarray:
    """Return Unix times: int64 for integers and datetimes (in seconds), float64 otherwise."""
    raw = df[column]
    missing = raw.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{source.name}, {source.locate(first_index(missing))}: the timestamp in column "
            f"{column!r} is missing ({int(missing.sum())} of {len(df)} rows have none). "
            "Drop or fill those rows, or pass timestamp=None."
        )
    if pd.api.types.is_datetime64_any_dtype(raw):
        since_epoch = pd.to_datetime(raw, utc=True) - pd.Timestamp(0, tz="UTC")
        return (since_epoch // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    if pd.api.types.is_bool_dtype(raw) or not pd.api.types.is_numeric_dtype(raw):
        raise ValueError(
            f"{source.name}: timestamp column {column!r} has dtype {raw.dtype}, expected Unix "
            "times (numbers) or datetimes. Convert it with pandas.to_datetime or "
            f"pandas.to_numeric, or pass parse_dates=[{column!r}] to read_csv."
        )
    if pd.api.types.is_integer_dtype(raw):
        return raw.to_numpy(dtype=np.int64)
    values = raw.to_numpy(dtype=np.float64)
    infinite = ~np.isfinite(values)
    if infinite.any():
        position = first_index(infinite)
        raise ValueError(
            f"{source.name}, {source.locate(position)}: timestamp {values[position]} in column "
            f"{column!r} is not finite. Fix the value."
        )
    return values


def resolve_duplicates(
    rows: Interactions,
    n_items: int,
    duplicates: str,
    source: RowSource,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
) -> Interactions:
    """Raise on, or merge, rows that repeat a (user, item) pair, by the rule ``duplicates``."""
    pair = rows.user * n_items + rows.item
    repeats = pd.Series(pair).duplicated(keep="first").to_numpy()
    if not repeats.any():
        return rows
    count = int(repeats.sum())
    if duplicates == "error":
        position = first_index(repeats)
        earlier = first_index(pair == pair[position])
        raise ValueError(
            f"{source.name}, {source.locate(position)}: the pair (user "
            f"{plain(user_ids[rows.user[position]])!r}, item "
            f"{plain(item_ids[rows.item[position]])!r}) repeats {source.locate(earlier)}. "
            f"{count} of {len(pair)} rows repeat an earlier (user, item) pair. Pass "
            "duplicates='last' or duplicates='mean' to merge them, or remove them first."
        )

    table = pd.DataFrame({"pair": pair, "user": rows.user, "item": rows.item})
    rules = {"user": "first", "item": "first"}
    if rows.rating is not None:
        table["rating"] = rows.rating
        rules["rating"] = "last" if duplicates == "last" else "mean"
    if rows.timestamp is not None:
        table["timestamp"] = rows.timestamp
        rules["timestamp"] = "last" if duplicates == "last" else "max"
    merged = table.groupby("pair", sort=False).agg(rules)
    logger.info(
        "%s: merged %d rows that repeat an earlier (user, item) pair (duplicates=%r), "
        "so %d rows became %d interactions.",
        source.name,
        count,
        duplicates,
        len(pair),
        len(merged),
    )
    return Interactions(
        merged["user"].to_numpy(dtype=np.int64),
        merged["item"].to_numpy(dtype=np.int64),
        merged["rating"].to_numpy(dtype=np.float64) if rows.rating is not None else None,
        merged["timestamp"].to_numpy() if rows.timestamp is not None else None,
    )


def align_features(
    features: pd.DataFrame | None, ids: np.ndarray, kind: str
) -> pd.DataFrame | None:
    """Reorder a feature table indexed by original id into index order ``0..len(ids)-1``."""
    if features is None:
        return None

    argument = f"{kind}_features"
    if not isinstance(features, pd.DataFrame):
        raise TypeError(
            f"{argument} must be a pandas DataFrame indexed by {kind} id, "
            f"got {type(features).__name__}."
        )
    if features.index.has_duplicates:
        repeated = features.index[features.index.duplicated()].unique()
        raise ValueError(
            f"{argument} has repeated {kind} ids in its index, for example "
            f"{np.asarray(repeated[:5]).tolist()}. Keep one row per {kind}."
        )
    non_numeric = [
        column
        for column, dtype in features.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype)
    ]
    if non_numeric:
        raise ValueError(
            f"{argument} has non-numeric columns {non_numeric}. Encode them as numbers, "
            "for example with pandas.get_dummies."
        )

    position = features.index.get_indexer(ids)
    missing = position < 0
    if missing.any():
        raise ValueError(
            f"{argument} has no row for {int(missing.sum())} {kind} id(s) of the "
            f"interactions, for example {ids[missing][:5].tolist()}. Add rows for them, "
            f"and check that the index has the type of the {kind} ids (dtype {ids.dtype})."
        )
    unused = len(features) - len(ids)
    if unused:
        logger.info(
            "%s: left out %d rows whose %s ids have no interaction.", argument, unused, kind
        )
    aligned = features.iloc[position].reset_index(drop=True)
    aligned.index.name = kind
    return aligned
