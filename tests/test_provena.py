"""The Provena client against the local stand-in over HTTP: login, lookup, credentials, errors."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LOCKED, READ_ONLY, RELEASED, SAMPLE, approve_in_browser, tree_of, write_tree

from provena_widgets import DatasetStore
from provena_widgets.provena import (
    DatasetLocked,
    DatasetReleased,
    LoginFailed,
    MissingRole,
    NotLoggedIn,
    ProvenaClient,
    ProvenaConfig,
    ServiceBusy,
    UnknownDataset,
)
from provena_widgets.sandbox.provena_standin import ProvenaStandIn
from provena_widgets.sandbox.registry_records import ORGANISATION
from provena_widgets.sandbox.s3server import LocalS3Server


def logged_in(provena: ProvenaStandIn, user: str = "alice") -> ProvenaClient:
    client = ProvenaClient(provena.config)
    login = client.start_device_login()
    approve_in_browser(login, user)
    login.wait(30)
    return client


def test_config_derives_every_url_from_domain_and_realm() -> None:
    cfg = ProvenaConfig.for_domain("mds.gbrrestoration.org", realm="rrap")
    assert cfg.data_api_url == "https://data-api.mds.gbrrestoration.org"
    assert cfg.realm_url == "https://auth.mds.gbrrestoration.org/auth/realms/rrap"
    assert cfg.token_url == cfg.realm_url + "/protocol/openid-connect/token"
    assert cfg.device_url == cfg.realm_url + "/protocol/openid-connect/auth/device"
    assert cfg.client_id == "client-tools" and cfg.offline_client_id == "automated-access"
    custom = ProvenaConfig.for_domain("example.org", realm="x", data_api_url="http://127.0.0.1:8001/")
    assert custom.data_api_url == "http://127.0.0.1:8001" and custom.realm_url.endswith("/auth/realms/x")


def test_full_chain_device_login_to_upload_and_download(
    provena: ProvenaStandIn, s3_server: LocalS3Server, tmp_path: Path
) -> None:
    client = ProvenaClient(provena.config)
    login = client.start_device_login()  # returns at once
    assert login.status == "pending" and not client.logged_in
    assert login.user_code and login.verification_uri_complete.endswith(login.user_code)
    approve_in_browser(login, "alice")
    login.wait(30)
    assert (login.status, client.username) == ("approved", "alice")

    info = client.fetch_dataset(SAMPLE)
    assert info.name == "Reef temperature loggers (sample)"
    assert info.location.prefix == "datasets/10378-1-1234567/" and info.location.bucket.startswith(
        "provena-test-"
    )
    assert info.roles == ("admin",) and not info.locked and info.release_status == "NOT_RELEASED"
    assert info.can_write and info.write_refusal is None

    creds = client.generate_credentials(SAMPLE, write=False)
    assert creds.session_token and creds.expiry is not None and not creds.is_expired()

    store = DatasetStore.from_provena(client, SAMPLE, write=True, endpoint_url=s3_server.endpoint_url)
    assert store.location == info.location and store.dataset == info
    src = write_tree(tmp_path / "src", {"results/a.csv": b"1,2\n"})
    assert store.upload([src / "results"], progress=None).ok
    assert store.download(["results/"], to=tmp_path / "out", progress=None).ok
    assert tree_of(tmp_path / "out") == {"results/a.csv": b"1,2\n"}


def test_device_login_denied_and_expired(provena: ProvenaStandIn) -> None:
    client = ProvenaClient(provena.config)
    login = client.start_device_login()
    approve_in_browser(login, "alice", action="deny")
    with pytest.raises(LoginFailed, match="denied"):
        login.wait(30)
    assert login.status == "denied" and not client.logged_in

    provena.device_lifetime = 0.5
    expiring = client.start_device_login()
    with pytest.raises(LoginFailed, match="expired"):
        expiring.wait(30)

    cancelled = client.start_device_login()
    cancelled.cancel()
    with pytest.raises(LoginFailed, match="cancelled"):
        cancelled.wait(30)


def test_offline_token_login_for_headless_use(provena: ProvenaStandIn) -> None:
    client = ProvenaClient(provena.config)
    client.login_offline(provena.issue_offline_token("bob"))
    assert client.username == "bob"
    assert client.generate_credentials(SAMPLE).session_token
    with pytest.raises(MissingRole) as err:
        client.generate_credentials(SAMPLE, write=True)
    assert err.value.role == "entity-registry-write" and "entity-registry-write" in str(err.value)
    with pytest.raises(NotLoggedIn):
        ProvenaClient(provena.config).login_offline("not-a-real-token")


@pytest.mark.parametrize("provena", [{"access_token_lifetime": 30}], indirect=True)
def test_access_tokens_are_refreshed_before_they_expire(provena: ProvenaStandIn) -> None:
    client = logged_in(provena)
    before = provena.hits["grant refresh_token"]
    client.fetch_dataset(SAMPLE)
    client.fetch_dataset(SAMPLE)  # 30 s tokens are inside the 60 s margin: each call refreshes first
    assert provena.hits["grant refresh_token"] == before + 2
    provena.revoke_all_tokens()
    with pytest.raises(NotLoggedIn, match="log in again"):
        client.fetch_dataset(SAMPLE)
    assert not client.logged_in


def test_every_contract_error_is_typed_with_a_plain_sentence(provena: ProvenaStandIn) -> None:
    with pytest.raises(NotLoggedIn):
        ProvenaClient(provena.config).fetch_dataset(SAMPLE)
    client = logged_in(provena)
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: client.generate_credentials(LOCKED, write=True), DatasetLocked, "locked"),
        (lambda: client.generate_credentials(RELEASED, write=True), DatasetReleased, "released"),
        (lambda: client.generate_credentials(READ_ONLY, write=True), MissingRole, "dataset-data-write"),
        (lambda: client.generate_credentials("10378.1/404"), UnknownDataset, "10378.1/404"),
        (lambda: client.fetch_dataset("10378.1/404"), UnknownDataset, "does not know the dataset"),
        (lambda: client.fetch_dataset(ORGANISATION), UnknownDataset, "does not know the dataset"),
        (lambda: client.fetch_dataset("not a handle"), UnknownDataset, "not a dataset handle"),
    ]
    for call, kind, words in cases:
        with pytest.raises(kind) as err:
            call()
        assert words in str(err.value).lower() and "\n" not in str(err.value)
    assert client.generate_credentials(LOCKED).session_token  # reading a locked dataset is fine
    info = client.fetch_dataset(READ_ONLY)
    assert info.can_read and not info.can_write and "dataset-data-write" in (info.write_refusal or "")


def test_from_provena_refuses_write_before_asking(provena: ProvenaStandIn) -> None:
    client = logged_in(provena)
    for handle, kind in ((LOCKED, DatasetLocked), (RELEASED, DatasetReleased), (READ_ONLY, MissingRole)):
        asked = provena.hits["credentials write"]
        with pytest.raises(kind):
            DatasetStore.from_provena(client, handle, write=True)
        assert provena.hits["credentials write"] == asked


def test_gateway_timeouts_are_retried_then_reported(provena: ProvenaStandIn) -> None:
    client = logged_in(provena)
    provena.fail_next(502)
    assert client.fetch_dataset(SAMPLE).name  # one 502, then the retry succeeds
    provena.fail_next(504, count=3)
    with pytest.raises(ServiceBusy, match="busy"):
        client.fetch_dataset(SAMPLE)


@pytest.mark.parametrize("provena", [{"credential_lifetime": timedelta(minutes=5)}], indirect=True)
def test_credentials_renew_themselves_during_a_transfer(
    provena: ProvenaStandIn, s3_server: LocalS3Server, tmp_path: Path
) -> None:
    client = logged_in(provena)
    store = DatasetStore.from_provena(client, SAMPLE, write=True, endpoint_url=s3_server.endpoint_url)
    issued = provena.hits["credentials write"]
    src = write_tree(tmp_path / "src", {f"many/f{i}.txt": b"x" * i for i in range(12)})
    report = store.upload([src / "many"], progress=None)
    assert report.ok and len(report.transferred) == 12
    # Five-minute credentials sit inside botocore's refresh window, so requests renew them.
    assert provena.hits["credentials write"] > issued


def test_stand_in_answers_with_the_contract_shapes(provena: ProvenaStandIn) -> None:
    base = provena.config.data_api_url
    missing = requests.get(f"{base}/registry/items/fetch-dataset", params={"handle_id": SAMPLE}, timeout=10)
    assert missing.status_code == 401 and missing.json() == {"detail": "Not authenticated"}
    bad = requests.get(
        f"{base}/registry/items/fetch-dataset",
        params={"handle_id": SAMPLE},
        headers={"Authorization": "Bearer a.b.c"},
        timeout=10,
    )
    assert bad.status_code == 401 and bad.json() == {"detail": "Could not validate credentials"}
    token = logged_in(provena).access_token()
    invalid = requests.post(
        f"{base}/registry/credentials/generate-read-access-credentials",
        json={"console_session_required": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["body", "dataset_id"]
    realm = requests.get(provena.config.realm_url, timeout=10).json()
    assert realm["realm"] == "rrap" and len(realm["public_key"]) > 200


@pytest.mark.parametrize("provena", [{"unknown_fields": True}], indirect=True)
def test_client_ignores_fields_it_does_not_know(
    provena: ProvenaStandIn, s3_server: LocalS3Server, tmp_path: Path
) -> None:
    client = logged_in(provena)  # device and token answers, and the token's claims, carry extras too
    claims = client._tokens.claims if client._tokens else {}
    assert "added_in_a_later_version" in claims["realm_access"] and client.realm_roles
    raw = requests.get(
        f"{provena.config.data_api_url}/registry/items/fetch-dataset",
        params={"handle_id": SAMPLE},
        headers={"Authorization": f"Bearer {client.access_token()}"},
        timeout=10,
    ).json()
    assert all("added_in_a_later_version" in part for part in (raw, raw["status"], raw["item"]["s3"]))
    info = client.fetch_dataset(SAMPLE)
    assert (info.name, info.location.prefix, info.roles) == (
        "Reef temperature loggers (sample)", "datasets/10378-1-1234567/", ("admin",)
    )  # fmt: skip
    assert client.fetch_dataset(LOCKED).locked and client.fetch_dataset(RELEASED).release_status == "RELEASED"
    assert client.generate_credentials(SAMPLE).expiry is not None
    with pytest.raises(DatasetLocked):
        client.generate_credentials(LOCKED, write=True)
    with pytest.raises(UnknownDataset):
        client.fetch_dataset("10378.1/404")
    store = DatasetStore.from_provena(client, SAMPLE, write=True, endpoint_url=s3_server.endpoint_url)
    assert store.upload([write_tree(tmp_path, {"a.txt": b"a"}) / "a.txt"], progress=None).ok
    headless = ProvenaClient(provena.config)
    headless.login_offline(provena.issue_offline_token("bob"))
    assert headless.username == "bob" and headless.fetch_dataset(SAMPLE).roles == ("dataset-data-read",)


def test_token_cache_is_opt_in_0600_and_outside_the_working_folder(
    provena: ProvenaStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path / "config" if (tmp_path / "config").exists() else tmp_path)
    plain = logged_in(provena)
    assert not (tmp_path / "config").exists()  # no cache unless asked for
    cached = ProvenaClient(provena.config, token_cache=True)
    login = cached.start_device_login()
    approve_in_browser(login, "alice")
    login.wait(30)
    path = tmp_path / "config" / "provena-widgets" / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert plain.access_token() not in path.read_text()  # refresh tokens only
    assert [p for p in Path.cwd().iterdir() if p.is_file()] == []
    resumed = ProvenaClient(provena.config, token_cache=True)
    assert resumed.username == "alice"  # a restarted kernel needs no new login
    resumed.logout()
    assert not ProvenaClient(provena.config, token_cache=True).logged_in
    assert os.environ["XDG_CONFIG_HOME"] == str(tmp_path / "config")


def test_reprs_hold_no_tokens(provena: ProvenaStandIn) -> None:
    client = logged_in(provena)
    token = client.access_token()
    assert token not in repr(client) and "alice" in repr(client)
    assert client._tokens is not None and token not in repr(client._tokens)
