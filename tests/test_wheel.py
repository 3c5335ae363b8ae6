"""The installed library, without a checkout: the wheel and sdist build, and a virtual environment holding only the
wheel (its dependencies seen from the system's site-packages, so that torch is not downloaded again) runs fit,
evaluate, sample and render from a folder that is not the checkout."""
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set=nets.encoder_hidden=[32]", "--set=nets.decoder_hidden=[32]", "--set=model.latent_dim=4",
        "--set=data.train_subset=256", "--set=data.val_size=200", "--set=eval.probe_epochs=2", "--set=eval.gmm_n_init=1",
        "--set=eval.tsne_points=0", "--set=eval.diagnostics_points=100", "--set=eval.style_probe=false"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    pytest.importorskip("build")
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel, = dist.glob("ppl_ssl-*.whl")
    assert len(list(dist.glob("ppl_ssl-*.tar.gz"))) == 1
    environment = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(environment)
    python = environment / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # --force-reinstall: the system's site-packages, seen from the environment, may hold ppl-ssl itself (an editable
    # install of the checkout), which pip would otherwise take as already satisfying the wheel
    pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return wheel, environment


def _run(environment: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the checkout on the path
    return subprocess.run([str(environment / "bin" / "ppl-ssl"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_the_wheel_holds_the_package_its_models_guides_and_presets(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {"ppl_ssl/models/ssl.py", "ppl_ssl/guides/mean_field.py", "ppl_ssl/presets/simvae.toml",
            "ppl_ssl/reproduction/paper_results.toml"} <= set(names)
    assert not any(name.startswith(("experiments/", "tests/")) for name in names)


def test_an_environment_with_only_the_wheel_fits_evaluates_samples_and_renders(installed, tmp_path):
    _, environment = installed
    where = _run(environment, tmp_path, "--version")
    assert where.returncode == 0 and where.stdout.startswith("ppl-ssl ")
    located = subprocess.run([str(environment / "bin" / "python"), "-c", "import ppl_ssl; print(ppl_ssl.__file__)"],
                             cwd=tmp_path, capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert str(environment) in located.stdout and str(ROOT) not in located.stdout  # the wheel, not the checkout
    fit = _run(environment, tmp_path, "fit", "--model", "vae", "--dataset", "digits", "--epochs", "1", "--device", "cpu",
               *TINY, "--no-figures", "--quiet", "--out", "run")
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
    evaluate = _run(environment, tmp_path, "evaluate", "run", "--device", "cpu", "--no-figures", "--quiet")
    assert evaluate.returncode == 0 and '"knn_accuracy"' in evaluate.stdout, evaluate.stderr[-3000:]
    sample = _run(environment, tmp_path, "sample", "run", "--sampler", "gmm", "--n", "4", "--device", "cpu")
    assert sample.returncode == 0 and (tmp_path / "run" / "figures" / "samples_gmm.png").is_file(), sample.stderr[-3000:]
    if shutil.which("dot"):
        render = _run(environment, tmp_path, "render", "--model", "vae", "--out", "graphs")
        assert render.returncode == 0 and list((tmp_path / "graphs").glob("*.png")), render.stderr[-3000:]
    refused = _run(environment, tmp_path, "evaluate", "nowhere")
    assert refused.returncode == 2 and "no config file" in refused.stderr
