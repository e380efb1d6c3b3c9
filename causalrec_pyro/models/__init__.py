"""Structural causal models: the SCM wrapper and the built-in recommendation SCMs."""

from causalrec_pyro.models.distributions import RatingLevels, ordinal_probs
from causalrec_pyro.models.exposure import exposure_rating, exposure_rating_model
from causalrec_pyro.models.mf import matrix_factorization, mf_model, preference_score
from causalrec_pyro.models.scm import INTERACTIONS, SCM

#: Built-in models by the name the command line uses.
MODELS = {"mf": matrix_factorization, "mnar": exposure_rating}

__all__ = [
    "INTERACTIONS",
    "MODELS",
    "RatingLevels",
    "SCM",
    "exposure_rating",
    "exposure_rating_model",
    "matrix_factorization",
    "mf_model",
    "ordinal_probs",
    "preference_score",
]
