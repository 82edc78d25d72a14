"""The Provena mode of the credential panel, driven as a user drives it, over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LOCKED, SAMPLE, approve_in_browser, remote_keys
from test_widgets import all_state

from provena_widgets import Explorer
from provena_widgets.provena import LoginFailed
from provena_widgets.sandbox.provena_standin import ProvenaStandIn
from provena_widgets.sandbox.s3server import LocalS3Server


def test_log_in_generate_and_upload_from_the_explorer(
    provena: ProvenaStandIn, s3_server: LocalS3Server, tmp_path: Path
) -> None:
    explorer = Explorer(provena=provena.config, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    login_panel = explorer.credentials_panel.provena
    assert login_panel is not None
    assert login_panel.read_button.disabled and login_panel.write_button.disabled  # not logged in yet

    login_panel.login_button.click()
    login_panel.wait()
    login = login_panel.login
    assert login is not None and login.verification_uri_complete in login_panel.login_status.value
    assert login.user_code in login_panel.login_status.value
    approve_in_browser(login, "alice")
    login.wait(30)
    assert "alice" in login_panel.login_status.value and not login_panel.write_button.disabled

    login_panel.handle.value = LOCKED
    login_panel.wait()
    assert "Locked survey" in login_panel.dataset_name.value
    assert login_panel.write_button.disabled and "locked" in login_panel.write_reason.value

    login_panel.handle.value = SAMPLE
    login_panel.wait()
    assert not login_panel.write_button.disabled
    login_panel.write_button.click()
    explorer.wait()
    store = explorer.store
    assert store is not None and store.renews and store.location.prefix == "datasets/10378-1-1234567/"
    assert "renewed automatically" in explorer.credentials_panel.expiry.text
    assert store.credentials.secret_access_key not in all_state(explorer)

    (tmp_path / "result.csv").write_text("a,b\n")
    explorer.transfers.overwrite.value = "overwrite"
    explorer.transfers.choose_local(tmp_path / "result.csv")
    explorer.transfers.upload_button.click()
    explorer.wait()
    assert explorer.transfers.status.level == "ok", explorer.transfers.status.text
    assert "result.csv" in remote_keys(s3_server.admin_client(), store.location)
    assert "result.csv" in [e.name for e in explorer.browser.entries]


def test_login_errors_show_as_one_line(provena: ProvenaStandIn) -> None:
    explorer = Explorer(provena=provena.config)
    login_panel = explorer.credentials_panel.provena
    assert login_panel is not None
    login_panel.login_button.click()
    login_panel.wait()
    assert login_panel.login is not None
    approve_in_browser(login_panel.login, "alice", action="deny")
    with pytest.raises(LoginFailed):
        login_panel.login.wait(30)
    assert login_panel.status.level == "error" and "denied" in login_panel.status.text
    assert login_panel.read_button.disabled and "\n" not in login_panel.status.text
