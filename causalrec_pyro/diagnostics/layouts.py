"""Layout of a model's sites and data in ArviZ terms: dimension names, observed units, covariates.

:func:`~causalrec_pyro.diagnostics.convert.to_inference_data` uses these to name each axis
and to keep only the observed units of a site split with ``obs_mask``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping

import torch

__all__ = ["PLATE_DIMS", "SiteLayout", "observed_layouts", "site_dims", "constant_data"]

#: Dimension name of each plate of the model contract; other plates keep their own name.
PLATE_DIMS = {"users": "user", "items": "item", "interactions": "interaction"}

#: Data arguments renamed in ``constant_data``, because ``user`` and ``item`` are dimensions.
_CONSTANT_NAMES = {"user": "user_index", "item": "item_index"}


@dataclasses.dataclass
class SiteLayout:
    """Layout of an observed site: the trace site, dimensions and units that count as observed.

    Attributes
    ----------
    name : str
        The observed site, as listed in ``SCM(observed=...)``.
    site : str
        The trace site that carries its log-density: ``name``, or ``name + "_observed"`` for
        a site split with ``obs_mask``.
    batch_shape : torch.Size
        The site's batch shape in one run of the model (``(N,)`` for an interaction site).
    dims : list of str
        ArviZ dimension names of the kept units and event axes.
    observed : torch.Tensor
        The observed values at the kept units.
    mask : torch.Tensor or None
        For a split site, which units (flattened batch) are observed; None keeps all.
    units : torch.Tensor or None
        For a split site, the flat positions of the observed units (the coordinates).
    """

    name: str
    site: str
    batch_shape: torch.Size
    dims: list
    observed: torch.Tensor
    mask: torch.Tensor | None = None
    units: torch.Tensor | None = None

    def select(self, value: torch.Tensor) -> torch.Tensor:
        """Keep the observed units of ``value``, shaped ``(S, *batch_shape, *event)``."""
        if self.mask is None:
            return value
        event_shape = value.shape[1 + len(self.batch_shape) :]
        flat = value.reshape((value.shape[0], -1) + event_shape)
        return flat[:, self.mask.to(value.device)]


def observed_layouts(scm, trace) -> list[SiteLayout]:
    """Return the layout of each observed site of ``scm`` found in ``trace`` (data observed)."""
    layouts = []
    for name in scm.observed:
        if name not in trace.nodes:
            warnings.warn(
                f"Observed site {name!r} of SCM {scm.name!r} is not in the model's trace, so it "
                "is left out of the InferenceData; check SCM(observed=...) against the "
                "model's pyro.sample names.",
                UserWarning,
                stacklevel=3,
            )
            continue
        node = trace.nodes[name]
        split_name = f"{name}_observed"
        if node["infer"].get("_deterministic") and split_name in trace.nodes:
            layouts.append(_split_layout(name, trace.nodes[split_name]))
            continue
        fn = node["fn"]
        shape = fn.batch_shape + fn.event_shape
        try:
            observed = node["value"].expand(shape)
        except RuntimeError:
            raise ValueError(
                f"Observed site {name!r} has a value of shape {tuple(node['value'].shape)} but "
                f"its distribution has shape {tuple(shape)}; run check_scm(scm, data) to see "
                "where the shapes broadcast wrongly."
            ) from None
        layouts.append(
            SiteLayout(name, name, fn.batch_shape, site_dims(node, name, shape), observed)
        )
    return layouts


def _split_layout(name: str, site) -> SiteLayout:
    fn = site["fn"]
    batch_shape = fn.batch_shape
    mask = site["mask"]
    mask = torch.ones(batch_shape, dtype=torch.bool) if mask is None else mask.expand(batch_shape)
    mask = mask.reshape(-1)
    base = site_dims(site, name, batch_shape)
    base_name = base[0] if len(base) == 1 else "unit"
    event_dims = [f"{name}_dim_{i}" for i in range(len(fn.event_shape))]
    value = site["value"].expand(batch_shape + fn.event_shape)
    observed = value.reshape((-1,) + fn.event_shape)[mask]
    return SiteLayout(
        name,
        site["name"],
        batch_shape,
        [f"{name}_{base_name}"] + event_dims,
        observed,
        mask=mask,
        units=mask.nonzero().squeeze(-1),
    )


def site_dims(site, name: str, shape) -> list[str]:
    """Return ArviZ dimension names for a site value of ``shape`` (batch then event axes).

    A batch axis that one of the site's plates spans, with the plate's size, is named after
    the plate (:data:`PLATE_DIMS`). Every other axis is ``<name>_dim_<k>``, numbered from 0.
    """
    batch_len = len(site["fn"].batch_shape)
    frames = {
        frame.dim: frame
        for frame in site["cond_indep_stack"]
        if frame.vectorized and frame.dim is not None
    }
    dims = []
    unnamed = 0
    for position, size in enumerate(shape):
        frame = frames.get(position - batch_len) if position < batch_len else None
        if frame is not None and frame.size == size:
            dims.append(PLATE_DIMS.get(frame.name, frame.name))
        else:
            dims.append(f"{name}_dim_{unnamed}")
            unnamed += 1
    return dims


def constant_data(scm, kwargs: Mapping) -> tuple[dict, dict]:
    """Return the covariates of ``kwargs`` as arrays, and their dimension names.

    Per-interaction arguments get dim ``interaction``; ``user_features`` gets
    ``(user, user_feature)`` and ``item_features`` ``(item, item_feature)``.
    """
    rows = set(scm.row_arguments(kwargs))
    values, dims = {}, {}
    for name, value in kwargs.items():
        if not isinstance(value, torch.Tensor) or name in scm.observed:
            continue
        key = _CONSTANT_NAMES.get(name, name)
        if name in rows:
            axes = ["interaction"] + [f"{key}_dim_{i}" for i in range(value.dim() - 1)]
        elif name == "user_features" and value.dim() == 2:
            axes = ["user", "user_feature"]
        elif name == "item_features" and value.dim() == 2:
            axes = ["item", "item_feature"]
        else:
            axes = [f"{key}_dim_{i}" for i in range(value.dim())]
        values[key] = value.detach().cpu().numpy()
        dims[key] = axes
    return values, dims
