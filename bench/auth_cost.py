"""Benchmark: what the bcrypt cost we write costs a push (nginx re-checks the hash on every request).

Pushes a 20-layer image through nginx (TLS, basic auth) to Debian's registry with htpasswd entries
at bcrypt cost 4, 8, 10 and 12; the peer of each figure is the same push at cost 4.
Run from the repository root: `python bench/auth_cost.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import line  # noqa: E402
from installer.registry_client import OCI_CONFIG, OCI_LAYER_GZIP, RegistryClient, manifest_json  # noqa: E402
from installer.secretstr import SecretStr  # noqa: E402
from installer.smoke_image import SmokeLayer, image_config  # noqa: E402
from tests.fixtures.registry import make_ca, start_nginx, start_registry, write_htpasswd  # noqa: E402

COSTS = (4, 8, 10, 12)
LAYERS = 20
LAYER_BYTES = 64 * 1024


def push_image(address: str, ca_file: Path, password: str) -> tuple[float, int]:
    """Push a fresh 20-layer image; returns (seconds, HTTP requests made)."""
    with RegistryClient(address, username="bench", password=SecretStr(password), ca_file=ca_file, timeout=60) as client:
        requests_made = 0
        original = client.session.request

        def counting(*args, **kwargs):
            nonlocal requests_made
            requests_made += 1
            return original(*args, **kwargs)

        client.session.request = counting
        started = time.perf_counter()
        client.ping()
        layers = []
        for _ in range(LAYERS):
            layer = SmokeLayer(LAYER_BYTES, seed=secrets.token_bytes(16))
            digest, sent = client.upload_blob("bench/auth", layer.chunks())
            layers.append((layer, digest, sent))
        from installer.registry_client import Descriptor

        config = client.push_blob("bench/auth", image_config(layers[0][0].diff_id), OCI_CONFIG)
        client.put_manifest(
            "bench/auth", "latest", manifest_json(config, [Descriptor(OCI_LAYER_GZIP, d, s) for _, d, s in layers])
        )
        return time.perf_counter() - started, requests_made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca = make_ca(root / "tls")
        registry = start_registry(root / "registry")
        try:
            for cost in COSTS:
                password = secrets.token_urlsafe(16)
                htpasswd = write_htpasswd(root / f"htpasswd-{cost}", "bench", password, rounds=cost)
                nginx = start_nginx(
                    root / f"nginx-{cost}", upstream=f"127.0.0.1:{registry.port}", ca=ca, htpasswd=htpasswd
                )
                try:
                    runs = [push_image(f"127.0.0.1:{nginx.port}", ca.ca_file, password) for _ in range(args.runs)]
                finally:
                    nginx.stop()
                results[cost] = (statistics.median(s for s, _ in runs), runs[0][1])
        finally:
            registry.stop()
    base = results[COSTS[0]][0]
    for cost in COSTS:
        seconds, count = results[cost]
        line(
            f"push of a {LAYERS}-layer image at bcrypt cost {cost} ({count} requests, {seconds / count * 1000:.1f} ms "
            f"each), median of {args.runs}",
            seconds,
            "s",
            f"cost {COSTS[0]}",
            base,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
