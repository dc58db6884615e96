"""Bundles libllamette into the package when it is built (pyproject.toml holds the metadata).

``pip install ./bindings/python`` after ``cargo build --release --features ffi`` copies
``target/release/libllamette.so`` (``.dylib``, ``llamette.dll``) next to the installed package,
so the installed package needs no environment variable. The library is taken from, in order:
``$LLAMETTE_LIB`` (at install time), ``llamette/`` itself (a copy placed there by hand),
``$CARGO_TARGET_DIR/release``, the repository's ``target/release``. With none of them, a pure
Python package is built, which then needs ``LLAMETTE_LIB`` at run time (a warning says so).
A wheel that carries the library is tagged for this platform (it holds a native library), not
``py3-none-any``.
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NAME = {"win32": "llamette.dll", "darwin": "libllamette.dylib"}.get(sys.platform, "libllamette.so")


def find_library():
    env = os.environ.get("LLAMETTE_LIB")
    if env:
        return Path(env) if Path(env).is_file() else None
    candidates = [HERE / "llamette" / NAME]
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        candidates.append((Path(target) if os.path.isabs(target) else REPO / target)
                          / "release" / NAME)
    candidates.append(REPO / "target" / "release" / NAME)
    return next((c for c in candidates if c.is_file()), None)


LIBRARY = find_library()


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "llamette" / NAME
        if LIBRARY is None:
            print(
                f"warning: {NAME} not found (build it with `cargo build --release --features "
                f"ffi`, or set LLAMETTE_LIB); the package will need LLAMETTE_LIB at run time",
                file=sys.stderr,
            )
        elif LIBRARY.resolve() != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(LIBRARY, dest)
            print(f"bundling {LIBRARY} as {dest}", file=sys.stderr)


class PlatformDistribution(Distribution):
    """Marks the wheel as platform-specific when it carries the native library."""

    def has_ext_modules(self):
        return LIBRARY is not None


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=PlatformDistribution)
