"""What an installed wheel carries: every file digitlib reads at run time must match pyproject.toml's
package data, or a wheel (and a wheelhouse install) lacks it while a checkout works. The Python 3.12 smoke
test (scripts/smoke-python) builds the real wheel and checks it too; this catches the mistake in a second."""

import subprocess
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))


def package_data_files(package: str) -> set[Path]:
    """The files setuptools puts in the wheel as `package`'s data: its patterns, globbed in its folder."""
    folder = REPOSITORY / PYPROJECT["tool"]["setuptools"].get("package-dir", {}).get(package, package.replace(".", "/"))
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"][package]
    return {path for pattern in patterns for path in folder.glob(pattern) if path.is_file()}


def shipped_source_files(folder: str) -> set[Path]:
    """The files of `folder` that git knows (tracked, or new and not ignored): what a wheel must carry."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", folder],
                            cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout.splitlines()
    return {REPOSITORY / name for name in listed if (REPOSITORY / name).is_file()}


def test_every_notebook_and_sample_is_package_data():
    missing = shipped_source_files("notebooks") - package_data_files("digitlib.notebooks")
    assert not missing, f"add patterns for {sorted(map(str, missing))} to digitlib.notebooks' package data"


def test_every_template_and_schema_is_package_data():
    needed = {path for path in shipped_source_files("digitlib") if path.suffix not in (".py", ".pyc")}
    data = set().union(*(package_data_files(package) for package in PYPROJECT["tool"]["setuptools"]["package-data"]))
    missing = needed - data
    assert not missing, f"add patterns for {sorted(map(str, missing))} to their package's package data"


def test_every_subpackage_is_listed_for_the_wheel():
    """setuptools ships the packages pyproject.toml names, no other: a wing left out would be missing from a wheel."""
    found = {".".join(path.parent.relative_to(REPOSITORY).parts) for path in shipped_source_files("digitlib")
             if path.name == "__init__.py"}
    assert {"digitlib", "digitlib.run", "digitlib.train"} <= found  # the search finds what it should
    assert found == set(PYPROJECT["tool"]["setuptools"]["packages"]) - {"digitlib.notebooks"}


def test_the_install_scripts_parse():
    for script in ("find-python", "build-wheel", "smoke-python", "wheelhouse"):
        subprocess.run(["bash", "-n", str(REPOSITORY / "scripts" / script)], check=True)
