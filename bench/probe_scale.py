"""Benchmark: `registry-installer probe` against a big cluster vs the same questions asked with kubectl.

Starts the real test API server (tests/cluster), seeds 2,000 namespaces, 50 StorageClasses,
10 IngressClasses and 500 Deployments, then times our probe (a fresh process, as a user runs it)
against the equivalent `kubectl get`/`kubectl auth can-i` calls run one after another.
Run from the repository root: `python bench/probe_scale.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import line, median_seconds, run_quiet  # noqa: E402
from installer.probe import NEEDED_PERMISSIONS  # noqa: E402
from tests.fixtures.cluster import KUBECTL, seed_scale, start_cluster  # noqa: E402


def kubectl_calls(kubeconfig: Path) -> list[list[str]]:
    """What the probe asks, as a person would ask it with kubectl."""
    base = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--context", "admin"]
    ns = ["-n", "docker-registry"]
    calls = [
        base + ["version", "-o", "json"],
        base + ["auth", "whoami", "-o", "json"],
        base + ["get", "storageclasses", "-o", "json"],
        base + ["get", "ingressclasses", "-o", "json"],
        base + ["get", "configmap", "ingress-nginx-controller", "-n", "ingress-nginx", "-o", "json"],
        base + ["get", "namespace", "docker-registry", "--ignore-not-found", "-o", "json"],
        base + ["get", "secrets", *ns, "-l", "owner=helm,name=docker-registry", "-o", "json"],
        base + ["get", "crd", "clusterissuers.cert-manager.io", "-o", "json"],
        base + ["get", "clusterissuers", "-o", "json"],
        base + ["get", "issuers", *ns, "-o", "json"],
    ]
    for need in NEEDED_PERMISSIONS:
        resource = f"{need.resource}.{need.group}" if need.group else need.resource
        calls.append(base + ["auth", "can-i", need.verb, resource, *(ns if need.namespaced else [])])
    return calls


def run_kubectl(calls: list[list[str]]) -> None:
    import subprocess

    for argv in calls:
        subprocess.run(argv, capture_output=True, text=True, timeout=60)  # `can-i` exits 1 for "no": still an answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = start_cluster(Path(tmp) / "cluster", seed=True)
        try:
            started = time.monotonic()
            counts = seed_scale(cluster)
            print(f"seeded the API server in {time.monotonic() - started:.1f} s: {counts}", flush=True)
            ours_argv = [
                sys.executable,
                "-m",
                "installer",
                "probe",
                "--json",
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--context",
                "admin",
            ]
            run_quiet(ours_argv, cwd=ROOT)
            ours = median_seconds(lambda: run_quiet(ours_argv, cwd=ROOT), args.runs)
            calls = kubectl_calls(cluster.kubeconfig)
            theirs = median_seconds(lambda: run_kubectl(calls), args.runs)
            line(
                "probe of a cluster with 2000 namespaces, 50 StorageClasses, 10 IngressClasses, 500 Deployments, "
                f"median of {args.runs}",
                ours,
                "s",
                f"the same {len(calls)} kubectl calls one after another",
                theirs,
            )
            from installer.engine import connect, run_probe

            kube = connect("admin", str(cluster.kubeconfig))
            run_probe(kube, "docker-registry", "docker-registry")
            in_process = median_seconds(lambda: run_probe(kube, "docker-registry", "docker-registry"), args.runs)
            line(
                "probe API time in a running wizard (no interpreter start-up)",
                in_process,
                "s",
                "registry-installer probe process",
                ours,
            )
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
