"""The report store (reporting.storage) over Django's `reports` storage (issue 25, item 5): the
local folder (private modes, atomic writes, the same name kept) and an S3 bucket, here a real S3
endpoint on loopback (moto's server, in a thread), configured through the settings' own
REPORT_S3_* reading (config.settings._report_storage)."""

from __future__ import annotations

import os
import stat
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

from config import settings as project_settings
from core.models import Role
from reporting import storage
from reporting.storage import ReportFileStorage
from tests.core.factories import member

# The shared fixtures live in test_runs (a conftest here belongs to the lead); using an imported
# fixture as an argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.reporting.test_runs import (  # noqa: F401 - fixtures
    eager_celery,
    fake_renderer,
    finance,
    grant,
    org,
    other_org,
)

ONE = b"%PDF report one"
TWO = b"%PDF report two"
ONE_SHA = "01e74f22d5a072aa8b46c65581cf7725d219bf5c711854b819d487c71a880d20"
TWO_SHA = "b15fa1527d10282bf58e3366fa0581c97716a99ecb35be4a893120878740ea6d"
BUCKET = "hembesok-reports"
REGION = "eu-north-1"


# --- The local folder ---------------------------------------------------------------------------
@pytest.fixture
def folder(settings, tmp_path):
    settings.REPORT_STORE = tmp_path / "store"
    return tmp_path / "store"


def test_the_default_reports_storage_is_the_local_folder(folder):
    assert isinstance(storages["reports"], ReportFileStorage)
    assert storages["reports"].location == str(folder)


def test_local_files_are_0600_in_a_0700_folder_whatever_the_umask(folder):
    saved = os.umask(0)
    try:
        assert storage.save("one.pdf", ONE) == ONE_SHA
    finally:
        os.umask(saved)
    assert stat.S_IMODE((folder / "one.pdf").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_writing_a_name_again_replaces_the_file_and_keeps_the_name(folder):
    assert storage.save("run.pdf", ONE) == ONE_SHA
    assert storage.save("run.pdf", TWO) == TWO_SHA
    assert sorted(p.name for p in folder.iterdir()) == ["run.pdf"]
    assert storage.read("run.pdf") == TWO
    with storage.open("run.pdf") as fh:
        assert fh.read() == TWO


def test_a_write_that_fails_leaves_the_old_file_whole_and_no_part_behind(folder, monkeypatch):
    storage.save("run.pdf", ONE)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        storage.save("run.pdf", TWO)
    assert storage.read("run.pdf") == ONE
    assert sorted(p.name for p in folder.iterdir()) == ["run.pdf"]


@pytest.mark.parametrize("name", ["", "a/b.pdf", "../b.pdf", ".hidden", "a\\b.pdf"])
def test_a_report_file_name_is_a_bare_name(folder, name):
    for call in (
        lambda: storage.save(name, ONE),
        lambda: storage.open(name),
        lambda: storage.exists(name),
    ):
        with pytest.raises(ValueError, match="bare name"):
            call()
    assert not folder.exists()


def test_the_folder_follows_report_store(settings, tmp_path):
    settings.REPORT_STORE = tmp_path / "a"
    storage.save("run.pdf", ONE)
    settings.REPORT_STORE = tmp_path / "b"
    assert not storage.exists("run.pdf")
    with pytest.raises(FileNotFoundError):
        storage.open("run.pdf")
    storage.save("run.pdf", TWO)
    assert (tmp_path / "a" / "run.pdf").read_bytes() == ONE
    assert (tmp_path / "b" / "run.pdf").read_bytes() == TWO


def test_a_report_file_has_no_url(folder):
    with pytest.raises(NotImplementedError, match="no URL"):
        storages["reports"].url("run.pdf")


# --- Settings -----------------------------------------------------------------------------------
@pytest.fixture
def no_report_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("REPORT_S3_"):
            monkeypatch.delenv(name)


def test_s3_without_a_bucket_is_refused(no_report_env):
    with pytest.raises(ImproperlyConfigured, match="REPORT_STORAGE=s3 needs REPORT_S3_BUCKET"):
        project_settings._report_storage("s3")


def test_a_bucket_without_s3_is_refused(no_report_env, monkeypatch):
    monkeypatch.setenv("REPORT_S3_BUCKET", BUCKET)
    with pytest.raises(ImproperlyConfigured, match="set REPORT_STORAGE=s3 too"):
        project_settings._report_storage("local")
    with pytest.raises(ImproperlyConfigured, match="must be local or s3, not 'S3 '"):
        project_settings._report_storage("S3 ")


def test_s3_settings_leave_credentials_to_boto3_when_unset(no_report_env, monkeypatch):
    monkeypatch.setenv("REPORT_S3_BUCKET", BUCKET)
    assert project_settings._report_storage("s3") == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": None,
            "region_name": None,
            "location": "reports",
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
            "object_parameters": {},
        },
    }


# --- An S3 bucket (moto's server on loopback) ---------------------------------------------------
@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on 127.0.0.1 (a free port), with the bucket, for the module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client(endpoint).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    yield endpoint
    # moto keeps its buckets in the process, not in the server: pytest-xdist may set this
    # module's fixture up again in the same process, which must find no bucket left.
    import urllib.request

    urllib.request.urlopen(  # nosec B310 - the test's own loopback server
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    server.stop()


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="report-writer",
        aws_secret_access_key="report-writer-secret",
    )


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch, no_report_env, tmp_path):
    """The `reports` storage switched to the bucket, as REPORT_STORAGE=s3 with these variables
    configures it; a boto3 client to look into the bucket. REPORT_STORE points at a folder that
    must stay absent."""
    settings.REPORT_STORE = tmp_path / "not-used"
    assert isinstance(storages["reports"], ReportFileStorage)  # the cached local one, first
    for name, value in {
        "REPORT_S3_BUCKET": BUCKET,
        "REPORT_S3_ENDPOINT_URL": s3_endpoint,
        "REPORT_S3_REGION": REGION,
        "REPORT_S3_ACCESS_KEY_ID": "report-writer",
        "REPORT_S3_SECRET_ACCESS_KEY": "report-writer-secret",
        "REPORT_S3_SERVER_SIDE_ENCRYPTION": "AES256",
    }.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "reports": project_settings._report_storage("s3")}
    # Django's setting_changed handler for STORAGES dropped the cached backend.
    assert isinstance(storages["reports"], S3Storage)
    return client(s3_endpoint)


def keys(s3: Any, name: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"reports/{name}")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_s3_keeps_a_private_encrypted_object_under_the_prefix(bucket, s3_endpoint, settings):
    name = f"{uuid.uuid4()}.pdf"
    assert storage.save(name, ONE) == ONE_SHA
    assert keys(bucket, name) == [f"reports/{name}"]
    head = bucket.head_object(Bucket=BUCKET, Key=f"reports/{name}")
    assert (head["ContentLength"], head["ContentType"], head["ServerSideEncryption"]) == (
        len(ONE),
        "application/pdf",
        "AES256",
    )
    assert storage.read(name) == ONE
    assert storage.exists(name) and not storage.exists(f"{uuid.uuid4()}.pdf")
    assert not settings.REPORT_STORE.exists()  # nothing went to the local folder
    # Private: no public grant, and a request without credentials is refused.
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=f"reports/{name}")["Grants"]
    assert [g["Grantee"].get("URI") for g in grants] == [None]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3_endpoint}/{BUCKET}/reports/{name}", timeout=10)
    assert refused.value.code == 403


def test_s3_writing_a_name_again_replaces_the_object(bucket):
    name = f"{uuid.uuid4()}.pdf"
    storage.save(name, ONE)
    assert storage.save(name, TWO) == TWO_SHA
    assert keys(bucket, name) == [f"reports/{name}"]
    assert storage.read(name) == TWO


def test_s3_a_missing_object_is_file_not_found(bucket):
    with pytest.raises(FileNotFoundError):
        storage.open(f"{uuid.uuid4()}.pdf")


@pytest.fixture
def worker(fake_renderer, eager_celery, django_capture_on_commit_callbacks):
    """Runs what is enqueued after commit, as the eager Celery set-up does."""

    class Worker:
        def post(self, client, body):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post("/api/v1/reports/", body, format="json")

    return Worker()


@pytest.mark.django_db
def test_a_report_requested_rendered_and_downloaded_through_the_bucket(
    bucket, worker, api_client_for, finance, grant, other_org, settings
):
    client = api_client_for(finance)
    response = worker.post(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    assert response.status_code == 202, response.json()
    run_id = response.json()["id"]
    url = f"/api/v1/reports/{run_id}/file/"
    expected = b"%PDF fake socialstyrelsen 2023"
    assert keys(bucket, f"{run_id}.pdf") == [f"reports/{run_id}.pdf"]
    got = bucket.get_object(Bucket=BUCKET, Key=f"reports/{run_id}.pdf")["Body"].read()
    assert got == expected
    assert not settings.REPORT_STORE.exists()

    download = client.get(url)
    assert download.status_code == 200  # the bytes themselves: no redirect to the bucket
    assert b"".join(download.streaming_content) == expected
    assert download["Content-Type"] == "application/pdf"
    assert "Location" not in download

    stranger = api_client_for(member(Role.FINANCE, organisation=other_org))
    assert stranger.get(url).status_code == 404

    bucket.delete_object(Bucket=BUCKET, Key=f"reports/{run_id}.pdf")
    assert client.get(url).status_code == 404  # the store lost it
