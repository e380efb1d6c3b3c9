"""Trace helpers shared by fitting, sampling and the causal queries.

Every query runs the model once for many posterior draws at a time: latent draws are
conditioned on with ``poutine.condition`` inside an outer plate named ``_draws`` placed left of
the model's own plates. Models therefore index per-user and per-item latents with ``...``
(``user_bias[..., user]``), as the built-in models do.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample

__all__ = [
    "DRAWS",
    "SiteShape",
    "prototype_trace",
    "latent_sites",
    "site_shapes",
    "max_plate_nesting",
    "is_enumerated",
    "expand_draws",
    "trace_over_draws",
    "draws_first",
]

#: Name of the outer plate over posterior draws.
DRAWS = "_draws"

SiteShape = tuple  # (batch_shape, event_shape), both torch.Size


def prototype_trace(model, kwargs: Mapping) -> poutine.Trace:
    """Run ``model`` once with ``kwargs`` and return its trace (no enumeration)."""
    with poutine.block():
        return poutine.trace(model).get_trace(**kwargs)


def is_enumerated(site: Mapping) -> bool:
    """Return True for a site that ``TraceEnum_ELBO`` sums out in parallel."""
    return site["type"] == "sample" and site["infer"].get("enumerate") == "parallel"


def latent_sites(trace: poutine.Trace) -> list[str]:
    """Names of the sampled latent sites: not observed, not enumerated, not subsample sites."""
    return [
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
        and not is_enumerated(site)
    ]


def site_shapes(trace: poutine.Trace, names) -> dict[str, SiteShape]:
    """Return ``(batch_shape, event_shape)`` of each named site."""
    shapes = {}
    for name in names:
        fn = trace.nodes[name]["fn"]
        shapes[name] = (torch.Size(fn.batch_shape), torch.Size(fn.event_shape))
    return shapes


def max_plate_nesting(trace: poutine.Trace) -> int:
    """Return how many plate dimensions the model uses (at least 1)."""
    deepest = 1
    for site in trace.nodes.values():
        if site["type"] != "sample":
            continue
        for frame in site["cond_indep_stack"]:
            if frame.vectorized and frame.dim is not None:
                deepest = max(deepest, -frame.dim)
    return deepest


def expand_draws(
    samples: Mapping[str, torch.Tensor], shapes: Mapping[str, SiteShape], nesting: int
):
    """Reshape draws ``(S, *site_shape)`` so they line up under the ``_draws`` plate."""
    reshaped = {}
    for name, value in samples.items():
        if name not in shapes:
            continue
        batch_shape, event_shape = shapes[name]
        padding = (1,) * (nesting - len(batch_shape))
        reshaped[name] = value.reshape((value.shape[0],) + padding + batch_shape + event_shape)
    return reshaped


def trace_over_draws(
    model,
    samples: Mapping[str, torch.Tensor],
    kwargs: Mapping,
    shapes: Mapping[str, SiteShape],
    nesting: int,
    interventions: Mapping | None = None,
) -> poutine.Trace:
    """Trace ``model`` once for all draws, conditioned on ``samples`` and optionally intervened.

    ``interventions`` maps site names to values for ``pyro.poutine.do``. Site values in the
    returned trace have a leading dimension of size ``S`` (or 1 where they do not vary).
    """
    num_draws = next(iter(samples.values())).shape[0]
    conditioned = poutine.condition(model, data=expand_draws(samples, shapes, nesting))
    if interventions:
        conditioned = poutine.do(conditioned, data=dict(interventions))
    with poutine.block(), pyro.plate(DRAWS, num_draws, dim=-(nesting + 1)):
        return poutine.trace(conditioned).get_trace(**kwargs)


def draws_first(value: torch.Tensor, num_draws: int, nesting: int, event_dim: int = 0):
    """Return a site value from under the ``_draws`` plate with shape ``(S, *plate_dims, *event)``.

    A value that does not vary over draws (data, or a site with fewer dimensions) is padded on
    the left and broadcast, so the result always has ``1 + nesting + event_dim`` dimensions.
    For the usual single interaction plate that is ``(S, N)``.
    """
    batch_dims = value.dim() - event_dim
    padded = value.reshape((1,) * (nesting + 1 - batch_dims) + tuple(value.shape))
    return padded.expand((num_draws,) + tuple(padded.shape[1:]))
