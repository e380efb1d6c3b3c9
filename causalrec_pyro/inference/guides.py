"""Guides by name, and the devices that fitting runs on."""

from __future__ import annotations

from collections.abc import Callable

import pyro.poutine as poutine
import torch
from pyro.infer import autoguide

from causalrec_pyro.inference.traces import is_enumerated

__all__ = ["GUIDES", "make_guide", "resolve_device"]

#: Guide names accepted by ``fit_svi``, mapped to Pyro autoguide classes.
GUIDES = {
    "normal": autoguide.AutoNormal,
    "delta": autoguide.AutoDelta,
    "lowrank": autoguide.AutoLowRankMultivariateNormal,
}


def _hide_enumerated(msg) -> bool:
    return is_enumerated(msg)


def make_guide(model: Callable, kind: str, *, init_scale: float = 0.1, rank: int | None = None):
    """Build the autoguide ``kind`` for ``model``, hiding the sites that are summed out.

    ``"normal"`` is a mean-field Gaussian (``AutoNormal``), ``"delta"`` a point estimate
    (``AutoDelta``, maximum a posteriori) and ``"lowrank"`` a Gaussian with a low-rank plus
    diagonal covariance (``AutoLowRankMultivariateNormal``). Sites marked for parallel
    enumeration are left to ``TraceEnum_ELBO``.
    """
    if kind not in GUIDES:
        raise ValueError(
            f"Unknown guide {kind!r}; use one of {sorted(GUIDES)} or pass a Pyro guide callable."
        )
    blocked = poutine.block(model, hide_fn=_hide_enumerated)
    if kind == "normal":
        return autoguide.AutoNormal(blocked, init_scale=init_scale)
    if kind == "delta":
        return autoguide.AutoDelta(blocked)
    return autoguide.AutoLowRankMultivariateNormal(blocked, init_scale=init_scale, rank=rank)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Return the device to fit on: ``"auto"`` picks CUDA when it is available, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"Device {str(device)!r} was requested but CUDA is not available on this machine; "
            "use device='cpu' or device='auto'."
        )
    return device
