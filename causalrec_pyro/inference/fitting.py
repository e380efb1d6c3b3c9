"""Preparation shared by the samplers: data checks, the prototype trace, the data schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pyro
import torch

from causalrec_pyro.inference.traces import latent_sites, max_plate_nesting, prototype_trace
from causalrec_pyro.models.scm import INTERACTIONS, SCM

__all__ = ["FitError", "FitSetup", "check_latents", "data_schema", "prepare_fit"]


class FitError(RuntimeError):
    """Fitting failed: a non-finite loss, or a model that cannot be fitted as written."""


@dataclasses.dataclass
class FitSetup:
    """Checked model arguments and the facts a sampler needs from one run of the model."""

    kwargs: dict
    rows: list
    num_rows: int
    trace: object
    latents: list
    nesting: int


def prepare_fit(scm: SCM, data, device: torch.device, seed: int | None) -> FitSetup:
    """Move the data to ``device``, check its rows, seed Pyro and trace the model once."""
    kwargs = _to_device(scm.model_kwargs(data), device)
    rows = scm.row_arguments(kwargs)
    num_rows = _check_rows(kwargs, rows)
    if seed is not None:
        pyro.set_rng_seed(seed)
    trace = prototype_trace(scm, kwargs)
    latents = latent_sites(trace)
    return FitSetup(kwargs, rows, num_rows, trace, latents, max_plate_nesting(trace))


def _to_device(kwargs: Mapping, device: torch.device) -> dict:
    moved = {}
    for name, value in kwargs.items():
        moved[name] = value.to(device) if isinstance(value, torch.Tensor) else value
    return moved


def _check_rows(kwargs: Mapping, rows: list[str]) -> int:
    """Check the per-interaction tensors: one length, no NaN or infinity. Return the length."""
    if not rows:
        raise ValueError(
            "The data has no per-interaction tensor (user, item or an observed site); "
            f"got keyword arguments {sorted(kwargs)}."
        )
    lengths = {name: int(kwargs[name].shape[0]) for name in rows}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"Per-interaction arguments differ in length: {lengths}.")
    num_rows = next(iter(lengths.values()))
    if num_rows == 0:
        raise ValueError("The data has no rows; fitting needs at least one interaction.")
    for name in rows:
        value = kwargs[name]
        if value.is_floating_point() and not torch.isfinite(value).all():
            bad = (~torch.isfinite(value)).nonzero()[0].item()
            raise ValueError(
                f"Argument {name!r} has a non-finite value {value[bad].item()} at row {bad}; "
                "remove or impute such rows before fitting."
            )
    return num_rows


def check_latents(trace, latents: list[str], minibatch: bool) -> None:
    for name in latents:
        site = trace.nodes[name]
        if site["fn"].support.is_discrete:
            raise FitError(
                f"Latent site {name!r} is discrete and not enumerated, so the autoguides cannot "
                "fit it. Observe it, or mark it with infer={'enumerate': 'parallel'} so that "
                "TraceEnum_ELBO sums it out."
            )
        if minibatch and any(f.name == INTERACTIONS for f in site["cond_indep_stack"]):
            raise FitError(
                f"Latent site {name!r} lies in the {INTERACTIONS!r} plate, which minibatching "
                "slices; fit it with batch_size=None."
            )


def data_schema(data, kwargs: Mapping, rows: list[str], num_rows: int) -> dict:
    if hasattr(data, "schema"):
        return data.schema()
    if hasattr(data, "splits"):
        return data["train"].schema()
    return {
        "num_rows": num_rows,
        "columns": rows,
        "arguments": {k: list(v.shape) for k, v in kwargs.items() if isinstance(v, torch.Tensor)},
    }
