"""LOO and model comparison on Coat's training ratings (needs the real data folder)."""

import math

import arviz as az
import pyro
import pyro.distributions as dist
import pytest
import torch

from causalrec_pyro.data import load_coat
from causalrec_pyro.diagnostics import to_inference_data
from causalrec_pyro.diagnostics.commands import loo_by_site, pareto_k_counts
from causalrec_pyro.inference import fit_svi
from causalrec_pyro.models import matrix_factorization
from causalrec_pyro.models.scm import SCM


def item_mean_model(user, item, rating=None, *, n_users, n_items):
    """Ratings from an item mean alone: ``rating_ui ~ N(item_mean_i, rating_sd)``."""
    zero = user.new_zeros((), dtype=torch.get_default_dtype())
    rating_sd = pyro.sample("rating_sd", dist.HalfNormal(zero + 1.0))
    with pyro.plate("items", n_items, dim=-1):
        item_mean = pyro.sample("item_mean", dist.Normal(zero + 3.0, 1.0))
    with pyro.plate("interactions", user.shape[0], dim=-1):
        return pyro.sample("rating", dist.Normal(item_mean[..., item], rating_sd), obs=rating)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
def test_loo_ranks_two_coat_models(shared_data, capsys):
    train = load_coat(shared_data / "coat")["train"]
    models = {
        "mf": matrix_factorization(dim=4, prior_scale=0.3),
        "item_mean": SCM(item_mean_model, observed=("rating",), name="item_mean"),
    }
    idata = {}
    for name, scm in models.items():
        posterior = fit_svi(scm, train, num_steps=800, lr=0.03, seed=0, progress=False)
        idata[name] = to_inference_data(posterior, train, num_samples=100)
    comparison = az.compare(idata, var_name="rating")
    with capsys.disabled():
        print("\n", comparison)
        for name, data in idata.items():
            result = loo_by_site(data)["rating"]
            print(name, result.elpd_loo, result.se, result.p_loo, pareto_k_counts(result))

    for data in idata.values():
        assert data.log_likelihood.sizes["interaction"] == len(train)
        assert math.isfinite(float(data.log_likelihood["rating"].sum()))
    assert sorted(comparison["rank"]) == [0, 1]
    assert comparison.index[0] == "mf"
