"""The No-U-Turn sampler for small :class:`~causalrec_pyro.SCM` models, with sample statistics."""

from __future__ import annotations

import logging
import time

import torch
from pyro.infer.mcmc import MCMC, NUTS
from pyro.infer.mcmc.util import diagnostics
from pyro.poutine.messenger import Messenger

from causalrec_pyro.inference.fitting import FitError, check_latents, data_schema, prepare_fit
from causalrec_pyro.inference.guides import resolve_device
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import (
    site_shapes,
)
from causalrec_pyro.models.scm import SCM

logger = logging.getLogger(__name__)

__all__ = ["fit_nuts", "SAMPLE_STATS"]

#: Per-draw statistics that :func:`fit_nuts` stores in ``posterior.extras["sample_stats"]``.
SAMPLE_STATS = ("diverging", "tree_depth", "energy", "lp", "step_size")


def fit_nuts(
    scm: SCM,
    data,
    num_samples: int = 500,
    warmup_steps: int = 500,
    num_chains: int = 1,
    seed: int | None = None,
    progress: bool = True,
    device: str | torch.device | None = "cpu",
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
) -> Posterior:
    r"""Draw posterior samples of ``scm``'s latent sites with NUTS and return a :class:`Posterior`.

    NUTS (Hoffman and Gelman, 2014) suits small models: a few hundred latent values or less.
    Discrete latent sites marked ``infer={"enumerate": "parallel"}`` (such as the unobserved
    ratings of the exposure model) are summed out, as ``TraceEnum_ELBO`` does in SVI.

    The chains run one after another in this process, each with its own warmup and a random
    initial point, so the result does not depend on multiprocessing and works for models that
    cannot be pickled.

    Parameters
    ----------
    scm : SCM
        The model.
    data : Split, RatingData or dict
        The data, as for :func:`~causalrec_pyro.inference.fit_svi`.
    num_samples : int
        Draws kept per chain.
    warmup_steps : int
        Adaptation steps per chain (step size and diagonal mass matrix), then discarded.
    num_chains : int
        Number of chains, run sequentially.
    seed : int, optional
        Seed of Pyro's random state, set once before the first chain.
    progress : bool
        Show Pyro's progress bar for each chain.
    device : str or torch.device
        ``"cpu"`` (the default, usually fastest for models NUTS can handle), ``"cuda"`` or
        ``"auto"``. Data tensors are moved there.
    target_accept_prob : float
        Target acceptance probability of step-size adaptation.
    max_tree_depth : int
        Maximum number of tree doublings per transition.

    Returns
    -------
    Posterior
        Backed by the stored draws, ``num_chains * num_samples`` of them in chain order
        (chain 0 first). ``extras`` contains ``"chains"``, ``"draws"`` (per chain),
        ``"sample_stats"`` (``{name: tensor of shape (chains, draws)}`` for each name in
        :data:`SAMPLE_STATS`), ``"acceptance_rate"`` (one float per chain) and
        ``"diagnostics"`` (``{site: {"r_hat": ..., "n_eff": ...}}`` from Pyro, empty for
        fewer than four draws per chain).

    Notes
    -----
    The sample statistics of draw :math:`t` are: ``diverging``, whether the trajectory
    diverged; ``tree_depth``, the number of tree doublings; ``energy``, the Hamiltonian
    :math:`H = U(q_{t-1}) + \tfrac12 r^\top r` at the start of the transition, with
    :math:`U` the potential energy (negative log joint density in unconstrained space) and
    :math:`r` the freshly drawn momentum in whitened coordinates; ``lp``, :math:`-U(q_t)`
    of the new draw; ``step_size``, the leapfrog step size.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}.")
    if num_chains < 1:
        raise ValueError(f"num_chains must be >= 1, got {num_chains}.")
    device = resolve_device(device)
    setup = prepare_fit(scm, data, device, seed)
    kwargs, rows, num_rows = setup.kwargs, setup.rows, setup.num_rows
    trace, latents = setup.trace, setup.latents
    if not latents:
        raise FitError(
            f"Model {scm.name!r} has no latent site to sample; every sample site is observed "
            "or enumerated. Add a latent site, or check SCM(observed=...)."
        )
    check_latents(trace, latents, minibatch=False)
    nesting = setup.nesting

    started = time.perf_counter()
    chains = [
        _run_chain(
            scm,
            kwargs,
            nesting,
            num_samples,
            warmup_steps,
            target_accept_prob,
            max_tree_depth,
            progress,
        )
        for _ in range(num_chains)
    ]
    seconds = time.perf_counter() - started

    grouped = {name: torch.cat([c["samples"][name] for c in chains]) for name in latents}
    stats = {name: torch.stack([c["stats"][name] for c in chains]) for name in SAMPLE_STATS}
    site_diagnostics = {}
    if num_samples >= 4:  # Pyro's split R-hat needs at least four draws per chain
        site_diagnostics = {
            name: {key: value.detach().cpu() for key, value in values.items()}
            for name, values in diagnostics(grouped, group_by_chain=True).items()
        }
    divergences = int(stats["diverging"].sum())
    logger.info(
        "Sampled %s with NUTS: %d chains x %d draws in %.1f s, %d divergent transitions.",
        scm.name,
        num_chains,
        num_samples,
        seconds,
        divergences,
    )
    flat = {name: value.reshape((-1,) + value.shape[2:]) for name, value in grouped.items()}
    return Posterior(
        scm,
        site_shapes=site_shapes(trace, latents),
        max_plate_nesting=nesting,
        samples=flat,
        data_schema=data_schema(data, kwargs, rows, num_rows),
        fit_config={
            "method": "nuts",
            "num_samples": num_samples,
            "warmup_steps": warmup_steps,
            "num_chains": num_chains,
            "seed": seed,
            "device": str(device),
            "target_accept_prob": target_accept_prob,
            "max_tree_depth": max_tree_depth,
            "seconds": seconds,
        },
        extras={
            "chains": num_chains,
            "draws": num_samples,
            "sample_stats": stats,
            "acceptance_rate": [c["acceptance_rate"] for c in chains],
            "diagnostics": site_diagnostics,
        },
    )


def _run_chain(
    scm, kwargs, nesting, num_samples, warmup_steps, target_accept_prob, max_tree_depth, progress
) -> dict:
    """Run one chain; return its draws ``(1, D, *shape)``, statistics ``(D,)`` and acceptance."""
    kernel = _RecordingNUTS(
        scm,
        max_plate_nesting=nesting,
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
    )
    mcmc = MCMC(
        kernel,
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        num_chains=1,
        disable_progbar=not progress,
    )
    mcmc.run(**kwargs)
    samples = {k: v.detach() for k, v in mcmc.get_samples(group_by_chain=True).items()}
    return {
        "samples": samples,
        "stats": kernel.recorded_stats(),
        "acceptance_rate": kernel.acceptance_rate,
    }


class _RecordingNUTS(NUTS):
    """NUTS that records the statistics of each post-warmup transition.

    It uses only public parts of the kernel: ``setup``, ``sample``, ``diagnostics``,
    ``potential_fn``, ``step_size``, and the sample sites that ``NUTS.sample`` draws with
    ``pyro.sample`` (read by :class:`_TransitionRecorder`).
    """

    def setup(self, warmup_steps, *args, **kwargs):
        self._warmup_left = warmup_steps
        self._records = {name: [] for name in SAMPLE_STATS}
        self._last_potential = None
        self.acceptance_rate = float("nan")
        super().setup(warmup_steps, *args, **kwargs)

    def sample(self, params):
        if self._warmup_left > 0:
            self._warmup_left -= 1
            return super().sample(params)
        if self._last_potential is None:
            self._last_potential = _potential(self, params)
        recorder = _TransitionRecorder()
        with recorder:
            new_params = super().sample(params)
        tree_depth, kinetic = recorder.tree_depth, recorder.kinetic
        potential = _potential(self, new_params)
        # The kernel lists the post-warmup draws that diverged; cleanup() clears the list
        # when the chain ends, so it is read here, after every draw.
        summary = self.diagnostics()
        draw = len(self._records["lp"])
        self._records["diverging"].append(draw in summary["divergences"][-1:])
        self.acceptance_rate = float(summary["acceptance rate"])
        self._records["tree_depth"].append(tree_depth)
        self._records["energy"].append(self._last_potential + kinetic)
        self._records["lp"].append(-potential)
        self._records["step_size"].append(float(self.step_size))
        self._last_potential = potential
        return new_params

    def recorded_stats(self) -> dict[str, torch.Tensor]:
        return {
            "diverging": torch.tensor(self._records["diverging"], dtype=torch.bool),
            "tree_depth": torch.tensor(self._records["tree_depth"], dtype=torch.long),
            "energy": torch.tensor(self._records["energy"]),
            "lp": torch.tensor(self._records["lp"]),
            "step_size": torch.tensor(self._records["step_size"]),
        }


def _potential(kernel: NUTS, params: dict) -> float:
    with torch.no_grad():
        return float(kernel.potential_fn(params))


class _TransitionRecorder(Messenger):
    """Read the tree depth and kinetic energy of one NUTS transition from its sample sites.

    ``NUTS.sample`` (Pyro 1.9) draws the whitened momentum as sites named ``r_t=...`` and the
    direction of each tree doubling as a site named ``direction_t=...``. The kinetic energy
    is ``r.r / 2`` in whitened coordinates, as ``HMC._kinetic_energy`` computes it. The model's
    own sites, drawn while the trajectory is integrated, pass through untouched.
    """

    def __init__(self):
        super().__init__()
        self.tree_depth = 0
        self.kinetic = 0.0

    def _pyro_post_sample(self, msg):
        name = msg["name"]
        if name.startswith("direction_t="):
            self.tree_depth += 1
        elif name.startswith("r_t="):
            self.kinetic += 0.5 * float(msg["value"].pow(2).sum())
