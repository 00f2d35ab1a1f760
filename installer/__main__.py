"""Entry point for `python -m installer`."""

from installer.cli import exit_soon, main

code = main()
exit_soon()
raise SystemExit(code)
