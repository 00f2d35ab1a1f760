"""The S3-compatible test server (SeaweedFS built from its Go module): keys enforced, a bucket, real registry writes."""

from __future__ import annotations

import json
import secrets

import boto3
import pytest
from botocore.exceptions import ClientError

from installer.secretstr import SecretStr
from installer.smoke import SmokeTarget, run_smoke
from tests.fixtures.procs import free_port
from tests.fixtures.registry import make_ca, run_registry, start_nginx, write_htpasswd
from tests.fixtures.s3 import S3Error, start_s3

pytestmark = pytest.mark.s3

MiB = 1024 * 1024


@pytest.mark.timeout(900)  # the first use builds SeaweedFS when .ci/setup.sh has not
def test_bucket_and_keys_of_the_run(s3_server):
    client = s3_server.client()
    client.head_bucket(Bucket=s3_server.bucket)
    client.put_object(Bucket=s3_server.bucket, Key="a/b.txt", Body=b"hello")
    assert s3_server.list_keys("a/") == ["a/b.txt"]
    assert client.get_object(Bucket=s3_server.bucket, Key="a/b.txt")["Body"].read() == b"hello"

    stranger = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-" + s3_server.secret_key,
        config=client.meta.config,
    )
    with pytest.raises(ClientError) as refused:
        stranger.list_objects_v2(Bucket=s3_server.bucket)
    assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")
    assert s3_server.preset_storage()["s3"]["endpoint"] == f"http://127.0.0.1:{s3_server.port}"
    assert s3_server.env()["S3_SECRET_KEY"] == s3_server.secret_key
    # the master would otherwise report usage statistics to an Internet address
    assert "Reporting anonymous cluster statistics" not in (s3_server.directory / "weed.log").read_text()


def test_refuses_to_listen_outside_the_test_ranges(tmp_path):
    with pytest.raises(S3Error, match="refusing to listen on 10.1.2.3"):
        start_s3(tmp_path, host="10.1.2.3")
    with pytest.raises(S3Error, match="refusing to listen on 0.0.0.0"):
        start_s3(tmp_path, host="0.0.0.0")


@pytest.mark.registry
@pytest.mark.timeout(900)
def test_a_registry_on_s3_storage_writes_the_pushed_blobs_into_the_bucket(s3_server, tmp_path):
    """Debian's docker-registry with its S3 driver on the server, behind nginx: the smoke push lands in the bucket."""
    port = free_port()
    config = tmp_path / "registry" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "info"},
                "storage": {
                    "s3": {
                        "accesskey": s3_server.access_key,
                        "secretkey": s3_server.secret_key,
                        "region": s3_server.region,
                        "regionendpoint": s3_server.endpoint,
                        "bucket": s3_server.bucket,
                        "secure": False,
                        "v4auth": True,
                        "rootdirectory": "/images",
                    },
                    "delete": {"enabled": True},
                    "redirect": {"disable": True},
                },
                "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
            }
        )
    )
    registry = run_registry(config.parent, config, port)
    ca = make_ca(tmp_path / "tls")
    password = secrets.token_urlsafe(12)
    nginx = start_nginx(
        tmp_path / "nginx",
        upstream=f"127.0.0.1:{port}",
        ca=ca,
        htpasswd=write_htpasswd(tmp_path / "htpasswd", "admin", password),
    )
    try:
        result = run_smoke(
            SmokeTarget(
                registry=nginx.address,
                username="admin",
                password=SecretStr(password),
                ca_file=ca.ca_file,
                controller_family="ingress-nginx",
                blob_size=6 * MiB,
                keep=True,
                timeout=30.0,
            )
        )
        assert result.ok, f"{result.diagnosis}\n{registry.process.log_tail()}"
        assert s3_server.has_blob(result.digest, root_directory="/images")
        blobs = [key for key in s3_server.list_keys("images/docker/registry/v2/blobs/") if key.endswith("/data")]
        assert len(blobs) >= 3  # the layer, the image config and the manifest
        layer = [key for key in blobs if key != s3_server.blob_key(result.digest, "/images")]
        sizes = [s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)["ContentLength"] for key in layer]
        assert max(sizes) == result.bytes  # the whole layer, as pushed
    finally:
        nginx.stop()
        registry.stop()
