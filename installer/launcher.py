"""The installed `registry-installer` command: puts installer/ and screens/ on the import path, then runs the CLI.

The wheel keeps both packages inside a `registry_installer` folder (pyproject.toml's package-dir), not at the top
of site-packages, where `installer` is PyPA's wheel installer (a dependency of build tools): installing this project
never overwrites it, and `import installer` elsewhere still gets PyPA's. Only this command's own process puts that
folder first on sys.path, so the code's `installer.*` and `screens.*` imports are ours there. From the source tree
(`python3 -m installer`, the tests) the folders are already top-level and nothing here runs.
"""

from __future__ import annotations

import sys
from pathlib import Path


def use_installed_layout() -> None:
    """Make `installer` and `screens` the packages beside this one (the wheel's registry_installer/ folder)."""
    home = Path(__file__).resolve().parent.parent  # the folder that holds installer/ and screens/
    loaded = sys.modules.get("installer")
    if loaded is not None and Path(getattr(loaded, "__file__", None) or "").resolve().parent != home / "installer":
        # something imported PyPA's installer into this process first: ours cannot be imported under that name
        raise SystemExit(f"registry-installer: another `installer` package is already loaded ({loaded.__file__})")
    if str(home) not in sys.path:
        sys.path.insert(0, str(home))


def main() -> int:
    use_installed_layout()
    from installer.cli import exit_soon
    from installer.cli import main as cli_main

    code = cli_main()
    exit_soon()
    return code
