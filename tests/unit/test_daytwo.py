"""Day-two pieces that need no cluster: kubelet stats parsing, the usage warning, the GC Job, GC log parsing."""

from __future__ import annotations

from types import SimpleNamespace

from installer.maintenance import GC_SUMMARY_RE, GCOptions, Target, gc_job
from installer.status import VolumeUsage, claim_usage, usage_warning

SUMMARY = {
    "node": {"nodeName": "n1"},
    "pods": [
        {
            "podRef": {"name": "docker-registry-abc", "namespace": "docker-registry"},
            "volume": [
                {
                    "name": "data",
                    "pvcRef": {"name": "docker-registry", "namespace": "docker-registry"},
                    "time": "2026-11-28T10:00:00Z",
                    "usedBytes": 900,
                    "capacityBytes": 1000,
                    "availableBytes": 100,
                },
                {"name": "kube-api-access", "time": "2026-11-28T10:00:00Z", "usedBytes": 1, "capacityBytes": 5},
            ],
        },
        {
            "podRef": {"name": "other", "namespace": "elsewhere"},
            "volume": [{"name": "data", "pvcRef": {"name": "docker-registry"}, "usedBytes": 5, "capacityBytes": 10}],
        },
    ],
}


def test_the_registry_volume_is_found_in_the_kubelet_summary():
    found = claim_usage(SUMMARY, "docker-registry", "docker-registry", "n1")
    assert found == [VolumeUsage(900, 1000, 100, "n1", "docker-registry-abc", "2026-11-28T10:00:00Z")]
    assert claim_usage(SUMMARY, "docker-registry", "other-claim", "n1") == []


def test_usage_above_80_percent_warns_with_the_fixes():
    full = VolumeUsage(850, 1000, 150, "n1", "p")
    text = usage_warning(full, "100Gi", "rook-ceph-block", True)
    assert "85% full" in text and "registry-installer gc" in text and "grow --size 200Gi" in text and "S3" in text
    fixed = usage_warning(full, "100Gi", "standard-noexpand", False)
    assert "grow --size" not in fixed and "standard-noexpand cannot expand" in fixed
    assert usage_warning(VolumeUsage(800, 1000, 200, "n1", "p"), "100Gi", "x", True) is None


def _deployment(command=("/bin/registry", "serve", "/etc/distribution/config.yml")):
    from kubernetes.client import (
        V1Container,
        V1Deployment,
        V1DeploymentSpec,
        V1ObjectMeta,
        V1PodSpec,
        V1PodTemplateSpec,
        V1Volume,
    )

    container = V1Container(
        name="docker-registry",
        image="registry:3.0.0",
        command=list(command),
        ports=[{"containerPort": 5000}],
        volume_mounts=[{"name": "data", "mountPath": "/var/lib/registry/"}],
        liveness_probe={"tcpSocket": {"port": 5000}},
    )
    spec = V1PodSpec(
        containers=[container],
        volumes=[V1Volume(name="data", persistent_volume_claim={"claimName": "docker-registry"})],
        node_selector={"disk": "fast"},
    )
    return V1Deployment(
        metadata=V1ObjectMeta(name="docker-registry"),
        spec=V1DeploymentSpec(
            selector={"matchLabels": {"app": "docker-registry"}}, template=V1PodTemplateSpec(spec=spec)
        ),
    )


def test_the_gc_job_runs_the_registrys_own_binary_on_the_same_volume_pinned_to_its_node():
    target = Target("docker-registry", "docker-registry", 3, {"persistence": {"enabled": True}}, _deployment())
    job = gc_job(target, "node-7", GCOptions(delete_untagged=True), "docker-registry-gc-1")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == [
        "/bin/registry",
        "garbage-collect",
        "--delete-untagged",
        "/etc/distribution/config.yml",
    ]
    assert container["image"] == "registry:3.0.0" and container["volumeMounts"] == [
        {"mountPath": "/var/lib/registry/", "name": "data"}
    ]
    assert "livenessProbe" not in container and "ports" not in container
    assert pod["nodeName"] == "node-7" and "nodeSelector" not in pod and pod["restartPolicy"] == "Never"
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "docker-registry"}
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 600
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "registry-installer" and "app" not in labels, (
        "the Service must not route to it"
    )
    dry = gc_job(target, None, GCOptions(dry_run=True, delete_untagged=False), "x")["spec"]["template"]["spec"]
    assert dry["containers"][0]["command"] == [
        "/bin/registry",
        "garbage-collect",
        "--dry-run",
        "/etc/distribution/config.yml",
    ]
    assert "nodeName" not in dry and dry["nodeSelector"] == {"disk": "fast"}


def test_the_gc_summary_line_is_read():
    line = "12 blobs marked, 7 blobs and 2 manifests eligible for deletion"
    assert GC_SUMMARY_RE.search(line).groups() == ("12", "7", "2")
    assert Target("n", "r", 1, {"storage": "s3"}, SimpleNamespace()).claim is None
