"""causalrec_pyro: causal recommendation with Pyro structural causal models.

Write recommendation behaviour as a Pyro model, wrap it in :class:`SCM`, fit it with
:func:`fit_svi`, and ask causal questions of the :class:`Posterior`.
"""

from causalrec_pyro.causal import (
    CausalGraph,
    Effect,
    average_effect,
    counterfactual,
    individual_effect,
    intervene,
    uplift_ranking,
)
from causalrec_pyro.data import (
    RatingData,
    Split,
    attach_test,
    from_dataframe,
    load_coat,
    load_movielens,
    read_csv,
    read_parquet,
    split_by_time,
    split_by_user,
)
from causalrec_pyro.data.simulate import SimulatedWorld, simulate
from causalrec_pyro.diagnostics import check_scm, to_inference_data
from causalrec_pyro.evaluation import (
    auc,
    doubly_robust_mse,
    evaluate,
    ips_mse,
    mae,
    mse,
    ndcg_at_k,
    recall_at_k,
    snips_mse,
)
from causalrec_pyro.inference import FitError, Posterior, fit_nuts, fit_svi, predict_mean
from causalrec_pyro.models import (
    MODELS,
    SCM,
    RatingLevels,
    exposure_rating,
    exposure_rating_model,
    matrix_factorization,
    mf_model,
)

__version__ = "0.1.0"

__all__ = [
    # data
    "RatingData",
    "SimulatedWorld",
    "Split",
    "attach_test",
    "from_dataframe",
    "load_coat",
    "load_movielens",
    "read_csv",
    "read_parquet",
    "simulate",
    "split_by_time",
    "split_by_user",
    # models
    "MODELS",
    "RatingLevels",
    "SCM",
    "exposure_rating",
    "exposure_rating_model",
    "matrix_factorization",
    "mf_model",
    # inference
    "FitError",
    "Posterior",
    "fit_nuts",
    "fit_svi",
    "predict_mean",
    # causal queries
    "CausalGraph",
    "Effect",
    "average_effect",
    "counterfactual",
    "individual_effect",
    "intervene",
    "uplift_ranking",
    # diagnostics
    "check_scm",
    "to_inference_data",
    # evaluation
    "auc",
    "doubly_robust_mse",
    "evaluate",
    "ips_mse",
    "mae",
    "mse",
    "ndcg_at_k",
    "recall_at_k",
    "snips_mse",
]
