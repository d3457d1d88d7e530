"""The frozen environment: the lock pins everything pyproject.toml asks for, with hashes; the conda route
lists the same packages; a reproduction's manifest says whether the lock was what got installed."""

from __future__ import annotations

import re
import tomllib

from bimix.compendium.reproduce import LOCK_FILE, lock_status, locked_versions
from bimix.paths import REPO_ROOT

CONDA_NAMES = {"torch": "pytorch"}  # pyproject name -> conda-forge name, where they differ


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return normalise(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec).group(1))


def pyproject_requirements(extras: bool = True) -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    if extras:
        specs += [s for group in project["optional-dependencies"].values() for s in group]
    return {requirement_name(s) for s in specs}


def environment_yml_names() -> set[str]:
    """Package names of environment.yml's conda list and its pip list (``-e .`` is the project)."""
    names = set()
    for line in (REPO_ROOT / "environment.yml").read_text(encoding="utf-8").splitlines():
        item = re.match(r"\s*-\s+(\S.*)$", line)
        if item and not item.group(1).startswith(("-e", "pip:")) and item.group(1) != "pip":
            names.add(requirement_name(item.group(1).split("=")[0].split(">")[0].split("<")[0]))
    return names


def test_environment_yml_lists_every_pyproject_dependency():
    listed = environment_yml_names()
    missing = sorted(n for n in pyproject_requirements() if CONDA_NAMES.get(n, n) not in listed)
    assert not missing, f"environment.yml lacks {missing}"


def test_lock_pins_every_dependency_except_torch_with_hashes():
    text = LOCK_FILE.read_text(encoding="utf-8")
    pins = locked_versions()
    wanted = pyproject_requirements() - {"torch"}  # installed first, from the Makefile's TORCH
    assert wanted <= set(pins), sorted(wanted - set(pins))
    assert not {n for n in pins if n in ("torch", "triton") or n.startswith(("nvidia-", "cuda-"))}
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [b.split()[0] for b in blocks if "==" in b.split("\n")[0] and "--hash=sha256:" not in b]
    assert not unhashed, unhashed
    lightgbm = pins["lightgbm"].split(".")
    assert lightgbm[0] == "4" and int(lightgbm[1]) >= 7  # inside pyproject's lightgbm>=4.7,<5


def test_make_venv_installs_from_the_lock_with_hashes():
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^LOCK\s*\?=\s*requirements\.lock$", makefile, re.M)
    assert "--require-hashes --no-deps -r $(LOCK)" in makefile
    assert re.search(r"^lock:", makefile, re.M)


def test_lock_status_reports_what_differs_from_the_installed_packages(tmp_path):
    import importlib.metadata

    numpy_version = importlib.metadata.version("numpy")
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"numpy=={numpy_version} \\\n    --hash=sha256:{'0' * 64}\n", encoding="utf-8")
    assert lock_status(lock)["used"] is True
    lock.write_text(lock.read_text() + "Py_Yaml[extra]==0.0.1 \\\n    --hash=sha256:" + "1" * 64 + "\n"
                    "not-installed-here==1.0\n", encoding="utf-8")
    status = lock_status(lock)
    assert status["used"] is False and status["packages"] == 3
    assert status["differ"]["py-yaml"] == ["0.0.1", None]  # names compare normalised, extras dropped
    assert status["differ"]["not-installed-here"] == ["1.0", None]
    assert "numpy" not in status["differ"]
    assert lock_status(tmp_path / "absent.lock") == {"file": str(tmp_path / "absent.lock"), "used": False,
                                                      "missing": True}


def test_reproduce_manifest_records_the_lock(tmp_path):
    from bimix.compendium.reproduce import reproduce

    manifest = reproduce("smoke", ["05_fit_law"], dry_run=True, output_dir=tmp_path, progress=False)
    assert manifest["lock"]["file"] == "requirements.lock"
    assert isinstance(manifest["lock"]["used"], bool) and manifest["lock"]["packages"] == len(locked_versions())

