"""Check that the version, the release tag and CHANGELOG.md agree.

Usage: ``python tools/check_release.py [--release-tag vX.Y.Z]``. Without a tag it
checks that CHANGELOG.md has an ``[Unreleased]`` section; with one, that the tag
is ``v`` plus the package version (``fastapi_chassis.__version__``, the one place
the version lives) and that CHANGELOG.md has a non-empty section for it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_version() -> str:
    """Return ``__version__`` from the package source, without importing it."""
    source = (ROOT / "src" / "fastapi_chassis" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', source, re.MULTILINE)
    if match is None:
        raise SystemExit("error: no __version__ in src/fastapi_chassis/__init__.py")
    return match.group(1)


def changelog_section(version: str) -> str | None:
    """Return the body of the CHANGELOG section for ``version``, or ``None``."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    pattern = rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## \[|\Z)"
    match = re.search(pattern, text, re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else None


def main() -> int:
    """Run the checks; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release-tag")
    arguments = parser.parse_args()
    version = package_version()
    if arguments.release_tag is None:
        if changelog_section("Unreleased") is None:
            print("error: CHANGELOG.md has no [Unreleased] section", file=sys.stderr)
            return 1
        print(f"version {version}; CHANGELOG.md has an [Unreleased] section")
        return 0
    if arguments.release_tag != f"v{version}":
        print(
            f"error: tag {arguments.release_tag} does not match the package version {version}",
            file=sys.stderr,
        )
        return 1
    if not changelog_section(version):
        print(f"error: CHANGELOG.md has no section for {version}", file=sys.stderr)
        return 1
    print(f"release {version}: tag, version and CHANGELOG.md agree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
