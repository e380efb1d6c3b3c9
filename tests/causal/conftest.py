"""Small SCMs with known parameters for the causal-layer tests."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from causalrec_pyro import SCM, Posterior, simulate
from causalrec_pyro.data.simulate import simulator_scm

#: Parameters of the linear-Gaussian chain x -> m -> y with a direct edge x -> y.
LINEAR = {"a": 0.8, "b": 1.5, "c": -0.5, "m_sd": 0.7, "y_sd": 0.3}


def linear_model(unit, x=None, m=None, y=None, *, n_units):
    """x ~ N(0, 1); m ~ N(a x, m_sd); y ~ N(b m + c x, y_sd), one row per unit."""
    zero = torch.zeros(())
    a = pyro.sample("a", dist.Normal(zero, 1.0))
    b = pyro.sample("b", dist.Normal(zero, 1.0))
    c = pyro.sample("c", dist.Normal(zero, 1.0))
    m_sd = pyro.sample("m_sd", dist.HalfNormal(zero + 1.0))
    y_sd = pyro.sample("y_sd", dist.HalfNormal(zero + 1.0))
    with pyro.plate("interactions", unit.shape[0], dim=-1):
        x = pyro.sample("x", dist.Normal(zero, 1.0), obs=x)
        m = pyro.sample("m", dist.Normal(a * x, m_sd), obs=m)
        return pyro.sample("y", dist.Normal(b * m + c * x, y_sd), obs=y)


@pytest.fixture
def linear_params() -> dict:
    """The parameters of the linear SCM."""
    return dict(LINEAR)


@pytest.fixture
def linear() -> SCM:
    """The linear-Gaussian chain as an SCM."""
    return linear_scm()


def linear_scm() -> SCM:
    edges = [(p, "m") for p in ("a", "m_sd", "x")] + [
        (p, "y") for p in ("b", "c", "y_sd", "m", "x")
    ]
    return SCM(
        linear_model,
        observed=("x", "m", "y"),
        plates={"interactions": ("unit",)},
        graph=edges,
        name="linear",
    )


@pytest.fixture
def linear_data() -> dict:
    """Fifty units drawn from the linear SCM with the parameters of ``LINEAR``."""
    generator = torch.Generator().manual_seed(1)
    n = 50
    x = torch.randn(n, generator=generator)
    m = LINEAR["a"] * x + LINEAR["m_sd"] * torch.randn(n, generator=generator)
    y = LINEAR["b"] * m + LINEAR["c"] * x + LINEAR["y_sd"] * torch.randn(n, generator=generator)
    return {"unit": torch.arange(n), "x": x, "m": m, "y": y, "n_units": n}


@pytest.fixture
def linear_posterior(linear_data) -> Posterior:
    """The linear SCM's known parameters as a one-draw posterior."""
    draws = {name: torch.tensor([value]) for name, value in LINEAR.items()}
    return Posterior.from_samples(linear_scm(), draws, data=linear_data)


@pytest.fixture(scope="module")
def world():
    """A small simulated world: 12 users x 10 items, every pair observed."""
    return simulate(n_users=12, n_items=10, seed=3)


@pytest.fixture
def world_pairs(world) -> dict:
    """Every pair of ``world`` as the simulator's keyword arguments."""
    return {**world.pairs, "n_users": 12, "n_items": 10}


@pytest.fixture
def true_posterior(world, world_pairs) -> Posterior:
    """The simulator with its true parameters, as a one-draw posterior."""
    return Posterior.from_samples(simulator_scm(), world.true_draws(), data=world_pairs)
