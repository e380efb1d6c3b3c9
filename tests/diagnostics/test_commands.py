"""The ``causalrec diagnose`` sub-command on small run directories."""

import argparse

import arviz as az
import numpy as np
import pytest

from causalrec_pyro import fit_svi, matrix_factorization
from causalrec_pyro.diagnostics.commands import add_commands, pareto_k_counts
from causalrec_pyro.runs import POSTERIOR_FILE, RUN_FILE, write_json

EVERY_GROUP = {
    "posterior",
    "posterior_predictive",
    "log_likelihood",
    "observed_data",
    "constant_data",
}


def write_run(folder, posterior, world_settings):
    posterior.save(folder / POSTERIOR_FILE)
    write_json(
        folder / RUN_FILE, {"dataset": "simulated", "simulate": world_settings, "model": "mf"}
    )
    return folder


def diagnose(*argv) -> int:
    parser = argparse.ArgumentParser(prog="causalrec")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["diagnose", *map(str, argv)])
    return args.func(args)


def test_diagnose_svi_run(svi_mf, world_settings, tmp_path, capsys):
    run = write_run(tmp_path, svi_mf, world_settings)
    assert diagnose(run, "--num-samples", "50") == 0

    output = capsys.readouterr().out
    assert "Model 'mf' (svi): 1 chain(s) x 50 draws." in output
    assert "rating: elpd_loo" in output
    assert "Pareto k: good (k <= " in output
    idata = az.from_netcdf(run / "inference_data.nc")
    assert set(idata.groups()) == EVERY_GROUP
    assert (run / "elbo.png").is_file()
    assert (run / "ppc_rating.png").is_file()
    assert not list(run.glob(".*.tmp"))


def test_diagnose_map_run_skips_loo(train, world_settings, tmp_path, capsys):
    posterior = fit_svi(
        matrix_factorization(dim=2), train, guide="delta", num_steps=50, seed=0, progress=False
    )
    run = write_run(tmp_path, posterior, world_settings)
    assert diagnose(run, "--no-plots") == 0

    output = capsys.readouterr().out
    assert "fitted with the delta guide (MAP)" in output
    assert "Model 'mf' (svi): 1 chain(s) x 1 draws." in output
    assert "elpd_loo" not in output
    idata = az.from_netcdf(run / "inference_data.nc")
    expected = float(idata.log_likelihood["rating"].sum())
    assert f"rating: {expected:.2f} over {len(train)} units" in output


def test_diagnose_nuts_run(nuts_mf, world_settings, tmp_path, capsys):
    run = write_run(tmp_path, nuts_mf, world_settings)
    assert diagnose(run, "--no-plots") == 0

    output = capsys.readouterr().out
    assert "Model 'mf' (nuts): 2 chain(s) x 30 draws." in output
    assert "r_hat_max" in output
    assert "ess_bulk_min" in output
    assert "Divergent transitions:" in output
    idata = az.from_netcdf(run / "inference_data.nc")
    assert set(idata.groups()) == EVERY_GROUP | {"sample_stats"}
    assert not (run / "rank.png").exists()


def test_diagnose_rewrites_existing_file(svi_mf, world_settings, tmp_path):
    run = write_run(tmp_path, svi_mf, world_settings)
    (run / "inference_data.nc").write_bytes(b"partial")
    assert diagnose(run, "--num-samples", "10", "--no-plots") == 0

    assert az.from_netcdf(run / "inference_data.nc").posterior.sizes["draw"] == 10


def test_diagnose_needs_a_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a model run directory"):
        diagnose(tmp_path)


class FakeLoo:
    pareto_k = np.array([0.1, 0.4, 0.6, 0.69, 0.8, 1.2, 1.5])
    good_k = 0.5


def test_pareto_k_bins():
    counts = pareto_k_counts(FakeLoo())

    assert list(counts.values()) == [2, 2, 1, 2]
    assert list(counts)[0] == "good (k <= 0.50)"
