"""Site-wide settings a hub admin sets once, so that users just run ``Explorer()``.

They come from ``PROVENA_*`` environment variables (JupyterHub's ``c.Spawner.environment``) and
from ``jupyter_provena_config.json`` / ``.py`` in Jupyter's config path (``/etc/jupyter`` among
them: ``{"ProvenaSettings": {"domain": "mds.gbrrestoration.org"}}``); the environment wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from traitlets import TraitError, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

from ..errors import SettingsError
from .client import ProvenaClient
from .config import ProvenaConfig, checked_url, setting

CONFIG_FILE = "jupyter_provena_config"
S3_ENDPOINT_URL, S3_REGION, TOKEN_CACHE = (
    "PROVENA_S3_ENDPOINT_URL",
    "PROVENA_S3_REGION",
    "PROVENA_TOKEN_CACHE",
)
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")
_REGION = re.compile(r"[a-z0-9-]+")


class ProvenaSettings(Configurable):
    """The site settings in a Jupyter config file; each is the environment variable ``PROVENA_<NAME>``."""

    domain = Unicode("", help="The deployment's domain, like mds.gbrrestoration.org.").tag(config=True)
    realm = Unicode("", help="Its Keycloak realm (default rrap).").tag(config=True)
    data_api_url = Unicode("", help="The data store API's URL (overrides the domain's).").tag(config=True)
    realm_url = Unicode("", help="The Keycloak realm's URL (overrides the domain's).").tag(config=True)
    client_id = Unicode("", help="The device login's client id (default client-tools).").tag(config=True)
    offline_client_id = Unicode("", help="The offline token's client id.").tag(config=True)
    s3_endpoint_url = Unicode("", help="The S3 endpoint (unset: AWS S3).").tag(config=True)
    s3_region = Unicode("", help="The S3 region (default ap-southeast-2).").tag(config=True)
    token_cache = Unicode("", help="on, off, or the 0600 refresh-token file's absolute path.").tag(
        config=True
    )


@dataclass(frozen=True)
class SiteSettings:
    """What the site set: its Provena deployment, where its S3 is, and the login's token cache.

    ``token_cache`` is what :class:`ProvenaClient` takes: ``False`` (none, the default), ``True``
    (``~/.config/provena-widgets/tokens.json``) or a file.
    """

    provena: ProvenaConfig | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    token_cache: bool | Path = False

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config_path: Sequence[str] | None = None
    ) -> SiteSettings:
        """The Jupyter config files' settings (``config_path``: default Jupyter's), then the environment's."""
        from_files, origin = read_config_files(jupyter_config_dirs() if config_path is None else config_path)
        env = os.environ if environ is None else environ
        ours = {name: value for name, value in env.items() if name.startswith("PROVENA_") and value.strip()}
        try:
            return cls.from_environment({**from_files, **ours})
        except SettingsError as exc:
            if exc.variable in origin and exc.variable not in ours:
                raise SettingsError(
                    f"{str(exc).rstrip('.')} (from {origin[exc.variable]}).", exc.variable
                ) from None
            raise

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SiteSettings:
        """The settings of the ``PROVENA_*`` variables alone (see :meth:`ProvenaConfig.from_environment`)."""
        env = os.environ if environ is None else environ
        region = setting(env, S3_REGION)
        if region and not _REGION.fullmatch(region):
            raise SettingsError(
                f"{S3_REGION} must be a region name like ap-southeast-2: got {region[:80]!r}.", S3_REGION
            )
        return cls(
            provena=ProvenaConfig.from_environment(env),
            s3_endpoint_url=checked_url(env, S3_ENDPOINT_URL, "http://127.0.0.1:9000") or None,
            s3_region=region or None,
            token_cache=token_cache_setting(setting(env, TOKEN_CACHE)),
        )

    def client(self) -> ProvenaClient | None:
        """A client of the site's deployment with the site's token cache, or ``None`` without one."""
        return None if self.provena is None else ProvenaClient(self.provena, token_cache=self.token_cache)


def token_cache_setting(value: str) -> bool | Path:
    """``PROVENA_TOKEN_CACHE``: on, off (or unset), or an absolute file path (``~`` is the home)."""
    if value.lower() in _ON or value.lower() in _OFF or not value:
        return value.lower() in _ON
    path = Path(value).expanduser()
    if not path.is_absolute() or value.endswith("/") or path.is_dir():
        raise SettingsError(
            f"{TOKEN_CACHE} must be on, off or a file's absolute path like "
            f"~/.config/provena-widgets/tokens.json: got {value[:80]!r}.",
            TOKEN_CACHE,
        )
    return path


def jupyter_config_dirs() -> list[str]:
    """Jupyter's config folders, the most important first (none without ``jupyter_core``)."""
    try:
        from jupyter_core.paths import jupyter_config_path
    except ImportError:
        return []
    return jupyter_config_path()


def read_config_files(dirs: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``PROVENA_*`` values from ``jupyter_provena_config.py`` and ``.json`` in ``dirs`` (the first
    folder wins; in one folder .json over .py), and where each came from."""
    merged, origin = Config(), dict[str, str]()
    known = ProvenaSettings.class_trait_names(config=True)
    for folder in reversed(dirs):
        for suffix, reader in ((".py", PyFileConfigLoader), (".json", JSONFileConfigLoader)):
            path = Path(folder) / f"{CONFIG_FILE}{suffix}"
            try:
                config = reader(path.name, path=folder).load_config()
            except ConfigFileNotFound:
                continue
            except Exception as exc:
                raise SettingsError(f"{path} could not be read: {str(exc)[:200]}", str(path)) from None
            for key in config.ProvenaSettings:
                if key not in known:
                    raise SettingsError(
                        f"ProvenaSettings.{key} in {path} is no setting: use {', '.join(known)}.", str(path)
                    )
                origin[f"PROVENA_{key.upper()}"] = f"ProvenaSettings.{key} in {path}"
            merged.merge(config)
    try:
        settings = ProvenaSettings(config=merged)
    except TraitError as exc:
        raise SettingsError(f'{exc} Write it as text in quotes, like "on".', CONFIG_FILE) from None
    return {f"PROVENA_{key.upper()}": str(getattr(settings, key)) for key in known}, origin
