"""Secrets stay secret; nothing is read, written or deleted outside the dataset; a hostile server
cannot make a download escape its folder or blow up."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import approve_in_browser, remote_keys, write_tree
from proxy import Proxy

from provena_widgets import (
    CredentialPanel,
    Credentials,
    CredentialsInvalid,
    DatasetLocation,
    DatasetStore,
    OutsideDataset,
    RemoteBrowser,
)
from provena_widgets.private_files import write_private_json
from provena_widgets.provena import ProvenaClient, TokenCache
from provena_widgets.sandbox.provena_standin import ProvenaStandIn
from provena_widgets.sandbox.s3server import LocalS3Server


def secrets_of(credentials: Credentials) -> list[str]:
    assert credentials.session_token
    return [credentials.secret_access_key, credentials.session_token]


def test_debug_logs_never_hold_secrets_or_tokens(
    caplog: pytest.LogCaptureFixture, s3_server: LocalS3Server, provena: ProvenaStandIn, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)  # everything: botocore logs request headers at DEBUG
    client = ProvenaClient(provena.config, token_cache=tmp_path / "tokens.json")  # to read the refresh token
    login = client.start_device_login()
    approve_in_browser(login, "alice")
    login.wait(30)
    store = DatasetStore.from_provena(
        client, "10378.1/1234567", write=True, endpoint_url=s3_server.endpoint_url
    )
    src = write_tree(tmp_path / "src", {"d/a.txt": b"a", "d/big.bin": os.urandom(17 * 1024 * 1024)})
    assert store.upload([src / "d"], progress=None).ok
    assert store.download(["d/"], to=tmp_path / "out", progress=None).ok
    wrong = Credentials(store.credentials.access_key_id, "x" * 40, store.credentials.session_token)
    bad = DatasetStore(wrong, store.location, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(CredentialsInvalid):
        bad.check()
    saved = TokenCache(tmp_path / "tokens.json").load(provena.config.realm_url)
    assert saved is not None
    hidden = [*secrets_of(store.credentials), client.access_token(), saved[1]]
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "Authorization" in text or "Sending http request" in text  # DEBUG logging really was on
    for secret in hidden:
        assert secret not in text


def test_errors_and_reprs_never_hold_secrets(
    s3_server: LocalS3Server, credentials: Credentials, location: Any
) -> None:
    tampered = Credentials(credentials.access_key_id, credentials.secret_access_key,
                           (credentials.session_token or "")[:-4] + "AAAA")  # fmt: skip
    for creds in (tampered, Credentials(credentials.access_key_id, "y" * 40, credentials.session_token)):
        store = DatasetStore(creds, location, endpoint_url=s3_server.endpoint_url)
        with pytest.raises(CredentialsInvalid) as err:
            store.check()
        for text in (str(err.value), repr(err.value), repr(store), repr(creds), str(err.value.__cause__)):
            for secret in secrets_of(creds):
                assert secret not in text


def test_secrets_never_reach_the_environment_of_child_processes(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> None:
    panel = CredentialPanel(endpoint_url=s3_server.endpoint_url)
    panel.paste.value = (
        f"AWS_ACCESS_KEY_ID={credentials.access_key_id}\nAWS_SECRET_ACCESS_KEY={credentials.secret_access_key}\n"
        f"AWS_SESSION_TOKEN={credentials.session_token}\n{location.s3_uri}"
    )
    panel.dataset_path.value = location.s3_uri
    panel.connect_button.click()
    panel.wait()
    assert panel.store is not None
    assert panel.store.upload([write_tree(tmp_path, {"x.txt": b"x"}) / "x.txt"], progress=None).ok
    child = subprocess.run([sys.executable, "-c", "import os; print(dict(os.environ))"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    for secret in secrets_of(credentials):
        assert secret not in child.stdout and secret not in str(dict(os.environ))
    panel.close()


def test_nothing_outside_the_dataset_is_touched_even_with_powerful_keys(
    s3_server: LocalS3Server, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    """Admin keys allow everything on the server; the store still stays inside its folder."""
    assert s3_server.admin is not None
    neighbour = DatasetLocation.from_handle("10378.1/99", bucket=location.bucket)
    admin.put_object(Bucket=location.bucket, Key=neighbour.prefix + "keep.csv", Body=b"mine")
    store = DatasetStore(s3_server.admin, location, endpoint_url=s3_server.endpoint_url)
    (tmp_path / "a.txt").write_text("a")
    for attempt in (
        lambda: store.delete(["../10378-1-99/keep.csv"]),
        lambda: store.delete(["../10378-1-99/"]),
        lambda: store.upload([tmp_path / "a.txt"], to="../10378-1-99/"),
        lambda: store.mkdir("../10378-1-99/new"),
        lambda: store.download(["../10378-1-99/keep.csv"], to=tmp_path / "out"),
        lambda: store.list("../10378-1-99/"),
    ):
        with pytest.raises(OutsideDataset):
            attempt()
    assert remote_keys(admin, neighbour) == {"keep.csv": 4}


def _hostile(prefix: str) -> Any:
    """A listing rewriter: adds keys that climb out, hold NUL, are absolute, or claim huge sizes."""
    extra = [
        (prefix + "h/..%2F..%2F..%2F..%2Fescape.txt", 4),
        (prefix + "h/nul%00byte.txt", 4),
        ("%2Fetc%2Fpasswd", 4),
        (prefix + "h/huge.bin", 10**17),
    ]
    contents = "".join(
        f"<Contents><Key>{key.replace('/', '%2F')}</Key><Size>{size}</Size>"
        "<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag></Contents>"
        for key, size in extra
    )
    prefixes = f"<CommonPrefixes><Prefix>{(prefix + '../').replace('/', '%2F')}</Prefix></CommonPrefixes>"

    def rewrite(line: str, body: bytes) -> bytes:
        if "list-type=2" not in line or b"</ListBucketResult>" not in body:
            return body
        return body.replace(b"</ListBucketResult>", (contents + prefixes).encode() + b"</ListBucketResult>")

    return rewrite


@pytest.fixture
def hostile(proxy: Proxy, location: DatasetLocation) -> Proxy:
    proxy.rewrite = _hostile(location.prefix)
    return proxy


def test_a_hostile_listing_cannot_move_a_download_out_of_its_folder(
    hostile: Proxy,
    store: DatasetStore,
    credentials: Credentials,
    location: DatasetLocation,
    tmp_path: Path,
) -> None:
    store.upload([write_tree(tmp_path / "src", {"h/ok.txt": b"fine"}) / "h"], progress=None)
    victim = DatasetStore(credentials, location, endpoint_url=hostile.endpoint_url)
    out = tmp_path / "a" / "b" / "out"
    report = victim.download(["h/"], to=out, progress=None)
    by_key = {r.source: r for r in report.files}
    assert by_key["h/ok.txt"].status == "transferred" and (out / "h" / "ok.txt").read_bytes() == b"fine"
    failed = {r.source: r.reason for r in report.failed}
    assert any("escape" in key for key in failed) and any("\x00" in key for key in failed)
    assert "/etc/passwd" in failed and "outside" in failed["/etc/passwd"]
    assert "free on the disk" in failed["h/huge.bin"]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "src" not in p.parts]
    assert written == [out / "h" / "ok.txt"]


def test_the_browser_never_shows_a_way_out(
    hostile: Proxy, credentials: Credentials, location: DatasetLocation
) -> None:
    browser = RemoteBrowser(DatasetStore(credentials, location, endpoint_url=hostile.endpoint_url))
    browser.wait()
    names = [entry.name for entry in browser.entries]
    assert ".." not in names and not any("\x00" in name or "/" in name for name in names)
    with pytest.raises(OutsideDataset):
        browser.open_folder("..")
    assert browser.path == ""


def test_a_download_url_goes_as_a_message_never_as_saved_widget_state(
    store: DatasetStore, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    """The presigned URL carries the session token: the saved notebook's widget state must not."""
    import json
    from urllib.parse import quote, unquote

    import ipywidgets

    from provena_widgets.widgets.computer import ThisComputer

    admin.put_object(Bucket=location.bucket, Key=location.prefix + "a.csv", Body=b"a")
    computer = ThisComputer(store, target="in/")
    sent: list[Any] = []
    computer.send = lambda content, buffers=None: sent.append(content)
    computer.selected = ["a.csv"]
    computer.send_to_computer("a.csv")
    token = secrets_of(credentials)[1]
    assert sent[0]["type"] == "url" and token in unquote(sent[0]["url"])  # the message carries it
    saved = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False))  # what a notebook saves
    assert "in/" in saved and "a.csv" in saved
    for secret in secrets_of(credentials):
        assert secret not in saved and quote(secret, safe="") not in saved
    computer.close()


def test_our_token_folder_is_made_private_even_if_it_existed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.config/provena-widgets, made 0755 by an older version or by hand, is 0700 after a write;
    a folder the user chose for their file, and the folders above ours, keep their mode."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    ours, chosen = tmp_path / "config" / "provena-widgets", tmp_path / "shared"
    for folder in (ours, chosen):
        folder.mkdir(parents=True)
    for folder in (ours, ours.parent, chosen):
        folder.chmod(0o755)
    write_private_json(ours / "tokens.json", {"realm": {}})  # where TokenCache() keeps its file
    write_private_json(chosen / "tokens.json", {"realm": {}})

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert TokenCache().path == ours / "tokens.json"
    assert (mode(ours), mode(ours / "tokens.json")) == (0o700, 0o600)
    assert (mode(chosen), mode(chosen / "tokens.json")) == (0o755, 0o600)
    assert mode(ours.parent) == 0o755  # nothing above our folder is changed
