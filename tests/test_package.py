"""The package as users install it: version, typing marker, licence."""

from importlib.metadata import PackageNotFoundError, metadata, version
from pathlib import Path

import pytest

import kronop

ROOT = Path(kronop.__file__).parent


def test_version_matches_the_installed_metadata():
    try:
        installed = version("kronop")
    except PackageNotFoundError:
        pytest.skip("kronop is not installed (run from a source tree)")
    assert kronop.__version__ == installed


def test_typed_marker_ships_with_the_package():
    assert (ROOT / "py.typed").is_file()


def test_licence_is_declared_and_present():
    licence = ROOT.parent / "LICENSE"
    if not licence.is_file():
        pytest.skip("not a source checkout")
    assert "BSD 3-Clause" in licence.read_text()
    try:
        meta = metadata("kronop")
    except PackageNotFoundError:
        pytest.skip("kronop is not installed")
    assert meta.get("License-Expression") in (None, "BSD-3-Clause")
