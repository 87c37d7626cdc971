"""The project as users install it: the wheel in a fresh virtualenv, run from a directory outside the checkout.

The venv gets the wheel itself (nothing of the checkout) and, to stay fast and offline, reaches the
third-party dependencies of the test venv through a plain path entry: no ``.pth`` hooks of that venv run, so
its editable install of the checkout stays invisible. Each command asserts it imported the installed copy.
"""

import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

from tests.model_samples import export_untrained_model

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh venv's bin dir, a working dir outside the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(CHECKOUT)],
        check=True,
    )
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    new_python = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [new_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "test-venv-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next(wheels.glob("loyaltylens-*.whl"))
    subprocess.run([*pip, "--python", str(new_python), "install", "--quiet", "--no-deps", str(wheel)], check=True)
    workdir = root / "elsewhere"
    workdir.mkdir()
    return env_dir / "bin", workdir


def _run(installed: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess:
    bin_dir, workdir = installed
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env |= {"LOYALTYLENS_DATA_DIR": str(workdir / ".loyaltylens"), "PATH": f"{bin_dir}:{env['PATH']}"}
    return subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    done = _run(installed, "python", "-c", "import loyaltylens, pipelines, serving; print(loyaltylens.__file__)")
    assert done.returncode == 0, done.stderr
    assert "site-packages" in done.stdout and str(CHECKOUT) not in done.stdout


def test_pipeline_compile_from_the_installed_wheel(installed):
    done = _run(installed, "loyaltylens", "pipeline", "compile")
    assert done.returncode == 0, done.stderr
    assert "compiled training ->" in done.stdout and str(CHECKOUT) not in done.stdout


def test_prompt_list_from_the_installed_wheel(installed):
    done = _run(installed, "loyaltylens", "prompt", "list")
    assert done.returncode == 0, done.stderr
    assert "offer_copy" in done.stdout


def test_sagemaker_archive_from_the_installed_wheel(installed, tmp_path):
    model_dir = export_untrained_model(tmp_path / "model")
    out = tmp_path / "model.tar.gz"
    script = (
        "import sys, loyaltylens; from loyaltylens.deploy.sagemaker import build_model_archive; "
        "build_model_archive(sys.argv[1], sys.argv[2]); print(loyaltylens.__file__)"
    )
    done = _run(installed, "python", "-c", script, str(model_dir), str(out))
    assert done.returncode == 0, done.stderr
    assert str(CHECKOUT) not in done.stdout
    with tarfile.open(out) as archive:
        names = set(archive.getnames())
        handler = archive.extractfile("code/inference.py").read()
    assert handler == (CHECKOUT / "serving" / "sagemaker" / "inference.py").read_bytes()
    assert {"model.pt", "feature_contract.json", "code/loyaltylens/config.py"} <= names
