"""Run directories: where ``causalrec fit`` writes and the other sub-commands read.

Layout of ``causalrec fit --out RUN``::

    RUN/metrics.json            model name -> metric name -> value
    RUN/run.json                the command's settings (data set, data folder, seed, models)
    RUN/<model>/posterior.pt    the fitted posterior of each model
    RUN/<model>/run.json        the same settings plus ``model``, so a model folder is a run
                                directory of its own for ``graph``, ``effect``, ``diagnose``...

Every file is written atomically: to a temporary name in the same folder, then renamed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from causalrec_pyro.atomic import atomic_path
from causalrec_pyro.data.core import RatingData

__all__ = [
    "write_json",
    "write_atomic",
    "read_run",
    "load_run_data",
    "load_run",
    "fit_split",
    "query_split",
    "point_estimate_note",
]

RUN_FILE = "run.json"
POSTERIOR_FILE = "posterior.pt"
#: The ``--split`` value of the query commands that names the rows the model was fitted on.
FIT_SPLIT = "fit"


def write_atomic(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
    return path


def write_json(path: str | os.PathLike, value) -> Path:
    """Write ``value`` as indented JSON, atomically."""
    return write_atomic(path, (json.dumps(value, indent=2, sort_keys=False) + "\n").encode())


def read_run(run_dir: str | os.PathLike) -> dict:
    """Read ``run.json`` of a run directory, with a clear error when it is missing."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} not found: {str(run_dir)!r} is not a model run directory. "
            "Pass a folder written by `causalrec fit`, such as RUN/mnar."
        )
    return json.loads(path.read_text())


def load_run_data(info: dict) -> RatingData:
    """Load the data set a run was fitted on, from the settings in its ``run.json``."""
    from causalrec_pyro.data import load_coat, load_movielens, read_csv
    from causalrec_pyro.data.simulate import simulate

    dataset = info["dataset"]
    if dataset == "coat":
        return load_coat(info["data_dir"])
    if dataset == "movielens":
        return load_movielens(info["data_dir"], seed=info.get("seed", 0))
    if dataset == "csv":
        from causalrec_pyro.data import split_by_user

        return split_by_user(read_csv(info["data_dir"]), seed=info.get("seed", 0))
    if dataset == "simulated":
        return simulate(**info.get("simulate", {})).data
    raise ValueError(
        f"Unknown data set {dataset!r} in run.json; expected coat, movielens, csv or simulated."
    )


def load_run(run_dir: str | os.PathLike):
    """Return ``(posterior, data, info)`` of a model run directory."""
    from causalrec_pyro.inference.posterior import Posterior

    info = read_run(run_dir)
    if not (Path(run_dir) / POSTERIOR_FILE).is_file() and "models" in info:
        raise FileNotFoundError(
            f"{str(run_dir)!r} is the top folder of a `causalrec fit` run with the models "
            f"{info['models']}; pass one model's folder, such as "
            f"{str(Path(run_dir) / info['models'][-1])!r}."
        )
    posterior = Posterior.load(Path(run_dir) / POSTERIOR_FILE)
    return posterior, load_run_data(info), info


def fit_split(info: dict, data: RatingData):
    """Return the rows a run's model was fitted on, rebuilt from its ``run.json`` settings.

    For a built-in model these are the rows of its recipe, which for ``mnar`` are all training
    pairs with their ``exposure``. For any other model they are the training split.
    """
    from causalrec_pyro.experiments import MODEL_RECIPES, training_split

    model = info.get("model")
    if model in MODEL_RECIPES:
        return training_split(model, data, num_unobserved=info.get("num_unobserved"))
    return data["train"]


def query_split(name: str, info: dict, data: RatingData):
    """Return the rows a query command runs over: the split ``name``, or with ``"fit"`` the
    rows the model was fitted on (:func:`fit_split`)."""
    if name == FIT_SPLIT:
        return fit_split(info, data)
    if name not in data.splits:
        raise KeyError(
            f"--split {name!r} is not a split of {data.name!r}. Choose one of "
            f"{sorted(data.splits)}, or {FIT_SPLIT!r} for the rows the model was fitted on."
        )
    return data[name]


def point_estimate_note(
    posterior, consequence: str = "the intervals below leave out posterior uncertainty"
) -> str | None:
    """Return a note for the query commands when ``posterior`` is a MAP point, else None.

    ``consequence`` describes what the single point means for the command's output.
    """
    if not posterior.is_point_estimate:
        return None
    return (
        "Note: this model was fitted with the delta guide (MAP). Its posterior is a single "
        f"point, so {consequence}. For posterior uncertainty, refit with "
        "`causalrec fit ... --guide normal`."
    )
