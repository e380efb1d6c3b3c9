"""Rating data: the :class:`RatingData` container, loaders, readers and splits."""

from causalrec_pyro.data.core import RatingData, Split
from causalrec_pyro.data.frames import attach_test, from_dataframe, read_csv, read_parquet
from causalrec_pyro.data.loaders import load_coat
from causalrec_pyro.data.movielens import load_movielens
from causalrec_pyro.data.splits import split_by_time, split_by_user

__all__ = [
    "RatingData",
    "Split",
    "attach_test",
    "from_dataframe",
    "load_coat",
    "load_movielens",
    "read_csv",
    "read_parquet",
    "split_by_time",
    "split_by_user",
]
