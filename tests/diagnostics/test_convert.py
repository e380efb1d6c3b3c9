"""ArviZ conversion: groups, dimensions, exact log-likelihoods and chain structure."""

import math

import arviz as az
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from causalrec_pyro.diagnostics import posterior_draws, to_inference_data
from causalrec_pyro.diagnostics.commands import write_netcdf
from causalrec_pyro.inference import Posterior
from causalrec_pyro.models import matrix_factorization
from causalrec_pyro.models.scm import SCM

ALL_GROUPS = {
    "posterior",
    "posterior_predictive",
    "log_likelihood",
    "observed_data",
    "constant_data",
    "sample_stats",
}


def test_svi_groups_and_dims(svi_mf, train):
    idata = to_inference_data(svi_mf, train, num_samples=40)

    assert set(idata.groups()) == ALL_GROUPS - {"sample_stats"}
    assert idata.posterior.sizes["chain"] == 1
    assert idata.posterior.sizes["draw"] == 40
    assert idata.posterior["user_bias"].dims == ("chain", "draw", "user")
    assert idata.posterior["user_pref"].dims == ("chain", "draw", "user", "user_pref_dim_0")
    assert idata.posterior["item_factors"].dims == ("chain", "draw", "item", "item_factors_dim_0")
    assert idata.posterior["rating_sd"].dims == ("chain", "draw")
    assert idata.log_likelihood["rating"].dims == ("chain", "draw", "interaction")
    assert idata.log_likelihood.sizes["interaction"] == len(train)
    assert idata.posterior_predictive["rating"].shape == (1, 40, len(train))
    np.testing.assert_array_equal(idata.observed_data["rating"], train.rating.numpy())
    np.testing.assert_array_equal(idata.constant_data["user_index"], train.user.numpy())
    np.testing.assert_array_equal(idata.constant_data["item_index"], train.item.numpy())
    assert idata.posterior.attrs["inference_method"] == "svi"


def test_log_likelihood_matches_normal_density(train):
    scm = matrix_factorization(dim=1)
    generator = torch.Generator().manual_seed(1)
    draws = {
        "rating_offset": torch.tensor([3.0, 2.5]),
        "rating_sd": torch.tensor([1.0, 0.7]),
        "user_bias": torch.randn(2, train.n_users, generator=generator),
        "user_pref": torch.randn(2, train.n_users, 1, generator=generator),
        "item_quality": torch.randn(2, train.n_items, generator=generator),
        "item_factors": torch.randn(2, train.n_items, 1, generator=generator),
    }
    posterior = Posterior.from_samples(scm, draws, data=train)
    idata = to_inference_data(posterior, train)

    user, item = train.user, train.item
    mean = (
        draws["rating_offset"][:, None]
        + draws["user_bias"][:, user]
        + draws["item_quality"][:, item]
        + (draws["user_pref"][:, user] * draws["item_factors"][:, item]).sum(-1)
    )
    expected = dist.Normal(mean, draws["rating_sd"][:, None]).log_prob(train.rating)
    np.testing.assert_allclose(idata.log_likelihood["rating"][0], expected.numpy(), rtol=1e-5)


def mixture_model(y, z=None, z_seen=None):
    """A two-component mixture whose labels are observed only where ``z_seen``."""
    weight = pyro.sample("weight", dist.Beta(2.0, 2.0))
    low = pyro.sample("low", dist.Normal(-1.0, 1.0))
    high = pyro.sample("high", dist.Normal(1.0, 1.0))
    mask = None if z is None else z_seen
    with pyro.plate("interactions", z_seen.shape[0], dim=-1):
        with pyro.poutine.infer_config(
            config_fn=lambda msg: {} if msg["is_observed"] else {"enumerate": "parallel"}
        ):
            label = pyro.sample("z", dist.Bernoulli(weight), obs=z, obs_mask=mask)
        pyro.sample("y", dist.Normal(low + (high - low) * label, 1.0), obs=y)


def test_log_likelihood_sums_out_enumerated_labels():
    scm = SCM(mixture_model, observed=("z", "y"), plates={"interactions": ("y", "z_seen")})
    y = torch.tensor([-1.5, 0.2, 1.0, 2.5, -0.3])
    z_seen = torch.tensor([True, False, True, False, False])
    z = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
    data = {"y": y, "z": z, "z_seen": z_seen}
    draws = {
        "weight": torch.tensor([0.3, 0.6, 0.5]),
        "low": torch.tensor([-1.0, -0.5, -2.0]),
        "high": torch.tensor([1.0, 1.5, 0.5]),
    }
    posterior = Posterior.from_samples(scm, draws, data=data)
    idata = to_inference_data(posterior, data)

    weight, low, high = (draws[k][:, None] for k in ("weight", "low", "high"))
    log_high = dist.Normal(high, 1.0).log_prob(y)
    log_low = dist.Normal(low, 1.0).log_prob(y)
    marginal = torch.logaddexp(weight.log() + log_high, (1 - weight).log() + log_low)
    given_label = torch.where(z > 0, log_high, log_low)
    expected_y = torch.where(z_seen, given_label, marginal)
    expected_z = dist.Bernoulli(weight).log_prob(z)[:, z_seen]

    np.testing.assert_allclose(idata.log_likelihood["y"][0], expected_y.numpy(), rtol=1e-5)
    np.testing.assert_allclose(idata.log_likelihood["z"][0], expected_z.numpy(), rtol=1e-5)
    assert idata.log_likelihood["z"].dims == ("chain", "draw", "z_interaction")
    np.testing.assert_array_equal(idata.log_likelihood["z_interaction"], [0, 2])
    np.testing.assert_array_equal(idata.observed_data["z"], [0.0, 1.0])


def test_masked_site_replicates_given_other_sites():
    """Replicated labels at the seen units follow p(z | y), not the prior weight."""
    scm = SCM(mixture_model, observed=("z", "y"), plates={"interactions": ("y", "z_seen")})
    y = torch.tensor([-1.5, 0.2, 1.0, 2.5, -0.3])
    data = {"y": y, "z": torch.zeros(5), "z_seen": torch.ones(5, dtype=torch.bool)}
    num_draws = 2000
    draws = {
        "weight": torch.full((num_draws,), 0.3),
        "low": torch.full((num_draws,), -1.0),
        "high": torch.full((num_draws,), 1.5),
    }
    posterior = Posterior.from_samples(scm, draws, data=data)
    idata = to_inference_data(posterior, data, chunk_size=500)

    high = 0.3 * dist.Normal(1.5, 1.0).log_prob(y).exp()
    low = 0.7 * dist.Normal(-1.0, 1.0).log_prob(y).exp()
    expected = high / (high + low)
    share = idata.posterior_predictive["z"][0].mean("draw").to_numpy()
    # Each share averages 2000 Bernoulli draws: its standard error is at most 0.012.
    np.testing.assert_allclose(share, expected.numpy(), atol=0.04)
    assert share[3] > 0.8
    assert share[0] < 0.1


def test_exposure_model_keeps_observed_ratings(svi_mnar, grid, train):
    idata = to_inference_data(svi_mnar, grid, num_samples=20)

    observed_rows = int(grid.exposure.sum())
    assert observed_rows == len(train)
    assert idata.log_likelihood["rating"].dims == ("chain", "draw", "rating_interaction")
    assert idata.log_likelihood.sizes["rating_interaction"] == len(train)
    assert idata.log_likelihood.sizes["interaction"] == len(grid)
    assert idata.posterior_predictive["rating"].shape == (1, 20, len(train))
    np.testing.assert_array_equal(idata.observed_data["rating"], train.rating.numpy())
    assert np.isfinite(idata.log_likelihood["exposure"]).all()
    # The exposure of a pair whose rating is unobserved is a probability summed over ratings.
    assert (idata.log_likelihood["exposure"] <= 0).all()


def test_nuts_keeps_chains_and_stats(nuts_mf, train):
    idata = to_inference_data(nuts_mf, train)

    assert idata.posterior.sizes["chain"] == 2
    assert idata.posterior.sizes["draw"] == 30
    for name in ("diverging", "tree_depth", "energy", "lp", "step_size"):
        assert idata.sample_stats[name].dims == ("chain", "draw")
    np.testing.assert_array_equal(
        idata.posterior["rating_sd"].values.reshape(-1), nuts_mf.samples["rating_sd"].numpy()
    )
    assert idata.sample_stats["diverging"].dtype == bool


def test_thinning_keeps_each_chain(nuts_mf):
    draws, stats = posterior_draws(nuts_mf, num_samples=10)

    assert draws["rating_sd"].shape == (2, 5)
    assert stats["energy"].shape == (2, 5)
    chain_two = nuts_mf.samples["rating_sd"][30:]
    assert torch.equal(draws["rating_sd"][1, 0], chain_two[0])
    assert torch.equal(draws["rating_sd"][1, -1], chain_two[-1])


def test_netcdf_round_trip_holds_every_group(nuts_mf, train, tmp_path):
    idata = to_inference_data(nuts_mf, train, num_samples=20)
    path = write_netcdf(idata, tmp_path / "inference_data.nc")
    reloaded = az.from_netcdf(path)

    assert set(reloaded.groups()) == ALL_GROUPS
    assert reloaded.sample_stats["diverging"].dtype == bool
    np.testing.assert_allclose(reloaded.log_likelihood["rating"], idata.log_likelihood["rating"])
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
def test_loo_and_compare_rank_simulated_fits(svi_mf, svi_mnar, train, grid):
    mf = to_inference_data(svi_mf, train, num_samples=60)
    mnar = to_inference_data(svi_mnar, grid, num_samples=60)
    loo = az.loo(mf, var_name="rating", pointwise=True)
    comparison = az.compare({"mf": mf, "mnar": mnar}, var_name="rating")

    assert loo.n_data_points == len(train)
    assert math.isfinite(loo.elpd_loo)
    assert sorted(comparison["rank"]) == [0, 1]
    assert comparison["elpd_loo"].is_monotonic_decreasing


def test_chunk_size_is_checked(svi_mf, train):
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        to_inference_data(svi_mf, train, chunk_size=0)


def test_chunking_gives_same_log_likelihood(nuts_mf, train):
    whole = to_inference_data(nuts_mf, train, chunk_size=100)
    pieces = to_inference_data(nuts_mf, train, chunk_size=7)

    np.testing.assert_allclose(
        whole.log_likelihood["rating"], pieces.log_likelihood["rating"], rtol=1e-6
    )
