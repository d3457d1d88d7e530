"""What produced a result: code version, package versions, machine."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib import metadata

from bimix import __version__
from bimix.paths import REPO_ROOT

PACKAGES = ("bimix", "numpy", "scipy", "pandas", "torch", "transformers", "datasets", "tokenizers",
            "papermill", "matplotlib", "seaborn")


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe`` of the checkout (``-dirty`` when it has uncommitted changes), else the version."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"bimix-{__version__}"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict:
    return {
        "code_version": code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }


def accelerator(device, precision: str | None = None) -> dict:
    """What a run trained on: device type, GPU model, CUDA/cuDNN/NCCL versions (None where they do not
    apply) and the autocast dtype (None for fp32)."""
    import torch

    device = torch.device(device)
    facts = {"device_type": device.type, "gpu_model": None, "cuda": None, "cudnn": None, "nccl": None,
             "autocast_dtype": "bfloat16" if precision == "bf16" else None}
    if device.type == "cuda":
        facts["gpu_model"] = torch.cuda.get_device_name(device)
        facts["cuda"] = torch.version.cuda
        facts["cudnn"] = torch.backends.cudnn.version()
        if torch.distributed.is_available() and torch.distributed.is_nccl_available():
            version = torch.cuda.nccl.version()  # a tuple in recent torch, an int (2.x.y as 2xxyy) before
            facts["nccl"] = ".".join(map(str, version)) if isinstance(version, tuple) else str(version)
    return facts
