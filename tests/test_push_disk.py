"""push-disk: KubeVirt containerDisks streamed to the real registry behind real nginx, read back with skopeo."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from installer.cli import main as cli_main
from installer.disk import DiskLayer, LayerStream, inspect_disk, sniff_format
from installer.errors import UsageError
from installer.events import Note, Progress
from installer.push_disk import PushDiskTarget, run_push_disk
from installer.secretstr import SecretStr
from tests.fixtures.cutproxy import CutProxy

MiB = 1024 * 1024
REPO = "vms/test-disk"


def qcow2(path: Path, size: str = "64M", fill: int = 0) -> Path:
    """A real qcow2 from qemu-img; `fill` MiB of random data written into it so the layer has weight."""
    if fill:
        raw = path.with_suffix(".raw")
        with open(raw, "wb") as out:
            out.write(b"\0" * 510 + b"\x55\xaa")  # an MBR boot signature: a raw disk qemu-img keeps as is
            out.write(os.urandom(fill * MiB))
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(path)], check=True)
        raw.unlink()
    else:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


def target_for(stack, disk_path: Path, state_dir: Path, **overrides) -> PushDiskTarget:
    options = dict(
        disk=inspect_disk(disk_path),
        registry=stack.address,
        repository=REPO,
        tag="v1",
        **stack.client_options(),
        timeout=30.0,
        state_dir=state_dir,
    )
    options.update(overrides)
    return PushDiskTarget(**options)


def copy_out(stack, tag: str, dest: Path) -> dict:
    """skopeo copies REPO:`tag` from `stack` into the folder `dest` (its dir: layout); returns the manifest."""
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            *stack.skopeo_login("src"),
            f"docker://{stack.address}/{REPO}:{tag}",
            f"dir:{dest}",
        ],
        check=True,
        capture_output=True,
    )
    return json.loads((dest / "manifest.json").read_text())


def layer_members(layer_path: Path) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(layer_path) as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def push_through_cut(stack, disk: Path, tmp_path: Path, cut_at: int, **overrides):
    """Push through a CutProxy in front of nginx; returns the result, the proxy and the notes shown."""
    proxy = CutProxy(stack.nginx.port, cut_at=cut_at)
    notes: list[str] = []
    try:
        result = run_push_disk(
            target_for(stack, disk, tmp_path / "state", registry=proxy.address, **overrides),
            on_event=lambda e: notes.append(e.text) if isinstance(e, Note) else None,
        )
    finally:
        proxy.stop()
    return result, proxy, notes


def pushes(stack) -> list[str]:
    lines = (stack.nginx.directory / "access.log").read_text().splitlines()
    return [line.split('"')[1].split(" ")[0] for line in lines if "/blobs/uploads/" in line]


# -- unit tests --------------------------------------------------------------------------------


def test_formats_by_magic(tmp_path):
    assert sniff_format(b"QFI\xfb" + bytes(100)) == "qcow2"
    iso = bytearray(64 * 1024)
    iso[0x8001:0x8006] = b"CD001"
    assert sniff_format(bytes(iso)) == "iso"
    assert sniff_format(bytes(510) + b"\x55\xaa" + bytes(1000)) == "raw"
    assert sniff_format(bytes(512) + b"EFI PART" + bytes(1000)) == "raw"
    assert sniff_format(os.urandom(509) + b"\0\0\0" + bytes(100)) is None
    assert inspect_disk(qcow2(tmp_path / "a.qcow2", "3G")).virtual_size == 3 * 2**30


@pytest.mark.parametrize("compress", ["none", "gzip"])
def test_layer_stream_is_the_tar_and_resumes_from_a_snapshot(tmp_path, compress):
    path = tmp_path / "d.img"
    path.write_bytes(bytes(510) + b"\x55\xaa" + os.urandom(3 * MiB + 123))
    layer = DiskLayer(inspect_disk(path), compress)
    fd = os.open(path, os.O_RDONLY)
    try:
        whole = LayerStream(layer, fd)
        data = b"".join(iter(lambda: whole.read(), b""))
        assert whole.digest() == "sha256:" + hashlib.sha256(data).hexdigest()
        tar_bytes = __import__("gzip").decompress(data) if compress == "gzip" else data
        assert whole.diff_id() == "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
        members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(tar_bytes))}
        assert members["disk/d.img"].uid == members["disk/d.img"].gid == 107
        assert members["disk/d.img"].mode == 0o444 and members["disk"].mode == 0o555
        # cut anywhere: a snapshot restored, or a fresh stream skipped ahead, gives the same bytes and digests
        halves = LayerStream(layer, fd)
        first = halves.read(777_777)
        saved = halves.snapshot()
        halves.read(2 * MiB)
        halves.restore(saved)
        rest = b"".join(iter(lambda: halves.read(), b""))
        assert first + rest == data and halves.digest() == whole.digest()
        skipped = LayerStream(layer, fd)
        skipped.skip_to(len(data) // 2)
        assert b"".join(iter(lambda: skipped.read(), b"")) == data[len(data) // 2 :]
        assert skipped.digest() == whole.digest()
    finally:
        os.close(fd)


def test_snippets_are_valid_kubevirt_and_cdi_yaml(tmp_path):
    import yaml

    from installer.disk import datavolume_snippet, vm_snippet

    disk = inspect_disk(qcow2(tmp_path / "f.qcow2", "10G"))
    image = "registry.example.com/vms/Fedora_40@sha256:" + "a" * 64
    vm = yaml.safe_load(vm_snippet(image, disk, "vms/Fedora_40", "registry-credentials"))
    volume = vm["spec"]["template"]["spec"]["volumes"][0]
    assert volume["containerDisk"] == {"image": image, "imagePullSecret": "registry-credentials"}
    assert vm["metadata"]["name"] == "fedora-40"
    assert vm["spec"]["template"]["spec"]["domain"]["devices"]["disks"][0]["name"] == volume["name"]
    dv = yaml.safe_load(datavolume_snippet("registry.example.com/vms/f:40", disk, "vms/f", None, "registry-ca"))
    assert dv["spec"]["source"]["registry"] == {
        "url": "docker://registry.example.com/vms/f:40",
        "certConfigMap": "registry-ca",
    }
    assert dv["spec"]["storage"]["resources"]["requests"]["storage"] == "10Gi"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(os.urandom(509) + b"\0\0\0" + os.urandom(4000)), "not a qcow2, raw or ISO"),
        (lambda p: p.write_bytes(b"\xfd7zXZ\x00" + bytes(100)), "xz-compressed"),
        (lambda p: p.write_bytes(b"\x1f\x8b\x08" + bytes(100)), "gzip-compressed"),
        (lambda p: p.write_bytes(b"KDMV" + bytes(100)), "VMDK"),
    ],
)
def test_bad_files_are_refused_with_exit_2(tmp_path, capsys, make, message):
    path = tmp_path / "disk.bin"
    make(path)
    code = cli_main(["push-disk", str(path), "--image", "vms/x:1", "--registry", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "fix:" in err and "Traceback" not in err


def test_devices_and_bad_image_names_are_refused(capsys):
    with pytest.raises(UsageError, match="is a device"):
        inspect_disk("/dev/null")
    code = cli_main(["push-disk", "/dev/null", "--image", "vms/X Y", "--registry", "127.0.0.1:9"])
    assert code == 2 and "REPOSITORY:TAG" in capsys.readouterr().err


# -- against the real registry -------------------------------------------------------------------


def push_disk_args(stack, disk: Path, image: str) -> list[str]:
    """`push-disk DISK --image IMAGE` to the test registry `stack` as its user (password from $DISK_PASSWORD)."""
    return [
        "push-disk",
        str(disk),
        "--image",
        image,
        "--registry",
        stack.address,
        "--username",
        stack.username,
        "--password-env",
        "DISK_PASSWORD",
        "--ca-file",
        str(stack.ca_file),
    ]


@pytest.mark.registry
@pytest.mark.timeout(120)
def test_qcow2_pushed_is_a_containerdisk_skopeo_reads(registry_stack, tmp_path, monkeypatch, capsys):
    stack = registry_stack()
    disk = qcow2(tmp_path / "fedora.qcow2", fill=6)
    monkeypatch.setenv("DISK_PASSWORD", stack.password.get_secret_value())
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code = cli_main([*push_disk_args(stack, disk, f"{REPO}:v1"), "--arch", "amd64"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"pushed {stack.address}/{REPO}:v1@sha256:" in out
    assert f"image: {stack.address}/{REPO}@sha256:" in out  # the VirtualMachine's containerDisk, pinned
    assert f'url: "docker://{stack.address}/{REPO}:v1"' in out  # the DataVolume's registry source
    copy = tmp_path / "copy"
    manifest = copy_out(stack, "v1", copy)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    layer_path = copy / layer["digest"].split(":")[1]
    assert hashlib.sha256(layer_path.read_bytes()).hexdigest() == layer["digest"].split(":")[1]
    config = json.loads((copy / manifest["config"]["digest"].split(":")[1]).read_text())
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert not config["config"].get("Entrypoint") and not config["config"].get("Cmd")
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}  # uncompressed: diffID = digest
    members = layer_members(layer_path)
    assert sorted(members) == ["disk", "disk/fedora.qcow2"]
    info, content = members["disk/fedora.qcow2"]
    assert (info.uid, info.gid, info.uname, info.mode) == (107, 107, "qemu", 0o444)
    assert content == disk.read_bytes()
    assert members["disk"][0].isdir() and members["disk"][0].uid == 107
    inspect = json.loads(
        subprocess.run(
            ["skopeo", "inspect", *stack.skopeo_login(), f"docker://{stack.address}/{REPO}:v1"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert inspect["Layers"] == [layer["digest"]] and inspect["Architecture"] == "amd64"


@pytest.mark.registry
@pytest.mark.timeout(120)
def test_gzip_layer_has_a_diff_id_of_the_tar(registry_stack, tmp_path):
    stack = registry_stack()
    disk = qcow2(tmp_path / "small.qcow2", fill=2)
    result = run_push_disk(target_for(stack, disk, tmp_path / "state", compress="gzip", tag="gz"))
    assert result.ok, result.diagnosis
    copy = tmp_path / "copy"
    manifest = copy_out(stack, "gz", copy)
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    import gzip

    tar_bytes = gzip.decompress((copy / layer["digest"].split(":")[1]).read_bytes())
    config = json.loads((copy / manifest["config"]["digest"].split(":")[1]).read_text())
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert tar.extractfile("disk/small.qcow2").read() == disk.read_bytes()


@pytest.mark.registry
@pytest.mark.timeout(120)
def test_the_same_disk_twice_sends_nothing_twice(registry_stack, tmp_path):
    stack = registry_stack()
    disk = qcow2(tmp_path / "twice.qcow2", fill=3)
    first = run_push_disk(target_for(stack, disk, tmp_path / "state"))
    assert first.ok and not first.skipped and first.sent == first.layer_size
    before = len(pushes(stack))
    second = run_push_disk(target_for(stack, disk, tmp_path / "state"))
    assert second.ok and second.skipped and second.sent == 0
    assert second.digest == first.digest
    assert pushes(stack)[before:] == []  # no POST, PATCH or PUT of any blob, config included
    retagged = run_push_disk(target_for(stack, disk, tmp_path / "state", tag="v2"))
    assert retagged.skipped and retagged.digest == first.digest


@pytest.mark.registry
@pytest.mark.timeout(180)
def test_a_cut_connection_resumes_where_the_registry_stopped(registry_stack, tmp_path):
    # ingress-nginx's default request buffering: a cut PATCH never reaches the registry, which
    # still holds exactly what it acknowledged; the push continues from there
    stack = registry_stack(request_buffering=True)
    disk = qcow2(tmp_path / "cut.qcow2", fill=24)
    size = disk.stat().st_size
    result, proxy, notes = push_through_cut(stack, disk, tmp_path, size // 2, chunk_size=4 * MiB)
    assert proxy.cuts == 1
    assert result.ok, result.diagnosis
    assert any("continuing from there" in note for note in notes), notes
    # one 4 MiB chunk is lost at most (plus TLS and HTTP overhead), not half the disk
    assert proxy.sent_up < size + 4 * MiB + MiB, (proxy.sent_up, size)
    check = run_push_disk(target_for(stack, disk, tmp_path / "state2", tag="check"))  # no state: uploads again
    assert check.ok and check.layer_digest == result.layer_digest


@pytest.mark.registry
@pytest.mark.timeout(180)
def test_a_cut_the_registry_cannot_resume_starts_a_new_upload(registry_stack, tmp_path):
    # request buffering off: nginx passes the cut PATCH's first half on, docker-distribution then
    # holds more than it acknowledged and cancels the upload; the push says so and starts again
    stack = registry_stack()
    disk = qcow2(tmp_path / "cut.qcow2", fill=8)
    result, proxy, notes = push_through_cut(stack, disk, tmp_path, disk.stat().st_size // 2)
    assert proxy.cuts == 1
    assert result.ok, result.diagnosis
    assert any("discarded the cut upload" in note for note in notes), notes


@pytest.mark.registry
@pytest.mark.timeout(180)
@pytest.mark.parametrize("compress", ["none", "gzip"])
def test_stopped_push_resumes_in_the_next_run(registry_stack, tmp_path, monkeypatch, compress):
    """gzip: the next run recomputes the compressed stream up to where the registry stopped, byte for byte."""
    monkeypatch.setattr("installer.push_disk.PROGRESS_INTERVAL", 0)  # a Progress event per MiB read
    stack = registry_stack()
    disk = qcow2(tmp_path / "stop.qcow2", fill=12)
    stop = threading.Event()

    def stop_halfway(event):
        if isinstance(event, Progress) and event.done > event.total // 3:
            stop.set()

    first = run_push_disk(
        target_for(stack, disk, tmp_path / "state", chunk_size=256 * MiB, compress=compress),
        on_event=stop_halfway,
        stop=stop,
    )
    assert first.interrupted and not first.ok
    state_files = list((tmp_path / "state").glob("*.json"))
    assert len(state_files) == 1 and state_files[0].stat().st_mode & 0o777 == 0o600
    assert stack.password.get_secret_value() not in state_files[0].read_text()
    second = run_push_disk(target_for(stack, disk, tmp_path / "state", compress=compress))
    assert second.ok, second.diagnosis
    assert second.resumed_from == first.sent > 0
    assert second.sent == second.layer_size - second.resumed_from


@pytest.mark.registry
@pytest.mark.timeout(180)
def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(registry_stack, tmp_path):
    import signal
    import sys
    import time

    from tests.conftest import ROOT

    stack = registry_stack()
    disk = tmp_path / "big.img"
    with open(disk, "wb") as out:
        out.write(bytes(510) + b"\x55\xaa" + os.urandom(255 * MiB))
    env = {**os.environ, "DISK_PASSWORD": stack.password.get_secret_value(), "XDG_STATE_HOME": str(tmp_path / "st")}
    argv = [sys.executable, "-m", "installer", *push_disk_args(stack, disk, f"{REPO}:big")]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    seen = []
    for text in first.stdout:
        seen.append(text)
        if "push-disk: connect" in text:
            time.sleep(0.3)  # the layer is on its way
            first.send_signal(signal.SIGINT)
            break
    out = "".join(seen) + first.stdout.read()
    err = first.stderr.read()
    assert first.wait(timeout=60) == 130, out + err
    assert "run the same command again to resume" in out and "finishing the current request" in err
    again = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed at" in again.stdout and "Traceback" not in again.stderr


@pytest.mark.registry
@pytest.mark.timeout(120)
def test_diagnoses_413_401_x509_are_the_smoke_tests(registry_stack, tmp_path):
    disk = qcow2(tmp_path / "d.qcow2", fill=3)
    limited = registry_stack(body_limit="1m")
    too_large = run_push_disk(target_for(limited, disk, tmp_path / "s1", controller_family="ingress-nginx"))
    assert not too_large.ok and "413" in too_large.diagnosis.cause
    assert "proxy-body-size" in too_large.diagnosis.fix
    stack = registry_stack()
    wrong = run_push_disk(target_for(stack, disk, tmp_path / "s2", password=SecretStr("not-it")))
    assert not wrong.ok and "401" in wrong.diagnosis.cause and wrong.diagnosis.fix_screen == "access"
    untrusted = run_push_disk(target_for(stack, disk, tmp_path / "s3", ca_file=None))
    assert not untrusted.ok and "x509: certificate signed by unknown authority" in untrusted.diagnosis.cause
    assert "/etc/containerd/certs.d/" in untrusted.diagnosis.fix


def install_then_target(kube_cluster, preset: Path, namespace: str, tmp_path: Path):
    """`apply --no-wait` of `preset` into `namespace` (helm 3), then push-disk's target for a disk with no registry
    flags: what it reads from the installed release. Returns (target, disk, the connection flags)."""
    from installer.cli import build_parser
    from installer.disk_cli import target_from_args
    from tests.conftest import apply_args, helm_path, run_installer

    kube = ["--kubeconfig", str(kube_cluster.kubeconfig), "--context", "admin"]
    installed = run_installer(
        *apply_args(preset, namespace, "--no-wait"), "--helm", str(helm_path("helm3")), *kube, timeout=240
    )
    assert installed.returncode == 0, installed.stderr
    disk = qcow2(tmp_path / "d.qcow2")
    args = build_parser().parse_args(["push-disk", str(disk), "--image", "vms/d:1", "--namespace", namespace, *kube])
    return target_from_args(args, environ={}, workdir=tmp_path), disk, kube


@pytest.mark.cluster
@pytest.mark.helm
@pytest.mark.timeout(300)
def test_without_registry_flags_the_installed_release_is_used(kube_cluster, tmp_path):
    import base64

    from kubernetes import client

    from installer.cli import build_parser
    from installer.disk_cli import target_from_args
    from tests.conftest import PRESETS

    namespace = "push-disk-defaults"
    target, disk, kube = install_then_target(kube_cluster, PRESETS / "minimal.yaml", namespace, tmp_path)
    secrets = client.CoreV1Api(kube_cluster.api_client("admin"))
    state = secrets.read_namespaced_secret("docker-registry-installer", namespace).data
    ca = secrets.read_namespaced_secret("docker-registry-ca", namespace).data
    assert target.registry == "registry.example.com"
    assert target.username == "admin"
    assert target.password.get_secret_value() == base64.b64decode(state["password.admin"]).decode()
    assert target.ca_file.read_text() == base64.b64decode(ca["tls.crt"]).decode()
    other = build_parser().parse_args(
        ["push-disk", str(disk), "--image", "vms/d:1", "--namespace", "nothing-here", *kube]
    )
    with pytest.raises(UsageError, match="not installed in namespace nothing-here"):
        target_from_args(other, environ={}, workdir=tmp_path)


@pytest.mark.cluster
@pytest.mark.helm
@pytest.mark.timeout(300)
def test_the_installed_release_s_private_ca_is_the_one_ca_prints(kube_cluster, tmp_path):
    """Without --ca-file, push-disk trusts the CA `registry-installer ca` prints (state.installed_ca, one home): here
    the ca.crt of an existing TLS Secret made by a private CA, node trust off, so no node-trust ConfigMap keeps it."""
    import base64
    import uuid

    from kubernetes import client

    from tests.conftest import run_installer
    from tests.fixtures.tls import issue_leaf, make_ca

    namespace = f"push-disk-ca-{uuid.uuid4().hex[:6]}"
    ca_pem, ca_key = make_ca("Push Disk Private CA")
    leaf, leaf_key = issue_leaf(["registry.example.com"], ca_pem, ca_key)
    core = client.CoreV1Api(kube_cluster.api_client("admin"))
    core.create_namespace({"metadata": {"name": namespace}})
    data = {"tls.crt": leaf, "tls.key": leaf_key, "ca.crt": ca_pem}
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "registry-tls"},
            "type": "kubernetes.io/tls",
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        },
    )
    preset = tmp_path / "existing-secret.yaml"
    preset.write_text(
        "version: 1\nexposure:\n  hosts: [registry.example.com]\n"
        "  tls: {mode: existing-secret, secret_name: registry-tls}\n"
    )
    target, _, kube = install_then_target(kube_cluster, preset, namespace, tmp_path)
    # node trust is off: no ConfigMap keeps the CA, it is read from the TLS Secret
    assert not [
        cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items if "trust" in cm.metadata.name
    ]
    assert target.registry == "registry.example.com"
    assert target.ca_file is not None and target.ca_file.read_text() == ca_pem
    printed = run_installer("ca", "--namespace", namespace, *kube, timeout=120)
    assert printed.returncode == 0 and printed.stdout == ca_pem, printed.stderr


@pytest.mark.node
@pytest.mark.registry
def test_the_kubelet_pulls_the_pushed_containerdisk_and_qemu_can_read_it(kube_node, registry_stack, tmp_path):
    """KubeVirt's way, without KubeVirt: the containerDisk image runs a binary brought in through an
    emptyDir (an init container copies busybox and its libraries there), as uid/gid 107."""
    import uuid

    import yaml

    stack = registry_stack()
    disk = qcow2(tmp_path / "node.qcow2", fill=2)
    result = run_push_disk(target_for(stack, disk, tmp_path / "state", tag="node"))
    assert result.ok, result.diagnosis
    kube_node.trust_registry(stack.address, stack.ca_file)  # containerd shares the host's network: 127.0.0.1 works
    namespace = f"push-disk-{uuid.uuid4().hex[:6]}"
    kube_node.kubectl("create", "namespace", namespace)
    try:
        kube_node.wait_for(
            lambda: kube_node.kubectl("-n", namespace, "get", "serviceaccount", "default", check=False).returncode == 0,
            30,
            "the default ServiceAccount",
        )
        kube_node.kubectl(
            "-n",
            namespace,
            "create",
            "secret",
            "docker-registry",
            "registry-credentials",
            f"--docker-server={stack.address}",
            f"--docker-username={stack.username}",
            f"--docker-password={stack.password.get_secret_value()}",
        )
        run = "/shared/ld-linux-x86-64.so.2 --library-path /shared /shared/busybox"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "containerdisk"},
            "spec": {
                "restartPolicy": "Never",
                "imagePullSecrets": [{"name": "registry-credentials"}],
                "volumes": [{"name": "shared", "emptyDir": {}}],
                "initContainers": [
                    {
                        "name": "tools",
                        "image": "docker.io/library/busybox:1.35",
                        "imagePullPolicy": "IfNotPresent",
                        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
                        "command": [
                            "sh",
                            "-c",
                            "cp -L /bin/busybox /lib/x86_64-linux-gnu/libc.so.6 "
                            "/lib/x86_64-linux-gnu/libresolv.so.2 /lib64/ld-linux-x86-64.so.2 /shared/",
                        ],
                    }
                ],
                "containers": [
                    {
                        "name": "disk",
                        "image": f"{stack.address}/{REPO}@{result.digest}",
                        "imagePullPolicy": "Always",
                        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
                        "securityContext": {"runAsUser": 107, "runAsGroup": 107},
                        "command": [
                            "/shared/ld-linux-x86-64.so.2",
                            "--library-path",
                            "/shared",
                            "/shared/busybox",
                            "sh",
                            "-c",
                            f"{run} stat -c '%u %g %a' /disk/node.qcow2 /disk && {run} sha256sum /disk/node.qcow2",
                        ],
                    }
                ],
            },
        }
        kube_node.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(pod))

        def phase() -> str:
            return kube_node.kubectl(
                "-n", namespace, "get", "pod", "containerdisk", "-o", "jsonpath={.status.phase}"
            ).stdout

        kube_node.wait_for(lambda: phase() in ("Succeeded", "Failed"), 120, "the containerDisk pod to finish")
        logs = kube_node.kubectl("-n", namespace, "logs", "containerdisk", "-c", "disk").stdout
        assert phase() == "Succeeded", logs + kube_node.diagnose()
        image_id = kube_node.kubectl(
            "-n", namespace, "get", "pod", "containerdisk", "-o", "jsonpath={.status.containerStatuses[0].imageID}"
        ).stdout
        assert image_id.endswith(result.digest)
        assert logs.splitlines() == [
            "107 107 444",
            "107 107 555",
            f"{hashlib.sha256(disk.read_bytes()).hexdigest()}  /disk/node.qcow2",
        ]
    finally:
        kube_node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
