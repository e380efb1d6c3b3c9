"""Posterior predictions of a site's expected value, vectorized over draws and units."""

from __future__ import annotations

import torch

from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import draws_first, trace_over_draws

__all__ = ["predict_mean"]


def predict_mean(
    posterior: Posterior,
    data,
    site: str = "rating",
    num_samples: int = 100,
    seed: int | None = 0,
    chunk_size: int = 50,
) -> torch.Tensor:
    r"""Return ``E[site | latents]`` for each posterior draw and unit, shape ``(S, N)``.

    For draw :math:`s` this is the mean of the site's distribution given the latent values
    :math:`z^{(s)}`, :math:`\mathbb{E}[y_n \mid z^{(s)}, x_n]`, so averaging over the first
    dimension gives the posterior predictive mean without sampling noise. The observed sites
    are generated (their data is dropped), so the mean follows the model's own mechanism: for
    a missing-not-at-random model it is the rating of a pair shown at random.
    ``chunk_size`` draws are traced at once to bound memory.
    """
    kwargs = posterior.scm.model_kwargs(data, observe=False)
    draws = posterior.sample(num_samples, seed=seed)
    device = next((v.device for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
    if device is not None:
        draws = {k: v.to(device) for k, v in draws.items()}
    chunks = []
    for start in range(0, num_samples, chunk_size):
        part = {k: v[start : start + chunk_size] for k, v in draws.items()}
        size = next(iter(part.values())).shape[0]
        trace = trace_over_draws(
            posterior.scm, part, kwargs, posterior.site_shapes, posterior.max_plate_nesting
        )
        if site not in trace.nodes:
            raise KeyError(
                f"Site {site!r} is not in model {posterior.scm.name!r}; its sample sites are "
                f"{sorted(n for n, s in trace.nodes.items() if s['type'] == 'sample')}."
            )
        mean = trace.nodes[site]["fn"].mean
        chunks.append(draws_first(mean.detach(), size, posterior.max_plate_nesting))
    return torch.cat(chunks, dim=0)
