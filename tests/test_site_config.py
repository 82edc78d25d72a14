"""Site-wide settings: PROVENA_* variables and jupyter_provena_config files, and Explorer() using them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import SAMPLE, approve_in_browser
from test_widgets import all_state

from provena_widgets import Explorer, ProvenaWidgetsError, SettingsError
from provena_widgets.provena import ProvenaConfig
from provena_widgets.provena.site import SiteSettings
from provena_widgets.sandbox.provena_standin import ProvenaStandIn
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.widgets import CredentialPanel

API, REALM = "https://data-api.example.org", "https://auth.example.org/auth/realms/rrap"


@pytest.fixture(autouse=True)
def _no_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PROVENA_* variable from the machine; Jupyter's config path starts in the test's folders."""
    for name in list(os.environ):
        if name.startswith("PROVENA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "user-jupyter"))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / "etc-jupyter"))


def write_config(folder: Path, settings: dict[str, object], kind: str = "json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"jupyter_provena_config.{kind}"
    if kind == "json":
        path.write_text(json.dumps({"ProvenaSettings": settings}))
    else:
        path.write_text("".join(f"c.ProvenaSettings.{key} = {value!r}\n" for key, value in settings.items()))
    return path


# -- the environment ----------------------------------------------------------------------


def test_nothing_set_is_no_site() -> None:
    assert ProvenaConfig.from_environment() is None
    assert SiteSettings.from_environment({"PROVENA_DOMAIN": "  ", "OTHER": "x"}) == SiteSettings()
    assert SiteSettings.load() == SiteSettings()


def test_domain_derives_the_urls_and_realm_defaults_to_rrap() -> None:
    config = ProvenaConfig.from_environment({"PROVENA_DOMAIN": "mds.gbrrestoration.org"})
    assert config == ProvenaConfig.for_domain("mds.gbrrestoration.org", realm="rrap")
    assert config is not None and config.realm_url == "https://auth.mds.gbrrestoration.org/auth/realms/rrap"
    other = ProvenaConfig.from_environment(
        {"PROVENA_DOMAIN": "https://example.org/", "PROVENA_REALM": "test"}
    )
    assert other is not None and other.data_api_url == "https://data-api.example.org"
    assert other.realm_url == "https://auth.example.org/auth/realms/test"


def test_explicit_urls_override_the_domain_and_client_ids_are_kept() -> None:
    both = ProvenaConfig.from_environment({"PROVENA_DATA_API_URL": API + "/", "PROVENA_REALM_URL": REALM})
    assert both == ProvenaConfig(API, REALM)
    mixed = ProvenaConfig.from_environment(
        {
            "PROVENA_DOMAIN": "mds.gbrrestoration.org",
            "PROVENA_DATA_API_URL": "http://127.0.0.1:8000",
            "PROVENA_CLIENT_ID": "my-tools",
            "PROVENA_OFFLINE_CLIENT_ID": "my-robot",
        }
    )
    assert mixed == ProvenaConfig(
        "http://127.0.0.1:8000",
        "https://auth.mds.gbrrestoration.org/auth/realms/rrap",
        client_id="my-tools",
        offline_client_id="my-robot",
    )


def test_s3_and_token_cache_settings(tmp_path: Path) -> None:
    site = SiteSettings.from_environment(
        {
            "PROVENA_DOMAIN": "mds.gbrrestoration.org",
            "PROVENA_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "PROVENA_S3_REGION": "us-east-1",
            "PROVENA_TOKEN_CACHE": "ON",
        }
    )
    assert site.s3_endpoint_url == "http://127.0.0.1:9000" and site.s3_region == "us-east-1"
    assert site.token_cache is True
    assert SiteSettings.from_environment({"PROVENA_S3_ENDPOINT_URL": "http://s3.local"}).provena is None
    assert SiteSettings.from_environment({"PROVENA_TOKEN_CACHE": "off"}).token_cache is False
    assert SiteSettings.from_environment({"PROVENA_TOKEN_CACHE": str(tmp_path / "t.json")}).token_cache == (
        tmp_path / "t.json"
    )
    in_home = SiteSettings.from_environment({"PROVENA_TOKEN_CACHE": "~/.provena/tokens.json"}).token_cache
    assert in_home == Path.home() / ".provena" / "tokens.json"


@pytest.mark.parametrize(
    ("environ", "variable", "says"),
    [
        (
            {"PROVENA_DATA_API_URL": "data-api.example.org", "PROVENA_REALM_URL": REALM},
            "PROVENA_DATA_API_URL",
            "https://",
        ),
        ({"PROVENA_DATA_API_URL": API}, "PROVENA_DATA_API_URL", "without PROVENA_REALM_URL"),
        ({"PROVENA_REALM_URL": REALM}, "PROVENA_REALM_URL", "without PROVENA_DATA_API_URL"),
        ({"PROVENA_DOMAIN": "http://example.org/x"}, "PROVENA_DOMAIN", "domain name"),
        ({"PROVENA_DOMAIN": "example.org", "PROVENA_REALM": "my realm"}, "PROVENA_REALM", "one word"),
        ({"PROVENA_REALM": "rrap"}, "PROVENA_REALM", "PROVENA_DOMAIN"),
        ({"PROVENA_S3_ENDPOINT_URL": "127.0.0.1:9000"}, "PROVENA_S3_ENDPOINT_URL", "https://"),
        ({"PROVENA_S3_REGION": "Sydney"}, "PROVENA_S3_REGION", "ap-southeast-2"),
        ({"PROVENA_TOKEN_CACHE": "tokens.json"}, "PROVENA_TOKEN_CACHE", "absolute path"),
        ({"PROVENA_TOKEN_CACHE": "/tmp"}, "PROVENA_TOKEN_CACHE", "absolute path"),
    ],
)
def test_bad_values_name_their_variable_in_one_line(
    environ: dict[str, str], variable: str, says: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        SiteSettings.from_environment(environ)
    error = caught.value
    assert isinstance(error, ProvenaWidgetsError) and isinstance(error, ValueError)
    assert error.variable == variable and variable in str(error) and says in str(error)
    assert "\n" not in str(error)


# -- the Jupyter config file --------------------------------------------------------------


def test_jupyter_config_files_json_and_py(tmp_path: Path) -> None:
    write_config(tmp_path / "etc-jupyter", {"domain": "example.org", "s3_region": "us-west-2"}, "py")
    site = SiteSettings.load()  # found through JUPYTER_CONFIG_PATH, as /etc/jupyter would be
    assert site.provena == ProvenaConfig.for_domain("example.org") and site.s3_region == "us-west-2"
    write_config(tmp_path / "etc-jupyter", {"domain": "json.example.org", "token_cache": "on"})
    site = SiteSettings.load()  # in one folder, .json over .py, setting by setting
    assert site.provena == ProvenaConfig.for_domain("json.example.org") and site.token_cache is True
    assert site.s3_region == "us-west-2"


def test_precedence_first_folder_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    high, low = tmp_path / "high", tmp_path / "low"
    write_config(high, {"realm": "test"})
    write_config(low, {"domain": "example.org", "realm": "other", "token_cache": "on"})
    site = SiteSettings.load(config_path=[str(high), str(low)])
    assert site.provena is not None and site.provena.realm_url == "https://auth.example.org/auth/realms/test"
    assert site.token_cache is True
    monkeypatch.setenv("PROVENA_TOKEN_CACHE", "off")
    monkeypatch.setenv("PROVENA_DATA_API_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("PROVENA_REALM", "  ")  # empty: the files' value stands
    site = SiteSettings.load(config_path=[str(high), str(low)])
    assert site.token_cache is False and site.provena is not None
    assert site.provena.data_api_url == "http://127.0.0.1:8000" and site.provena.realm_url.endswith("/test")


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"domain": "http://example.org/"}, "ProvenaSettings.domain in"),
        ({"domian": "example.org"}, "ProvenaSettings.domian in"),
        ({"domain": "example.org", "token_cache": True}, 'like "on"'),
    ],
)
def test_bad_config_files_say_what_and_where(tmp_path: Path, settings: dict[str, object], says: str) -> None:
    path = write_config(tmp_path / "etc-jupyter", settings)
    with pytest.raises(SettingsError) as caught:
        SiteSettings.load()
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert str(path) in str(caught.value) or "token_cache" in str(caught.value)
    path.write_text('{"ProvenaSettings": {')
    with pytest.raises(SettingsError, match="could not be read"):
        SiteSettings.load()


# -- the widgets --------------------------------------------------------------------------


def test_a_bad_setting_shows_one_line_and_keys_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVENA_DATA_API_URL", API)
    panel = CredentialPanel()
    assert panel.status.level == "error" and "PROVENA_REALM_URL" in panel.status.text
    assert "Traceback" not in all_state(panel) and panel.provena is None
    assert panel.region.value == "ap-southeast-2" and panel.endpoint.value == ""


def test_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVENA_DOMAIN", "example.org")
    monkeypatch.setenv("PROVENA_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("PROVENA_S3_REGION", "us-east-1")
    mine = ProvenaConfig(API, REALM)
    panel = CredentialPanel(endpoint_url="http://127.0.0.1:9999", region="us-west-2", provena=mine)
    assert panel.provena is not None and panel.provena.client.config == mine
    assert (panel.endpoint.value, panel.region.value) == ("http://127.0.0.1:9999", "us-west-2")
    site = CredentialPanel()
    assert site.provena is not None and site.provena.client.config == ProvenaConfig.for_domain("example.org")
    assert (site.endpoint.value, site.region.value) == ("http://127.0.0.1:9000", "us-east-1")
    assert panel.status.level == site.status.level == "info"


def test_explorer_from_site_settings_alone(
    provena: ProvenaStandIn, s3_server: LocalS3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub's user: the env points at Provena and S3, Explorer() logs in and lists the dataset."""
    cache = tmp_path / "home" / ".config" / "provena-widgets" / "tokens.json"
    for name, value in {
        "PROVENA_DATA_API_URL": provena.config.data_api_url,
        "PROVENA_REALM_URL": provena.config.realm_url,
        "PROVENA_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "PROVENA_S3_REGION": s3_server.region,
        "PROVENA_TOKEN_CACHE": str(cache),
    }.items():
        monkeypatch.setenv(name, value)
    dataset = provena.datasets[SAMPLE]
    s3_server.admin_client().put_object(Bucket=dataset.bucket, Key=dataset.path + "reef.csv", Body=b"a,b\n")

    explorer = Explorer(local_path=tmp_path)
    panel = explorer.credentials_panel
    login_panel = panel.provena
    assert login_panel is not None and panel.modes.get_title(panel.modes.selected_index) == "Provena login"
    assert panel.endpoint.value == s3_server.endpoint_url and panel.region.value == s3_server.region
    login_panel.wait()
    assert not login_panel.client.logged_in and not cache.exists()  # nothing kept yet

    login_panel.login_button.click()
    login_panel.wait()
    assert login_panel.login is not None
    approve_in_browser(login_panel.login, "alice")
    login_panel.login.wait(30)
    login_panel.handle.value = SAMPLE
    login_panel.wait()
    login_panel.read_button.click()
    explorer.wait()
    store = explorer.store
    assert store is not None and store.endpoint_url == s3_server.endpoint_url, panel.status.text
    assert "reef.csv" in [entry.name for entry in explorer.browser.entries]

    assert stat.S_IMODE(cache.stat().st_mode) == 0o600 and stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    refresh = json.loads(cache.read_text())[provena.config.realm_url]["refresh_token"]
    access = login_panel.client.access_token()
    credentials = store.credentials
    shown = [all_state(explorer), repr(explorer), repr(panel.site), repr(login_panel.client), repr(store)]
    for secret in (refresh, access, credentials.secret_access_key, credentials.session_token or "?"):
        assert not any(secret in text for text in shown)

    again = Explorer(local_path=tmp_path)  # a restarted kernel: the login comes back from the cache
    resumed = again.credentials_panel.provena
    assert resumed is not None
    resumed.wait()
    assert resumed.client.username == "alice" and "kept" in resumed.status.text
    assert not resumed.read_button.disabled
