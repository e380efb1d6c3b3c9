"""NUTS: agreement with a closed-form posterior, sample statistics, enumeration, persistence."""

import arviz as az
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.mcmc import MCMC

from causalrec_pyro.data.simulate import simulate
from causalrec_pyro.diagnostics import to_inference_data
from causalrec_pyro.inference import FitError, Posterior, fit_svi
from causalrec_pyro.inference.nuts import SAMPLE_STATS, _RecordingNUTS, fit_nuts
from causalrec_pyro.models import exposure_rating
from causalrec_pyro.models.scm import SCM

PRIOR_SD = 2.0
NOISE_SD = 1.0


def regression_model(x, rating=None):
    """Linear regression with known noise: ``rating ~ N(a + b x, 1)``, ``a, b ~ N(0, 2^2)``."""
    intercept = pyro.sample("intercept", dist.Normal(0.0, PRIOR_SD))
    slope = pyro.sample("slope", dist.Normal(0.0, PRIOR_SD))
    with pyro.plate("interactions", x.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(intercept + slope * x, NOISE_SD), obs=rating)


@pytest.fixture(scope="module")
def regression():
    """Data with a centred covariate, so the exact posterior of (a, b) is uncorrelated."""
    generator = torch.Generator().manual_seed(0)
    x = torch.linspace(-1.0, 1.0, 30)
    rating = 0.5 + 1.5 * x + NOISE_SD * torch.randn(30, generator=generator)
    scm = SCM(regression_model, observed=("rating",), plates={"interactions": ("x",)})
    return scm, {"x": x, "rating": rating}


def exact_posterior(data):
    """Return the closed-form posterior mean and standard deviation of (intercept, slope)."""
    design = torch.stack([torch.ones_like(data["x"]), data["x"]], dim=-1).double()
    precision = design.T @ design / NOISE_SD**2 + torch.eye(2, dtype=torch.double) / PRIOR_SD**2
    covariance = torch.linalg.inv(precision)
    mean = covariance @ design.T @ data["rating"].double() / NOISE_SD**2
    return mean, covariance.diagonal().sqrt()


@pytest.fixture(scope="module")
def nuts_fit(regression):
    scm, data = regression
    return fit_nuts(
        scm, data, num_samples=500, warmup_steps=300, num_chains=2, seed=0, progress=False
    )


def test_nuts_matches_closed_form(regression, nuts_fit):
    _, data = regression
    mean, sd = exact_posterior(data)
    draws = torch.stack([nuts_fit.samples["intercept"], nuts_fit.samples["slope"]], -1).double()

    # Monte Carlo error of the mean is about sd / sqrt(ESS) < 0.06 sd for ESS > 300.
    assert torch.allclose(draws.mean(0), mean, atol=0.15 * float(sd.min()))
    assert torch.allclose(draws.std(0), sd, rtol=0.12)


def test_nuts_rhat_below_threshold(regression, nuts_fit):
    _, data = regression
    idata = to_inference_data(nuts_fit, data)
    r_hat = az.rhat(idata, var_names=["intercept", "slope"])

    assert float(r_hat["intercept"]) < 1.01
    assert float(r_hat["slope"]) < 1.01
    assert float(nuts_fit.extras["diagnostics"]["slope"]["r_hat"]) < 1.01


def test_svi_matches_closed_form(regression):
    scm, data = regression
    mean, sd = exact_posterior(data)
    # Many particles keep the final iterate's noise small: over seeds 0 to 4 the mean was
    # within 0.11 sd and the sd within 8% of the closed form.
    posterior = fit_svi(scm, data, num_steps=600, lr=0.02, num_particles=32, seed=0, progress=False)
    draws = posterior.sample(4000, seed=0)
    draws = torch.stack([draws["intercept"], draws["slope"]], -1).double()

    assert torch.allclose(draws.mean(0), mean, atol=0.15 * float(sd.min()))
    assert torch.allclose(draws.std(0), sd, rtol=0.12)


def test_sample_stats_layout(nuts_fit):
    stats = nuts_fit.extras["sample_stats"]

    assert nuts_fit.extras["chains"] == 2
    assert nuts_fit.extras["draws"] == 500
    assert set(stats) == set(SAMPLE_STATS)
    for value in stats.values():
        assert value.shape == (2, 500)
    assert stats["diverging"].dtype == torch.bool
    assert (stats["tree_depth"] >= 1).all()
    assert nuts_fit.samples["slope"].shape == (1000,)
    assert nuts_fit.fit_config["method"] == "nuts"
    assert len(nuts_fit.extras["acceptance_rate"]) == 2


def test_energy_adds_kinetic_energy(nuts_fit):
    """The energy of draw t is U(q_{t-1}) + r.r / 2, so energy[t] + lp[t-1] is r.r / 2.

    With a two-dimensional momentum r ~ N(0, I), r.r / 2 has mean 1.
    """
    stats = nuts_fit.extras["sample_stats"]
    kinetic = stats["energy"][:, 1:] + stats["lp"][:, :-1]

    assert (kinetic >= 0).all()
    assert 0.85 < float(kinetic.mean()) < 1.15


def funnel_model(x, rating=None):
    """Neal's funnel: ``rating`` has scale ``exp(log_scale / 2)``, so NUTS diverges in the neck."""
    log_scale = pyro.sample("log_scale", dist.Normal(0.0, 3.0))
    with pyro.plate("interactions", x.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(0.0, (log_scale / 2).exp()))


def test_divergences_match_pyro():
    pyro.set_rng_seed(0)
    kernel = _RecordingNUTS(funnel_model, max_plate_nesting=1)
    mcmc = MCMC(kernel, num_samples=50, warmup_steps=20, disable_progbar=True)
    mcmc.run(x=torch.zeros(5))
    diverging = kernel.recorded_stats()["diverging"]
    expected = mcmc.diagnostics()["divergences"]["chain 0"]

    assert len(expected) > 0
    assert diverging.nonzero().squeeze(-1).tolist() == list(expected)
    assert kernel.recorded_stats()["energy"].shape == (50,)


def test_enumerated_sites_are_summed_out():
    world = simulate(n_users=4, n_items=3, seed=0)
    grid = world.data["train"].with_unobserved()
    scm = exposure_rating(dim=1, use_propensity=False)
    posterior = fit_nuts(
        scm, grid, num_samples=4, warmup_steps=4, seed=0, progress=False, max_tree_depth=3
    )

    assert "rating_unobserved" not in posterior.samples
    assert posterior.samples["user_bias"].shape == (4, 4)
    assert posterior.samples["rating_cutpoints"].shape == (4, 4)


def test_save_load_keeps_extras(nuts_fit, regression, tmp_path):
    scm, _ = regression
    nuts_fit.save(tmp_path / "posterior.pt")
    loaded = Posterior.load(tmp_path / "posterior.pt", scm=scm)

    assert loaded.extras["chains"] == 2
    assert torch.equal(
        loaded.extras["sample_stats"]["energy"], nuts_fit.extras["sample_stats"]["energy"]
    )
    assert torch.equal(loaded.samples["slope"], nuts_fit.samples["slope"])


def test_arguments_are_checked(regression):
    scm, data = regression
    with pytest.raises(ValueError, match="num_samples must be >= 1, got 0"):
        fit_nuts(scm, data, num_samples=0)
    with pytest.raises(ValueError, match="num_chains must be >= 1, got 0"):
        fit_nuts(scm, data, num_chains=0)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0, got -1"):
        fit_nuts(scm, data, warmup_steps=-1)


def discrete_model(x, rating=None):
    flag = pyro.sample("flag", dist.Bernoulli(0.5))
    with pyro.plate("interactions", x.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(flag * x, 1.0), obs=rating)


def test_discrete_latent_is_rejected(regression):
    _, data = regression
    scm = SCM(discrete_model, observed=("rating",), plates={"interactions": ("x",)})
    with pytest.raises(FitError, match="Latent site 'flag' is discrete and not enumerated"):
        fit_nuts(scm, data, num_samples=2, warmup_steps=2, progress=False)


def observed_only_model(x, rating=None):
    with pyro.plate("interactions", x.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(x, 1.0), obs=rating)


def test_model_without_latents_is_rejected(regression):
    _, data = regression
    scm = SCM(observed_only_model, observed=("rating",), plates={"interactions": ("x",)})
    with pytest.raises(FitError, match="has no latent site to sample"):
        fit_nuts(scm, data, num_samples=2, warmup_steps=2, progress=False)
