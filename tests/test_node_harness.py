"""The test node itself (tests/fixtures/node.py): pods run, logs come back through the API,
volumes are provisioned, the real chart installs with `--wait`, and stopping leaves nothing."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
import yaml

from tests.conftest import CHART, run_helm
from tests.fixtures import node_host
from tests.fixtures.cluster import kubectl_binary
from tests.fixtures.node import NodeError, NodeHandle, NodeLock, forget_namespace
from tests.fixtures.node_images import BUSYBOX, ImageSpec, write_docker_archive
from tests.fixtures.registry import start_registry

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[1]


def new_namespace(node: NodeHandle) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards (the namespace controller runs here); for `namespace`."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    node.kubectl("create", "namespace", name)
    node.wait_for(
        lambda: node.kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode == 0,
        30,
        f"the default ServiceAccount in {name}",
    )
    yield name
    forget_namespace(node, name)


@pytest.fixture
def namespace(kube_node: NodeHandle):
    """A namespace of this test's own, deleted afterwards (the namespace controller runs here)."""
    yield from new_namespace(kube_node)


def apply(node: NodeHandle, namespace: str, *docs: dict) -> None:
    node.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(docs))


def events_of(node: NodeHandle, namespace: str, selector: str, template: str = "{.items[*].message}") -> str:
    """The Events in `namespace` that match the field `selector`, printed with the jsonpath `template`."""
    return node.kubectl(
        "-n", namespace, "get", "events", "--field-selector", selector, "-o", f"jsonpath={template}"
    ).stdout


def jsonpath(node: NodeHandle, namespace: str, what: str, path: str) -> str:
    return node.kubectl("-n", namespace, "get", what, "-o", f"jsonpath={path}").stdout


def busybox_pod(name: str, script: str, image: str = "docker.io/library/busybox:1.35", **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            **spec,
            "containers": [
                {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script]}
            ],
        },
    }


def wait_pod_phase(node: NodeHandle, namespace: str, pod: str, phase: str = "Succeeded", timeout: float = 90) -> None:
    node.wait_for(
        lambda: jsonpath(node, namespace, f"pod/{pod}", "{.status.phase}") == phase,
        timeout,
        f"pod {namespace}/{pod} {phase}",
    )


def test_node_is_ready_with_the_local_images(kube_node: NodeHandle):
    node = json.loads(kube_node.kubectl("get", "node", kube_node.node_name, "-o", "json").stdout)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True", kube_node.diagnose()
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.6")
    assert {"type": "InternalIP", "address": "198.19.0.1"} in node["status"]["addresses"]
    images = kube_node.images()
    for ref in ("registry.k8s.io/pause:3.10.1", "docker.io/library/busybox:1.35", "docker.io/library/registry:3.0.0"):
        assert ref in images
    assert set(kube_node.storage_classes.values()) <= set(
        kube_node.kubectl("get", "storageclass", "-o", "name")
        .stdout.replace("storageclass.storage.k8s.io/", "")
        .split()
    )


def test_busybox_pod_runs_and_its_log_comes_through_the_api(kube_node: NodeHandle, namespace: str):
    apply(
        kube_node,
        namespace,
        busybox_pod(
            "hello", "echo hello-from-the-node; id -u; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace"
        ),
    )
    wait_pod_phase(kube_node, namespace, "hello")
    logs = kube_node.kubectl("-n", namespace, "logs", "hello").stdout.split()
    assert logs == ["hello-from-the-node", "0", namespace]
    pod_ip = jsonpath(kube_node, namespace, "pod/hello", "{.status.podIP}")
    assert ip_address(pod_ip) in ip_network(kube_node.pod_cidr)


def test_pods_reach_a_server_on_the_host_through_the_bridge(kube_node: NodeHandle, namespace: str):
    token = uuid.uuid4().hex

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(token.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((kube_node.host_ip, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{kube_node.host_ip}:{server.server_address[1]}/"
        apply(kube_node, namespace, busybox_pod("fetch", f"wget -q -O - {url}"))
        wait_pod_phase(kube_node, namespace, "fetch")
        assert kube_node.kubectl("-n", namespace, "logs", "fetch").stdout.strip() == token
    finally:
        server.shutdown()
        server.server_close()


def test_an_imported_image_runs(kube_node: NodeHandle, namespace: str, tmp_path: Path):
    marker = uuid.uuid4().hex
    (tmp_path / "marker").write_text(marker)
    spec = ImageSpec(
        ["registry-installer.test/imported:1"],
        cmd=["/bin/busybox", "cat", "/marker"],
        files={"/marker": tmp_path / "marker"},
    ).add_binary(BUSYBOX, "/bin/busybox")
    names = kube_node.import_image(write_docker_archive(spec, tmp_path / "image.tar"))
    assert names == ["registry-installer.test/imported:1"]
    pod = busybox_pod("imported", "", image="registry-installer.test/imported:1")
    pod["spec"]["containers"][0].pop("command")
    pod["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    apply(kube_node, namespace, pod)
    wait_pod_phase(kube_node, namespace, "imported")
    assert kube_node.kubectl("-n", namespace, "logs", "imported").stdout == marker


def test_exec_and_port_forward_reach_a_running_pod(kube_node: NodeHandle, namespace: str):
    token = uuid.uuid4().hex
    apply(
        kube_node,
        namespace,
        busybox_pod("web", f"mkdir /www && echo {token} > /www/index.html && exec httpd -f -p 8080 -h /www"),
    )
    wait_pod_phase(kube_node, namespace, "web", "Running")
    kube_node.wait_for(
        lambda: (
            kube_node.kubectl(
                "-n", namespace, "exec", "web", "--", "cat", "/www/index.html", check=False
            ).stdout.strip()
            == token
        ),
        30,
        "kubectl exec",
    )
    forward = subprocess.Popen(
        [
            str(kubectl_binary()),
            "--kubeconfig",
            str(kube_node.kubeconfig),
            "--context",
            kube_node.admin_context,
            "-n",
            namespace,
            "port-forward",
            "pod/web",
            ":8080",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:NNNNN -> 8080"
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as answer:
            assert answer.read().decode().strip() == token
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_an_image_the_node_lacks_fails_at_once_without_a_pull_from_outside(kube_node: NodeHandle, namespace: str):
    """Nothing resolves on the node but /etc/hosts names: the pull fails on the name lookup."""
    pod = busybox_pod("missing", "true", image="docker.io/library/nginx:1.0")
    apply(kube_node, namespace, pod)
    waiting = "{.status.containerStatuses[0].state.waiting}"
    kube_node.wait_for(
        lambda: (
            json.loads(jsonpath(kube_node, namespace, "pod/missing", waiting) or "{}").get("reason")
            in ("ErrImagePull", "ImagePullBackOff")
        ),
        60,
        "ErrImagePull",
    )
    events = events_of(kube_node, namespace, "involvedObject.name=missing,reason=Failed")
    assert "docker.io/library/nginx:1.0" in events and "lookup registry-1.docker.io" in events, events


def test_the_kubelet_pulls_from_a_registry_on_the_host_by_a_name_added_to_the_node(
    kube_node: NodeHandle, namespace: str, tmp_path: Path
):
    """add_host() gives the node a name; trust_registry(host, None) lets containerd pull over HTTP."""
    registry = start_registry(tmp_path / "registry")
    try:
        marker = uuid.uuid4().hex
        (tmp_path / "marker").write_text(marker)
        spec = ImageSpec(
            ["pulled:1"], cmd=["/bin/busybox", "cat", "/marker"], files={"/marker": tmp_path / "marker"}
        ).add_binary(BUSYBOX, "/bin/busybox")
        archive = write_docker_archive(spec, tmp_path / "image.tar")
        host = f"registry.node-test:{registry.port}"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"docker-archive:{archive}",
                f"docker://127.0.0.1:{registry.port}/harness/pulled:1",
            ],
            check=True,
            capture_output=True,
        )
        kube_node.add_host("registry.node-test", "127.0.0.1")  # containerd shares the host's network
        kube_node.trust_registry(host, None)
        pod = busybox_pod("pulled", "", image=f"{host}/harness/pulled:1")
        pod["spec"]["containers"][0].pop("command")
        apply(kube_node, namespace, pod)
        wait_pod_phase(kube_node, namespace, "pulled")
        assert kube_node.kubectl("-n", namespace, "logs", "pulled").stdout == marker
        assert f"{host}/harness/pulled:1" in kube_node.images()
    finally:
        registry.stop()


def pvc(name: str, storage_class: str, size: str = "1Gi") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": size}},
        },
    }


def test_claims_bind_on_the_served_classes_and_not_on_the_unserved_one(kube_node: NodeHandle, namespace: str):
    classes = kube_node.storage_classes
    writer = busybox_pod(
        "writer",
        "echo data > /data/file && id -u && ls -ln /data/file",
        securityContext={"runAsUser": 1000, "runAsGroup": 1000},
    )
    writer["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    writer["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "late"}}]
    apply(
        kube_node,
        namespace,
        pvc("none", classes["no_provisioner"]),
        pvc("early", classes["default"]),
        pvc("late", classes["wait_for_first_consumer"]),
        writer,
    )
    wait_pod_phase(kube_node, namespace, "writer")
    assert kube_node.kubectl("-n", namespace, "logs", "writer").stdout.split()[0] == "1000"
    for claim in ("early", "late"):
        kube_node.wait_for(
            lambda: jsonpath(kube_node, namespace, f"pvc/{claim}", "{.status.phase}") == "Bound",
            30,
            f"pvc {claim} Bound",
        )
    # both served claims are bound; the provisioner has long seen the unserved one
    assert jsonpath(kube_node, namespace, "pvc/none", "{.status.phase}") == "Pending"
    late_pv = jsonpath(kube_node, namespace, "pvc/late", "{.spec.volumeName}")
    path = kube_node.node_path(kube_node.kubectl("get", "pv", late_pv, "-o", "jsonpath={.spec.local.path}").stdout)
    assert (path / "file").read_text() == "data\n"
    assert path.stat().st_uid == 1000

    # reclaim policy Delete: the claim goes, the volume and its directory go
    kube_node.kubectl("-n", namespace, "delete", "pod", "writer", "--wait=true")
    kube_node.kubectl("-n", namespace, "delete", "pvc", "late", "--wait=true")
    kube_node.wait_for(
        lambda: kube_node.kubectl("get", "pv", late_pv, check=False).returncode != 0, 30, f"pv {late_pv} deleted"
    )
    assert not path.exists()


def test_a_claim_on_the_expandable_class_grows(kube_node: NodeHandle, namespace: str):
    apply(kube_node, namespace, pvc("grow", kube_node.storage_classes["expandable"], "1Gi"))
    kube_node.wait_for(
        lambda: jsonpath(kube_node, namespace, "pvc/grow", "{.status.phase}") == "Bound", 30, "pvc grow Bound"
    )
    kube_node.kubectl(
        "-n",
        namespace,
        "patch",
        "pvc",
        "grow",
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}',
    )
    kube_node.wait_for(
        lambda: jsonpath(kube_node, namespace, "pvc/grow", "{.status.capacity.storage}") == "3Gi", 30, "pvc grow at 3Gi"
    )
    pv = jsonpath(kube_node, namespace, "pvc/grow", "{.spec.volumeName}")
    assert kube_node.kubectl("get", "pv", pv, "-o", "jsonpath={.spec.capacity.storage}").stdout == "3Gi"


def volume_stats(node: NodeHandle, namespace: str, claim: str) -> dict:
    """The kubelet's stats for the pod volume backed by `claim` (KeyError while it has none)."""
    for pod in node.stats_summary()["pods"]:
        for volume in pod.get("volume", []):
            if volume.get("pvcRef") == {"name": claim, "namespace": namespace}:
                return volume
    raise KeyError(claim)


def test_the_kubelet_reports_a_claims_usage_and_capacity_in_its_stats_summary(kube_node: NodeHandle, namespace: str):
    """Each provisioned volume is its own filesystem: bytes written through a pod show in the
    summary's usedBytes, and growing the claim grows capacityBytes."""
    summary = kube_node.stats_summary()
    assert summary["node"]["nodeName"] == kube_node.node_name
    assert summary["node"]["fs"]["capacityBytes"] > 0, summary["node"]
    apply(kube_node, namespace, pvc("usage", kube_node.storage_classes["expandable"], "64Mi"))
    holder = busybox_pod("holder", "exec sleep 3600", securityContext={"runAsUser": 1000, "runAsGroup": 1000})
    holder["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    holder["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "usage"}}]
    apply(kube_node, namespace, holder)
    wait_pod_phase(kube_node, namespace, "holder", "Running")
    mib = 1024 * 1024
    kube_node.wait_for(
        lambda: volume_stats(kube_node, namespace, "usage")["capacityBytes"] == 64 * mib,
        30,
        "the claim's volume in the stats summary",
    )
    before = volume_stats(kube_node, namespace, "usage")["usedBytes"]
    written = 20 * mib
    kube_node.kubectl(
        "-n", namespace, "exec", "holder", "--", "dd", "if=/dev/zero", "of=/data/blob", "bs=1048576", "count=20"
    )
    kube_node.wait_for(
        lambda: volume_stats(kube_node, namespace, "usage")["usedBytes"] >= before + written,
        30,
        f"usedBytes grown by {written} from {before}",
    )
    after = volume_stats(kube_node, namespace, "usage")
    assert before + written <= after["usedBytes"] <= before + written + mib, after
    assert after["availableBytes"] <= 64 * mib - written, after

    kube_node.kubectl(
        "-n",
        namespace,
        "patch",
        "pvc",
        "usage",
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"128Mi"}}}}',
    )
    kube_node.wait_for(
        lambda: volume_stats(kube_node, namespace, "usage")["capacityBytes"] == 128 * mib,
        30,
        "capacityBytes at 128Mi after the claim grew",
    )
    assert jsonpath(kube_node, namespace, "pvc/usage", "{.status.capacity.storage}") == "128Mi"
    assert volume_stats(kube_node, namespace, "usage")["usedBytes"] >= before + written  # the data stayed
    kube_node.kubectl("-n", namespace, "delete", "pod", "holder", "--wait=true")


def install_chart(node: NodeHandle, namespace: str, *values: str) -> None:
    """`helm install --wait` of the real chart as release `reg` with `values` (--set / -f arguments); fails the test
    with helm's error and the node's state if the pods do not come up."""
    done = run_helm(
        node, "install", "reg", str(CHART), "--namespace", namespace, "--wait", "--timeout", "3m", *values, timeout=240
    )
    assert done.returncode == 0, f"helm install --wait failed:\n{done.stderr}\n{node.diagnose()}"


def test_the_real_chart_installs_with_wait_and_serves_through_its_service(kube_node: NodeHandle, namespace: str):
    install_chart(
        kube_node,
        namespace,
        "--set",
        "persistence.enabled=true",
        "--set",
        f"persistence.storageClass={kube_node.storage_classes['default']}",
        "--set",
        "persistence.size=1Gi",
    )
    assert jsonpath(kube_node, namespace, "pvc/reg-docker-registry", "{.status.phase}") == "Bound"
    ready = jsonpath(kube_node, namespace, "pods", "{.items[*].status.conditions[?(@.type=='Ready')].status}")
    assert ready.split() == ["True"]
    cluster_ip = jsonpath(kube_node, namespace, "svc/reg-docker-registry", "{.spec.clusterIP}")
    assert ip_address(cluster_ip) in ip_network(kube_node.service_cidr)
    with urllib.request.urlopen(f"http://{cluster_ip}:5000/v2/", timeout=10) as answer:
        assert answer.status == 200
    run_helm(kube_node, "uninstall", "reg", "--namespace", namespace, timeout=120, check=True)


def test_a_second_node_waits_for_the_lock_and_names_its_holder(kube_node: NodeHandle):
    with pytest.raises(NodeError) as failure:
        NodeLock().acquire(timeout=1)
    assert f"pid {os.getpid()}" in str(failure.value)


def host_leftovers(node: NodeHandle, saved_sysctls: dict[str, str]) -> list[str]:
    """Everything a node run could leave on the host, as seen from the host."""
    left = [f"process {pid}" for pid in node_host.node_pids()]
    left += [f"cgroup {c}" for c in node_host.leftover_cgroups()]
    left += [f"link {n}" for n in (node_host.BRIDGE, node_host.NODE_LINK) if node_host.link_exists(n)]
    for binary in ("iptables", "ip6tables"):
        left += [
            f"{binary} {table} {chain}" for table, chains in node_host.kube_chains(binary).items() for chain in chains
        ]
    left += [f"mount {m}" for m in node_host.mounts_under(node.root)]
    left += [f"mount {m}" for d in node_host.PRIVATE_DIRS for m in node_host.mounts_under(Path(d))]
    left += [f"path {d}" for d in (*node_host.PRIVATE_DIRS, str(node.root)) if Path(d).exists()]
    now = node_host.read_sysctls()
    left += [f"sysctl {k}={now.get(k)} (was {v})" for k, v in saved_sysctls.items() if now.get(k) != v]
    return left


@pytest.mark.node_restart
def test_stopping_leaves_nothing_behind_and_the_next_start_cleans_a_crashed_run(kube_node: NodeHandle, tmp_path: Path):
    """Stops the shared node and starts it again (so it runs after every other test)."""
    saved = json.loads(node_host.host_state_file(kube_node.root).read_text())["sysctls"]
    node_pids = node_host.node_pids()
    assert len(node_pids) >= 8  # holder, apiserver, containerd, four daemons, provisioner
    assert not kube_node.stop(), "stop() reported leftovers"
    assert kube_node.stop_seconds < 60
    assert host_leftovers(kube_node, saved) == []
    assert not [pid for pid in node_pids if Path(f"/proc/{pid}").exists()]

    # a test run killed outright (SIGKILL, no fixture teardown): its namespace holder reaps the node
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from tests.fixtures.node import NodeHandle;"
            "NodeHandle(work_dir=Path(sys.argv[1])).start(); print('ready', flush=True); time.sleep(600)",
            str(tmp_path / "killed"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        assert len(node_host.node_pids()) >= 8
    finally:
        child.kill()
        child.wait()
    kube_node.wait_for(lambda: host_leftovers(kube_node, saved) == [], 60, "the holder's cleanup after SIGKILL")

    # a crashed run: a process in the node's cgroup, its links, an iptables chain, ip_forward on
    node_host.make_cgroups()
    stray = subprocess.Popen(["sh", "-c", 'echo $$ > "$0" && exec sleep 600', str(node_host.sys_procs_file())])
    node_host.make_links("198.18.0.1/24", kube_node.node_ip, kube_node.service_cidr)
    subprocess.run(["iptables", "-t", "nat", "-N", "KUBE-LEFTOVER"], check=True)
    kube_node.root.mkdir(parents=True, exist_ok=True)
    node_host.save_host_state(kube_node.root, [])
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    try:
        kube_node.start()
        assert stray.poll() == -9  # killed by the start's cleanup
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
    assert "KUBE-LEFTOVER" not in node_host.kube_chains().get("nat", [])
    # the crashed run's ip_forward was set back before this run saved the host's settings
    restarted = json.loads(node_host.host_state_file(kube_node.root).read_text())["sysctls"]
    assert restarted["net/ipv4/ip_forward"] == saved["net/ipv4/ip_forward"]
    assert kube_node.start_seconds < 60
    node = json.loads(kube_node.kubectl("get", "node", kube_node.node_name, "-o", "json").stdout)
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
