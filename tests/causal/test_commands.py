"""The graph, effect and counterfactual sub-commands, run through ``causalrec_pyro.cli.main``."""

import pandas as pd
import pytest
import torch

from causalrec_pyro import Posterior, exposure_rating, fit_svi, matrix_factorization, simulate
from causalrec_pyro.cli import main
from causalrec_pyro.data.simulate import simulator_scm
from causalrec_pyro.runs import POSTERIOR_FILE, RUN_FILE, write_json

SETTINGS = {"n_users": 12, "n_items": 10, "seed": 3}


def _write_run(folder, posterior, model: str):
    posterior.save(folder / POSTERIOR_FILE)
    write_json(folder / RUN_FILE, {"dataset": "simulated", "simulate": SETTINGS, "model": model})
    return folder


@pytest.fixture(scope="module")
def world():
    return simulate(**SETTINGS)


@pytest.fixture(scope="module")
def mf_run(tmp_path_factory, world):
    posterior = fit_svi(
        matrix_factorization(dim=2), world.data, num_steps=5, progress=False, seed=0
    )
    return _write_run(tmp_path_factory.mktemp("mf"), posterior, "mf")


@pytest.fixture(scope="module")
def simulator_run(tmp_path_factory, world):
    posterior = Posterior.from_samples(simulator_scm(), world.true_draws())
    return _write_run(tmp_path_factory.mktemp("simulator"), posterior, "simulator")


def test_graph_command(mf_run, tmp_path, capsys):
    png, dot = tmp_path / "graph.png", tmp_path / "graph.dot"
    assert main(["graph", str(mf_run), "--png", str(png), "--dot", str(dot)]) == 0
    output = capsys.readouterr().out
    assert "Causal graph of model 'mf': 7 sites, 6 edges" in output
    assert "The program's edges equal the declared graph." in output
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert dot.read_text().startswith('digraph "mf" {')


def test_effect_command(simulator_run, world, capsys):
    # The test split contains all 10 items of every user, so the effect is the simulator's truth.
    argv = [
        "effect",
        str(simulator_run),
        "--treatment",
        "exposure",
        "--outcome",
        "click",
        "--treated",
        "1",
        "--control",
        "0",
        "--num-samples",
        "1",
    ]
    assert main(argv) == 0
    output = capsys.readouterr().out
    assert "E[click | do(exposure=1)] - E[click | do(exposure=0)] over 120 units" in output
    assert f"{world.click_effect:.4f}" in output


def test_effect_command_by_user(simulator_run, tmp_path, capsys):
    out = tmp_path / "effect.csv"
    argv = [
        "effect",
        str(simulator_run),
        "--treatment",
        "exposure",
        "--outcome",
        "click",
        "--treated",
        "1",
        "--control",
        "0",
        "--num-samples",
        "1",
        "--by",
        "user",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert len(table) == 12
    assert table["units"].tolist() == [10] * 12


def test_counterfactual_command(mf_run, world, tmp_path, capsys):
    out = tmp_path / "counterfactual.csv"
    argv = [
        "counterfactual",
        str(mf_run),
        "--intervention",
        "item_quality=0",
        "--outcome",
        "rating",
        "--num-samples",
        "20",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    output = capsys.readouterr().out
    assert "Counterfactual rating under do(item_quality=0) for 120 units" in output
    table = pd.read_csv(out)
    # Normal ratings: the counterfactual removes each draw's item quality from the rating.
    posterior = Posterior.load(mf_run / POSTERIOR_FILE)
    quality = posterior.sample(20, seed=0)["item_quality"].mean(0)
    test = world.data["test"]
    expected = test.rating - quality[test.item]
    torch.testing.assert_close(
        torch.tensor(table["counterfactual"].to_numpy(), dtype=torch.float32),
        expected,
        rtol=1e-4,
        atol=1e-4,
    )
    assert table["factual"].tolist() == pytest.approx(test.rating.tolist())


@pytest.mark.parametrize("guide", ["normal", "delta"])
def test_counterfactual_notes_a_map_fit(guide, world, tmp_path, capsys):
    posterior = fit_svi(
        matrix_factorization(dim=2), world.data, guide=guide, num_steps=5, progress=False, seed=0
    )
    run = _write_run(tmp_path, posterior, "mf")
    out = tmp_path / "counterfactual.csv"
    argv = ["counterfactual", str(run), "--intervention", "item_quality=0", "--outcome", "rating"]
    assert main(argv + ["--num-samples", "5", "--out", str(out)]) == 0
    output = capsys.readouterr().out
    table = pd.read_csv(out)
    width = (table["ci_high (90%)"] - table["ci_low (90%)"]).abs().max()
    if guide == "delta":
        assert "fitted with the delta guide (MAP)" in output
        assert width < 1e-5
    else:
        assert "delta guide" not in output
        assert width > 1e-3


def test_counterfactual_of_exposure_needs_fit_rows(world, tmp_path, capsys):
    grid = world.data["train"].with_unobserved()
    posterior = fit_svi(exposure_rating(dim=2), grid, num_steps=5, progress=False, seed=0)
    run = _write_run(tmp_path, posterior, "mnar")
    out = tmp_path / "counterfactual.csv"
    argv = ["counterfactual", str(run), "--intervention", "rating=5", "--outcome", "exposure"]
    assert main(argv + ["--split", "test", "--num-samples", "5"]) == 2
    assert "--split fit takes the rows the model was fitted on" in capsys.readouterr().err

    assert main(argv + ["--split", "fit", "--num-samples", "5", "--out", str(out)]) == 0
    output = capsys.readouterr().out
    assert f"for {len(grid)} units of split 'fit'" in output
    table = pd.read_csv(out)
    assert table["factual"].tolist() == grid.exposure.tolist()
    # Each unit's value is the mean of 5 binary draws of exposure.
    counts = table["counterfactual"] * 5
    assert (counts - counts.round()).abs().max() < 1e-4
    assert counts.between(0, 5).all()


def test_unknown_split_names_the_choices(mf_run, capsys):
    argv = ["counterfactual", str(mf_run), "--intervention", "item_quality=0"]
    assert main(argv + ["--outcome", "rating", "--split", "valid"]) == 2
    error = capsys.readouterr().err
    assert "--split 'valid' is not a split of" in error
    assert "['test', 'train'], or 'fit' for the rows the model was fitted on" in error


def test_invalid_intervention_reports_error(mf_run, capsys):
    argv = ["counterfactual", str(mf_run), "--intervention", "item_quality", "--outcome", "rating"]
    assert main(argv) == 2
    assert "--intervention 'item_quality' is invalid; write SITE=NUMBER" in capsys.readouterr().err


def test_unknown_site_reports_error(mf_run, capsys):
    argv = ["counterfactual", str(mf_run), "--intervention", "exposure=1", "--outcome", "rating"]
    assert main(argv) == 2
    assert "intervention names the site 'exposure'" in capsys.readouterr().err


def test_missing_run_reports_error(tmp_path, capsys):
    assert main(["graph", str(tmp_path / "absent")]) == 2
    assert "is not a model run directory" in capsys.readouterr().err
