"""Small fitted posteriors shared by the diagnostics tests."""

import pytest

from causalrec_pyro.data.simulate import simulate
from causalrec_pyro.inference import fit_svi
from causalrec_pyro.inference.nuts import fit_nuts
from causalrec_pyro.models import exposure_rating, matrix_factorization

#: ``simulate`` settings of the tiny world; a run directory stores them in run.json.
TINY_WORLD = {"n_users": 12, "n_items": 10, "seed": 0}


@pytest.fixture(scope="session")
def world_settings():
    return dict(TINY_WORLD)


@pytest.fixture(scope="session")
def tiny_world():
    return simulate(**TINY_WORLD)


@pytest.fixture(scope="session")
def train(tiny_world):
    return tiny_world.data["train"]


@pytest.fixture(scope="session")
def grid(train):
    """The training ratings plus every unobserved pair, for the exposure model."""
    return train.with_unobserved()


@pytest.fixture(scope="session")
def svi_mf(train):
    return fit_svi(
        matrix_factorization(dim=2), train, num_steps=150, lr=0.05, seed=0, progress=False
    )


@pytest.fixture(scope="session")
def svi_mnar(grid):
    scm = exposure_rating(dim=2, use_propensity=False)
    return fit_svi(scm, grid, num_steps=80, lr=0.05, seed=0, progress=False)


@pytest.fixture(scope="session")
def nuts_mf(train):
    return fit_nuts(
        matrix_factorization(dim=1),
        train,
        num_samples=30,
        warmup_steps=30,
        num_chains=2,
        seed=0,
        progress=False,
    )
