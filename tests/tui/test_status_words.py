"""The Status view's words for a RegistryStatus (the view itself runs against real clusters in test_status_view.py and
test_node_features.py)."""

from __future__ import annotations

import pytest
from rich.text import Text

from installer.clients import NodeTrust
from installer.status import RegistryStatus, VolumeUsage
from screens.status import status_lines, suggested_size

pytestmark = [pytest.mark.tui]


def plain(lines: list[str]) -> str:
    return "\n".join(Text.from_markup(line).plain for line in lines)


def test_a_full_volume_warns_in_yellow_and_node_trust_says_what_each_node_needs():
    st = RegistryStatus(
        "ns", "docker-registry", installed=True, revision=4, release_status="deployed",
        chart="docker-registry-3.0.0", pods_ready=1, pods_total=1, claim="docker-registry", claim_requested="100Gi",
        claim_capacity="100Gi", claim_phase="Bound", storage_class="rook-ceph-block", expandable=True,
        usage=VolumeUsage(87 * 2**30, 100 * 2**30, 13 * 2**30, "n1", "p"), repositories=3, tags=5,
    )  # fmt: skip
    trust = [NodeTrust("n1", "containerd://1.6.20", "needs-config-path", "add config_path")]
    lines = status_lines(st, trust)
    text = plain(lines)
    assert "Usage     █████████████████░░░ 87%: 87 GiB of 100 GiB, 13 GiB free" in text
    assert any(line.startswith("[b]Usage[/b]     [yellow]") for line in lines)  # above 80 %: yellow
    assert "Images    3 repositories, 5 tags" in text and "Last GC   never (by this installer)" in text
    assert "! n1 (containerd://1.6.20): needs-config-path: add config_path" in text
    assert suggested_size(st) == "200Gi"
    st.usage = VolumeUsage(10 * 2**30, 100 * 2**30, 90 * 2**30, "n1", "p")
    assert any(line.startswith("[b]Usage[/b]     [green]") for line in status_lines(st, None))
    assert "Node trust off" in plain(status_lines(st, None))
    assert "not installed in namespace ns" in plain(status_lines(RegistryStatus("ns", "docker-registry"), None))


def test_the_last_gc_reads_as_the_status_command_says_it_scheduled_skipped_or_failed():
    st = RegistryStatus("ns", "docker-registry", installed=True)
    skipped = "skipped: the release's lock is held by host/1/a (since 2026-11-02T00:59:00Z)"
    st.last_gc = {"time": "2026-11-02T01:00:00Z", "scheduled": True, "ok": False, "skipped": True, "error": skipped}
    text = plain(status_lines(st, None))
    assert f"Last GC   2026-11-02T01:00:00Z (scheduled) {skipped}" in text and "FAILED" not in text, text
    st.last_gc = {"time": "t", "ok": False, "error": "helm said no", "blobs_deleted": 4, "readonly_seconds": 12.4}
    assert "Last GC   t FAILED: helm said no, 4 blobs deleted, read-only 12 s" in plain(status_lines(st, None))
