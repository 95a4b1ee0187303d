"""The shipped variants and studies reach a user who installs the package as a wheel, not from the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ablate.shipped import shipped_dirs
from ablate.studies import list_studies
from ablate.variants import load_variants

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_variant_and_study(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ behind
    for folder in ("ablate", "variants", "studies"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / file, source / file)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("ablate-*.whl")
    names = {Path(name).relative_to(Path(name).parts[0]) for name in zipfile.ZipFile(wheel).namelist()}
    for kind in ("variants", "studies"):
        shipped = {Path("data/share/ablate", kind, path.name) for path in (REPO / kind).glob("*.toml")}
        assert shipped and shipped <= names


def test_an_installed_share_folder_is_searched_after_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after `pip install .`: <prefix>/share/ablate holds copies; the checkout's own files win over them."""
    for kind in ("variants", "studies"):
        (tmp_path / "share" / "ablate" / kind).mkdir(parents=True)
    share = tmp_path / "share" / "ablate"
    (share / "variants" / "only-installed.toml").write_text('description = "Installed only."\n')
    (share / "variants" / "jedi.toml").write_text('description = "A stale installed copy."\n')
    (share / "studies" / "only-installed.toml").write_text((REPO / "studies" / "latent-dim.toml").read_text())
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert shipped_dirs("variants") == [REPO / "variants", share / "variants"]
    variants = load_variants()
    assert variants["only-installed"].path == share / "variants" / "only-installed.toml"
    assert variants["jedi"].path.parent == REPO / "variants"
    assert "only-installed" in {study.name for study in list_studies()}
