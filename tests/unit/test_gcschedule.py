"""The installer's scheduled garbage collection: CronJob, ServiceAccount, Role and RoleBinding as rendered."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from installer.gcschedule import (
    READONLY_ENV,
    SCRIPT,
    kubectl_image,
    role_rules,
    schedule_from_cronjob,
    schedule_objects,
)
from installer.model import Choices
from installer.plan import build_plan
from installer.reconfigure import choices_from_release
from installer.render import render


def _plan(gc: dict | None = None, release: str = "docker-registry", namespace: str = "registry", probe=None):
    data = {
        "version": 1,
        "target": {"namespace": namespace, "release": release},
        "exposure": {"hosts": ["registry.example.com"], "tls": {"mode": "none"}},
        "auth": {"mode": "none"},
        "storage": {"kind": "filesystem", "filesystem": {"storage_class": "standard", "size": "10Gi"}},
    }
    if gc is not None:
        data["extras"] = {"garbage_collect": gc}
    return build_plan(Choices.parse(data), probe)


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


def test_schedule_off_renders_nothing_and_the_chart_cronjob_stays_off():
    rendered = render(_plan())
    assert schedule_objects(_plan()) == []
    assert "garbageCollect" not in rendered.values and rendered.objects == ()


def test_schedule_on_renders_the_installers_cronjob_not_the_charts():
    plan = _plan({"enabled": True, "schedule": "30 2 * * sun", "delete_untagged": True})
    rendered = render(plan)
    assert "garbageCollect" not in rendered.values, "the chart's CronJob collects on a writable registry"
    objects = _by_kind(rendered.objects)
    assert sorted(objects) == ["CronJob", "Role", "RoleBinding", "ServiceAccount"]
    for obj in objects.values():
        meta = obj["metadata"]
        assert meta["name"] == "docker-registry-installer-gc" and meta["namespace"] == "registry"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "registry-installer"
        assert meta["labels"]["app.kubernetes.io/instance"] == "docker-registry"
    cron = objects["CronJob"]["spec"]
    assert cron["schedule"] == "30 2 * * sun" and cron["concurrencyPolicy"] == "Forbid"
    job = cron["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 3600
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "docker-registry-installer-gc" and pod["restartPolicy"] == "Never"
    assert "nodeName" not in pod and "volumes" in pod  # collects through exec in the registry pod: no node pinning
    assert pod["terminationGracePeriodSeconds"] >= 120, "time to switch back to writable after a TERM"
    labels = job["template"]["metadata"]["labels"]
    assert "app" not in labels and "release" not in labels, "the chart's selector must not match the job's pod"
    (container,) = pod["containers"]
    assert container["image"] == "registry.k8s.io/kubectl:v1.35.2"  # offline: the fixed default
    assert container["command"][:2] == ["/bin/bash", "-c"] and container["command"][2] == SCRIPT
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DEPLOYMENT"] == "docker-registry" and env["CONTAINER"] == "docker-registry"
    assert env["LEASE"] == "docker-registry-installer-lock" and env["RECORD"] == "docker-registry-installer-gc"
    assert env["GC_FLAGS"] == "--delete-untagged" and env["READONLY_ENV"] == READONLY_ENV
    assert env["READONLY_VALUE"] == '{"enabled": true}'  # distribution needs a map: readonly: {enabled: true}
    fields = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert fields == {
        "NAMESPACE": "metadata.namespace",
        "POD_NAME": "metadata.name",
        "JOB_NAME": "metadata.labels['job-name']",
    }
    security = container["securityContext"]
    assert (
        security["runAsNonRoot"] and security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
    )
    binding = objects["RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "docker-registry-installer-gc",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "docker-registry-installer-gc", "namespace": "registry"}
    ]
    assert any("installer's CronJob docker-registry-installer-gc" in n for n in rendered.notes)


def test_role_is_least_privilege_and_namespaced():
    rules = role_rules("lab", "lab-docker-registry")
    flat = {
        (g, r, name, verb)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for name in rule.get("resourceNames", ["*"])
        for verb in rule["verbs"]
    }
    assert flat == {
        ("apps", "deployments", "lab-docker-registry", "get"),
        ("apps", "deployments", "lab-docker-registry", "list"),
        ("apps", "deployments", "lab-docker-registry", "watch"),
        ("apps", "deployments", "lab-docker-registry", "patch"),
        ("", "pods", "*", "get"),
        ("", "pods", "*", "list"),
        ("", "pods/exec", "*", "create"),
        ("", "pods/exec", "*", "get"),
        ("coordination.k8s.io", "leases", "*", "create"),
        ("coordination.k8s.io", "leases", "lab-installer-lock", "get"),
        ("coordination.k8s.io", "leases", "lab-installer-lock", "update"),
        ("coordination.k8s.io", "leases", "lab-installer-lock", "delete"),
        ("", "configmaps", "lab-installer-gc", "get"),
        ("", "configmaps", "lab-installer-gc", "patch"),
    }
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in rules)


def test_kubectl_image_follows_the_cluster_version_or_the_preset():
    assert kubectl_image("v1.31.4-eks-a737599") == "registry.k8s.io/kubectl:v1.31.4"
    assert kubectl_image("v1.33.1+k3s1") == "registry.k8s.io/kubectl:v1.33.1"
    assert kubectl_image("unknown") == kubectl_image(None) == "registry.k8s.io/kubectl:v1.35.2"
    plan = _plan({"enabled": True, "image": "mirror.example.com/k8s/kubectl:v1.34.0"})
    (cron,) = [o for o in render(plan).objects if o["kind"] == "CronJob"]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "mirror.example.com/k8s/kubectl:v1.34.0"


@pytest.mark.parametrize("bad", ["not an image", "registry.k8s.io/kubectl:v1\n", "-x"])
def test_a_bad_image_names_the_setting(bad):
    from installer.model import Invalid

    with pytest.raises(Invalid, match="extras.garbage_collect.image"):
        _plan({"enabled": True, "image": bad})


def test_release_name_limit_follows_the_cronjob_name():
    _plan({"enabled": True}, release="r" * 39)  # r...r-installer-gc: 52 characters, Kubernetes' CronJob limit
    from installer.model import Invalid

    with pytest.raises(Invalid, match="at most 39 characters"):
        _plan({"enabled": True}, release="r" * 40)


def test_reconfigure_reads_the_schedule_back_from_the_cronjob():
    plan = _plan({"enabled": True, "schedule": "@weekly", "delete_untagged": False})
    rendered = render(plan)
    choices = choices_from_release(rendered.values, "registry", "docker-registry", managed=list(rendered.objects))
    gc = choices.extras.garbage_collect
    assert gc.enabled and gc.schedule == "@weekly" and gc.delete_untagged is False and gc.image is None
    again = render(build_plan(choices))
    assert again.objects == rendered.objects and again.values == rendered.values
    chosen = render(_plan({"enabled": True, "image": "mirror.example.com/kubectl:v1.35.2"}))
    (cron,) = [o for o in chosen.objects if o["kind"] == "CronJob"]
    assert schedule_from_cronjob(cron)["image"] == "mirror.example.com/kubectl:v1.35.2"


def test_an_install_with_the_charts_cronjob_moves_to_the_installers():
    values = render(_plan()).values | {
        "garbageCollect": {"enabled": True, "schedule": "0 3 * * *", "deleteUntagged": True}
    }
    choices = choices_from_release(values, "registry", "docker-registry")
    assert choices.extras.garbage_collect.enabled and choices.extras.garbage_collect.schedule == "0 3 * * *"
    rendered = render(build_plan(choices))
    assert "garbageCollect" not in rendered.values and any(o["kind"] == "CronJob" for o in rendered.objects)


def test_the_script_is_valid_bash():
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the CronJob's script"
    done = subprocess.run([bash, "-n", "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # the switch back lives in the EXIT trap, set before the registry is made read-only
    assert SCRIPT.index("trap finish EXIT") < SCRIPT.index("readonly_at=$(date")


# A stand-in for kubectl (the real one talks to a cluster; the node test runs the script against one): the Lease
# exists and was renewed just now by an installer, every call is logged, the record patch is kept.
LOCK_HELD_KUBECTL = r"""#!/bin/bash
echo "$*" >> "$STUB_DIR/calls"
case "$*" in
  *" create -f -") cat > /dev/null; echo 'leases "x" already exists' >&2; exit 1 ;;
  *" get lease "*) now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
                   printf '%s' "other-host/4242/abc|$now|60|42|2026-11-29T00:20:00.000000Z" ;;
  *" patch configmap "*) printf '%s' "${@: -1}" > "$STUB_DIR/record" ;;
  *) exit 1 ;;
esac
"""


def test_a_run_that_finds_the_lock_held_is_recorded_as_skipped(tmp_path):
    import json

    from installer.gcschedule import RECORD_KEY

    cron = _by_kind(schedule_objects(_plan({"enabled": True, "schedule": "0 1 * * *"})))["CronJob"]
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.parent.mkdir()
    kubectl.write_text(LOCK_HELD_KUBECTL)
    kubectl.chmod(0o755)
    env.update(
        NAMESPACE="registry",
        POD_NAME="docker-registry-installer-gc-1-x",
        JOB_NAME="docker-registry-installer-gc-1",
        STUB_DIR=str(tmp_path),
        PATH=f"{kubectl.parent}:/usr/bin:/bin",
        HOME=str(tmp_path),
    )
    done = subprocess.run(container["command"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr  # the Job fails, its log says why
    assert "skipped: the release's lock is held by other-host/4242/abc" in done.stdout
    calls = (tmp_path / "calls").read_text()
    assert "set env" not in calls and "delete lease" not in calls, "nothing changed, the other run's lock kept"
    patch = json.loads((tmp_path / "record").read_text())
    entry = json.loads(patch["data"][RECORD_KEY])
    assert entry["ok"] is False and entry["skipped"] is True and entry["scheduled"] is True
    assert entry["error"].startswith("skipped: the release's lock is held by other-host/4242/abc (since 2026-11-29T00")
    assert entry["job"] == "docker-registry-installer-gc-1" and entry["readonly_seconds"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"]), entry["time"]


def test_catalog_credentials_use_a_generated_password_or_say_why():
    import base64

    from installer.checks import secret_key_for_user
    from installer.status import catalog_credentials

    htpasswd = "ci:$2y$08$x\nadmin:$2y$08$y\n"
    encoded = base64.b64encode(b"s3cret-generated").decode()
    assert catalog_credentials(htpasswd, {secret_key_for_user("ci"): encoded}, "r-installer") == (
        "ci",
        "s3cret-generated",
    )
    typed = catalog_credentials(htpasswd, {"haSharedSecret": "eA=="}, "r-installer")
    assert isinstance(typed, str) and "admin, ci" in typed and "typed, not generated" in typed
    unreadable = catalog_credentials(htpasswd, None, "r-installer")
    assert unreadable == "the installer's Secret r-installer could not be read"
