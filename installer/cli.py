"""Command line: `registry-installer` and its subcommands (placeholder until the engine lands)."""


def main(argv=None) -> int:
    print("registry-installer: under construction")
    return 0
