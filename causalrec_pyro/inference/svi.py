"""Stochastic variational inference for any :class:`~causalrec_pyro.SCM`."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO
from pyro.poutine.messenger import Messenger
from tqdm.auto import tqdm

from causalrec_pyro.inference.fitting import FitError, check_latents, data_schema, prepare_fit
from causalrec_pyro.inference.guides import make_guide, resolve_device
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import (
    is_enumerated,
    site_shapes,
)
from causalrec_pyro.models.scm import INTERACTIONS, SCM

logger = logging.getLogger(__name__)

__all__ = ["fit_svi", "FitError"]


class _ScaleInteractions(Messenger):
    """Multiply the log-density of every site in the interaction plate by ``factor``.

    ``fit_svi`` passes the model a random minibatch of rows, so the plate has the batch's
    size. Scaling by ``N / batch_size`` keeps the ELBO an unbiased estimate of the full one,
    as ``pyro.plate(..., subsample_size=...)`` does.
    """

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def _process_message(self, msg):
        if msg["type"] == "sample" and any(
            frame.name == INTERACTIONS for frame in msg["cond_indep_stack"]
        ):
            msg["scale"] = msg["scale"] * self.factor


def fit_svi(
    scm: SCM,
    data,
    guide: str | Callable = "normal",
    num_steps: int = 1000,
    lr: float = 0.01,
    batch_size: int | None = None,
    device: str | torch.device | None = "auto",
    seed: int | None = None,
    progress: bool = True,
    num_particles: int = 1,
    init_scale: float = 0.1,
    rank: int | None = None,
) -> Posterior:
    """Fit ``scm`` to ``data`` with SVI and return a :class:`Posterior`.

    Parameters
    ----------
    scm : SCM
        The model.
    data : Split, RatingData or dict
        The training data: a split, a data set (its ``"train"`` split) or the model's keyword
        arguments as tensors.
    guide : {"normal", "delta", "lowrank"} or callable
        A guide by name (see :func:`~causalrec_pyro.inference.guides.make_guide`) or any
        Pyro guide taking the model's keyword arguments.
    num_steps : int
        Number of optimisation steps.
    lr : float
        Learning rate of the clipped Adam optimiser.
    batch_size : int, optional
        Rows of the interaction plate per step. ``None`` uses all rows. A minibatch is drawn
        without replacement at every step and the interaction sites are scaled by
        ``N / batch_size``; per-interaction latent sites are not allowed with minibatches.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``. Data tensors are moved there.
    seed : int, optional
        Seed of Pyro's random state, set before the guide is built.
    progress : bool
        Show a progress bar with the running loss.
    num_particles : int
        Number of ELBO particles per step.
    init_scale, rank : float, int
        Options of the named guides (initial posterior scale, rank of ``"lowrank"``).

    Returns
    -------
    Posterior
        With ``loss_history`` holding the ELBO loss of each step.

    Raises
    ------
    FitError
        When the loss becomes NaN or infinite; the message names the step and what to try.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}.")
    device = resolve_device(device)
    setup = prepare_fit(scm, data, device, seed)
    kwargs, rows, num_rows = setup.kwargs, setup.rows, setup.num_rows
    trace, latents, nesting = setup.trace, setup.latents, setup.nesting
    check_latents(trace, latents, minibatch=batch_size is not None and batch_size < num_rows)
    enumerated = any(is_enumerated(site) for site in trace.nodes.values())

    factor = 1.0
    if batch_size is not None and batch_size < num_rows:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}.")
        factor = num_rows / batch_size
    model = _ScaleInteractions(factor)(scm) if factor != 1.0 else scm

    guide_kind = guide if isinstance(guide, str) else "custom"
    guide_options = {} if guide_kind == "custom" else {"init_scale": init_scale, "rank": rank}
    elbo_class = TraceEnum_ELBO if enumerated else Trace_ELBO
    elbo = elbo_class(
        num_particles=num_particles,
        max_plate_nesting=nesting,
        vectorize_particles=num_particles > 1,
    )

    losses = []
    started = time.perf_counter()
    with pyro.get_param_store().scope() as param_state:
        guide_fn = make_guide(scm, guide, **guide_options) if guide_kind != "custom" else guide
        svi = SVI(model, guide_fn, pyro.optim.ClippedAdam({"lr": lr}), elbo)
        bar = tqdm(range(num_steps), disable=not progress, desc=f"fit {scm.name}", leave=False)
        for step in bar:
            batch = kwargs
            if factor != 1.0:
                index = torch.randperm(num_rows, device=device)[:batch_size]
                batch = {**kwargs, **{name: kwargs[name][index] for name in rows}}
            loss = svi.step(**batch)
            if not math.isfinite(loss):
                raise FitError(
                    f"SVI loss is {loss} at step {step} of {num_steps} ({scm.name}, lr={lr}). "
                    "Try a smaller lr, check the data for NaN or extreme values, or use "
                    "guide='delta' to find a starting point."
                )
            losses.append(loss)
            if step % 100 == 0:
                logger.debug("step %d loss %.4f", step, loss)
                bar.set_postfix(loss=f"{loss / num_rows:.4f}/row")
        bar.close()
    seconds = time.perf_counter() - started
    logger.info(
        "Fitted %s with SVI: %d steps in %.1f s, final loss %.4f per row.",
        scm.name,
        num_steps,
        seconds,
        losses[-1] / num_rows,
    )
    prototype = _prototype_kwargs(kwargs, rows, trace, latents)
    return Posterior(
        scm,
        site_shapes=site_shapes(trace, latents),
        max_plate_nesting=nesting,
        guide=guide_fn,
        guide_kind=guide_kind,
        param_state=param_state,
        prototype_kwargs=prototype,
        loss_history=losses,
        data_schema=data_schema(data, kwargs, rows, num_rows),
        fit_config={
            "method": "svi",
            "guide": guide_kind,
            "guide_options": guide_options,
            "num_steps": num_steps,
            "lr": lr,
            "batch_size": batch_size,
            "device": str(device),
            "seed": seed,
            "num_particles": num_particles,
            "seconds": seconds,
        },
    )


def _prototype_kwargs(kwargs: Mapping, rows: list[str], trace, latents: list[str]) -> dict:
    """Keep what the guide needs to run later: all rows only if a latent is per interaction."""
    local = any(
        any(f.name == INTERACTIONS for f in trace.nodes[name]["cond_indep_stack"])
        for name in latents
    )
    if local:
        return dict(kwargs)
    return {name: (value[:2] if name in rows else value) for name, value in kwargs.items()}
