"""Inference: SVI, posteriors, devices and predictions."""

from causalrec_pyro.inference.guides import GUIDES, make_guide, resolve_device
from causalrec_pyro.inference.nuts import fit_nuts
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.predict import predict_mean
from causalrec_pyro.inference.svi import FitError, fit_svi

__all__ = [
    "FitError",
    "GUIDES",
    "Posterior",
    "fit_nuts",
    "fit_svi",
    "make_guide",
    "predict_mean",
    "resolve_device",
]
