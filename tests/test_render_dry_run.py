"""The real API server accepts every object `render` writes: the chart's objects (helm template of the
real chart with the rendered values) and the installer's Secrets, for every shipped preset and every
catalogue input that renders, by server-side dry run (`kubectl apply --dry-run=server`, strict field
validation). Also: kubeconfig handling against the real cluster (KUBECONFIG lists like kubectl)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from installer.cli import main
from installer.preset import parse_preset
from tests.conftest import CHART, PRESETS, helm_path
from tests.test_bad_inputs import ACCEPTED_CASES

pytestmark = [pytest.mark.cluster, pytest.mark.helm]

NAMESPACE = "hostile-dry-run"
SHIPPED = {
    "minimal": ((PRESETS / "minimal.yaml").read_text(), {}),
    "rook-ceph-nginx": ((PRESETS / "rook-ceph-nginx.yaml").read_text(), {"REGISTRY_PASSWORD": "dry-run-Pw1"}),
    "s3-ha": (
        (PRESETS / "s3-ha.yaml").read_text(),
        {"S3_ACCESS_KEY": "AKIA-dry-run", "S3_SECRET_KEY": "dry-run-secret"},
    ),
}
EXTRA = {
    # settings only a catalogue case turns on: garbage collection (a CronJob), metrics, resources, ingress auth
    "everything-on": (
        "version: 1\nexposure: {hosts: [registry.example.com], ingress_class: nginx}\n"
        "auth: {mode: ingress, realm: 'Lab Registry', users: [{name: admin}, {name: ci@example.com}]}\n"
        "storage: {filesystem: {size: 20Gi, access_mode: ReadWriteOnce}}\n"
        "extras: {metrics: true, garbage_collect: {enabled: true, schedule: '*/15 2-4 1,15 * sun'},"
        " resources: {cpu_request: 100m, memory_limit: 1Gi}}\n",
        {},
    ),
}
CASES = {**SHIPPED, **EXTRA, **{f"catalogue-{name}": (text, {}) for name, (text, _) in ACCEPTED_CASES.items()}}


@pytest.fixture(scope="module")
def dry_run_namespace(kube_cluster):
    """A real namespace for server-side dry runs (objects are never stored)."""
    done = kube_cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    assert done.returncode == 0 or "AlreadyExists" in done.stderr, done.stderr
    return NAMESPACE


def _render(folder: Path, text: str, env: dict[str, str], capsys, monkeypatch) -> Path:
    monkeypatch.chdir(folder)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (folder / "p.yaml").write_text(text)
    code = main(["render", "--preset", "p.yaml", "--out", "out"])
    output = capsys.readouterr()
    assert code == 0, output.err
    return folder / "out"


def _objects(out: Path, release: str, namespace: str) -> list[dict]:
    helm = helm_path("helm3")
    argv = [str(helm), "template", release, str(CHART), "--namespace", namespace, "-f", str(out / "values.yaml")]
    if (out / "secret-values.yaml").exists():
        argv += ["-f", str(out / "secret-values.yaml")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    for name in ("secrets.yaml", "pvc.yaml", "objects.yaml"):  # the objects the installer applies beside the chart
        if (out / name).exists():
            objects += [doc for doc in yaml.safe_load_all((out / name).read_text()) if doc]
    return objects


@pytest.mark.parametrize("case", sorted(CASES))
def test_api_server_accepts_every_rendered_object(case, kube_cluster, dry_run_namespace, tmp_path, capsys, monkeypatch):
    text, env = CASES[case]
    choices = parse_preset(text)
    out = _render(tmp_path, text, env, capsys, monkeypatch)
    # the namespace name itself, as the server checks it
    kube_cluster.kubectl("create", "namespace", choices.target.namespace, "--dry-run=server")
    objects = _objects(out, choices.target.release, choices.target.namespace)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "Ingress", "Secret"} <= kinds, kinds
    for obj in objects:  # dry-run into the one namespace that exists; the names and bodies are the ones rendered
        if obj["metadata"].get("namespace"):
            obj["metadata"]["namespace"] = dry_run_namespace
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    done = kube_cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-n", dry_run_namespace, "-f", str(manifest), check=False
    )
    assert done.returncode == 0, f"{case}: the API server refused an object:\n{done.stderr}"
    accepted = [line for line in done.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(objects), done.stdout


def test_garbage_collection_cronjob_name_limit_matches_the_server(
    kube_cluster, dry_run_namespace, tmp_path, capsys, monkeypatch
):
    """The longest release the model lets through with garbage collection makes a CronJob the server accepts."""
    from installer import checks

    release = "r" * (checks.CRONJOB_NAME_MAX - len(checks.GC_SUFFIX))
    text = (
        f"version: 1\nexposure: {{hosts: [r.example.com]}}\ntarget: {{release: {release}}}\nextras: {{garbage_collect: "
        "{enabled: true}}\n"
    )
    out = _render(tmp_path, text, {}, capsys, monkeypatch)
    cronjob = next(o for o in _objects(out, release, dry_run_namespace) if o["kind"] == "CronJob")
    cronjob["metadata"]["namespace"] = dry_run_namespace  # the installer's CronJob names the release's namespace
    (tmp_path / "cj.yaml").write_text(yaml.safe_dump(cronjob))
    done = kube_cluster.kubectl(
        "apply", "--dry-run=server", "-n", dry_run_namespace, "-f", str(tmp_path / "cj.yaml"), check=False
    )
    assert done.returncode == 0, done.stderr
    cronjob["metadata"]["name"] += "x"  # one character more is what the model refuses: so does the server
    (tmp_path / "cj.yaml").write_text(yaml.safe_dump(cronjob))
    done = kube_cluster.kubectl(
        "apply", "--dry-run=server", "-n", dry_run_namespace, "-f", str(tmp_path / "cj.yaml"), check=False
    )
    assert done.returncode != 0 and "52" in done.stderr, done.stderr


@pytest.mark.parametrize("schedule", ["x x x x x", "61 * * * *", "0 1 * * 7", "*/0 * * * *", "0 5-1 * * *"])
def test_cron_schedules_the_model_refuses_the_server_refuses_too(kube_cluster, dry_run_namespace, schedule):
    """The cron check is the server's: what the model refuses, the API server refuses as well."""
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cron-check", "namespace": dry_run_namespace},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "registry:2"}]}
                    }
                }
            },
        },
    }
    done = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert done.returncode != 0 and "schedule" in done.stderr, done.stderr


def test_kubeconfig_list_skips_a_missing_file_like_kubectl(kube_cluster, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{kube_cluster.kubeconfig}")
    code = main(["probe", "--context", kube_cluster.admin_context])
    output = capsys.readouterr()
    assert code == 0, output.err
    assert kube_cluster.server in output.out


def test_kubeconfig_with_ca_data_that_is_not_a_certificate_is_named(kube_cluster, tmp_path, capsys):
    import base64

    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["certificate-authority-data"] = base64.b64encode(b"not a certificate").decode()
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    for argv in (["probe"], ["ca"], ["uninstall", "--yes", "--helm", str(helm_path("helm3"))]):
        code = main([*argv, "--kubeconfig", str(broken), "--context", kube_cluster.admin_context])
        output = capsys.readouterr()
        assert code == 1, output
        assert str(broken) in output.err and "certificate-authority-data that is not PEM" in output.err, output.err
        assert "Traceback" not in output.err


def test_existing_claim_the_cluster_lacks_is_a_warning(kube_cluster, dry_run_namespace, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(
        f"version: 1\nexposure: {{hosts: [r.example.com]}}\ntarget: {{namespace: {dry_run_namespace}}}\n"
        "storage: {filesystem: {existing_claim: no-such-claim}}\n"
    )
    code = main(
        [
            "apply",
            "--preset",
            "p.yaml",
            "--dry-run",
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--context",
            kube_cluster.admin_context,
            "--helm",
            str(helm_path("helm3")),
            "--chart",
            str(CHART),
        ]
    )
    output = capsys.readouterr()
    assert code == 0, output.err
    assert "warning: storage.filesystem.existing_claim no-such-claim was not found" in output.out + output.err
