"""JupyterHub on the sandbox: DummyAuthenticator, a local spawner and configurable-http-proxy (npm).

:class:`Hub` writes the config for its users, puts the Explorer notebook in each home and runs the
hub as a child process; ``stop()`` ends it with the proxy, the users' servers and their kernels.
``scripts/demo --hub`` and the hub tests both use it. Every user's server gets the site settings
(``PROVENA_*``) that point ``Explorer()`` at the sandbox (:func:`sandbox_environment`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..provena.config import DATA_API_URL, REALM_URL
from ..provena.site import S3_ENDPOINT_URL, S3_REGION, TOKEN_CACHE
from .jupyter import write_notebook
from .provena_standin import ProvenaStandIn
from .s3server import LocalS3Server, free_port, stop_process, wait_for_url

NOTEBOOK = "provena-explorer.ipynb"
HUB_CELLS: list[tuple[str, str]] = [
    (
        "markdown",
        "# provena-widgets on JupyterHub\n\nPress **Log in**, open the link and approve as yourself "
        "(on the sandbox's Provena, *alice* may write the sample dataset, *bob* only read it), then "
        "**Generate** credentials. **Upload from this computer** sends files from the computer your "
        "browser runs on; select dataset files and **Download to this computer** to fetch them.",
    ),
    (
        "code",
        "from provena_widgets import Explorer\n\n"
        "# The hub's settings (PROVENA_* in every server's environment) name Provena, S3 and the\n"
        "# login's cache (~/.config/provena-widgets/tokens.json, readable by you only).\n"
        'explorer = Explorer(handle="10378.1/1234567")\n'
        "explorer",
    ),
]
# No news or update toasts over the page.
LAB_SETTINGS = (
    "@jupyterlab/apputils-extension",
    "notification",
    '{"fetchNews": "false", "checkForUpdates": false}',
)


def sandbox_environment(stand_in: ProvenaStandIn, s3: LocalS3Server) -> dict[str, str]:
    """The site settings that point every user's ``Explorer()`` at the sandbox's Provena and S3,
    with the login kept in each user's home."""
    return {
        DATA_API_URL: stand_in.config.data_api_url,
        REALM_URL: stand_in.config.realm_url,
        S3_ENDPOINT_URL: s3.endpoint_url,
        S3_REGION: s3.region,
        TOKEN_CACHE: "on",
    }


@dataclass
class Hub:
    """JupyterHub on 127.0.0.1 for ``users``, its files in ``root`` (homes in ``root/home``).

    ``spawner="simple"`` runs every server as this process's user (any user name works);
    ``"local"`` (LocalProcessSpawner) runs each as the system user of that name, in their home, with
    ``python`` (which those users must be able to run, with this package and Jupyter importable).
    """

    root: Path
    users: tuple[str, ...]
    environment: dict[str, str]
    spawner: Literal["simple", "local"] = "simple"
    port: int = 0
    server_args: tuple[str, ...] = ()
    python: str = sys.executable
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir) if self.spawner == "local" else self.root / "home" / user

    def write_config(self) -> Path:
        """The hub's config file, and each home with the Explorer notebook and quiet Lab settings."""
        proxy = npm_proxy()
        self.port = self.port or free_port()
        settings = {
            "JupyterHub.ip": "127.0.0.1",
            "JupyterHub.port": self.port,
            "JupyterHub.hub_ip": "127.0.0.1",
            "JupyterHub.hub_port": free_port(),
            "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{free_port()}",
            "ConfigurableHTTPProxy.command": [proxy],
            "JupyterHub.db_url": f"sqlite:///{self.root / 'hub.sqlite'}",
            "JupyterHub.cookie_secret_file": str(self.root / "cookie_secret"),
            "JupyterHub.authenticator_class": "dummy",  # any password
            "Authenticator.allowed_users": set(self.users),
            "JupyterHub.spawner_class": "simple" if self.spawner == "simple" else "localprocess",
            "SimpleLocalProcessSpawner.home_dir_template": f"{self.root / 'home'}/{{username}}",
            "Spawner.cmd": [self.python, "-m", "jupyterhub.singleuser"],
            "Spawner.default_url": f"/lab/tree/{NOTEBOOK}",
            "Spawner.args": ["--allow-root", "--LabApp.news_url=None", *self.server_args],
            "Spawner.environment": self.environment,
            "Spawner.http_timeout": 90,
            "Spawner.start_timeout": 120,
            # A server stopped while a kernel starts ignores SIGINT: SIGTERM after 5 s, not 30.
            "LocalProcessSpawner.interrupt_timeout": 5,
            "LocalProcessSpawner.term_timeout": 5,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "jupyterhub_config.py"
        config.write_text("".join(f"c.{name} = {value!r}\n" for name, value in settings.items()))
        for user in self.users:
            self._prepare_home(user)
        return config

    def _prepare_home(self, user: str) -> None:
        home = self.home(user)
        folder, name, text = LAB_SETTINGS
        settings = home / ".jupyter/lab/user-settings" / folder / f"{name}.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(text)
        write_notebook(home / NOTEBOOK, HUB_CELLS)
        if self.spawner == "local":  # the user's own files, as if they had made them
            account = pwd.getpwnam(user)
            for path in [home / NOTEBOOK, *(home / ".jupyter").rglob("*"), home / ".jupyter"]:
                os.chown(path, account.pw_uid, account.pw_gid)

    def start(self, timeout: float = 120) -> Hub:
        """Start the hub (which starts the proxy) and wait until its API answers."""
        config = self.write_config()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        with (self.root / "hub.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=self.root, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        try:
            wait_for_url(f"{self.url}/hub/api", self.process, "jupyterhub", timeout)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}: {self.log_tail()}") from None
        return self

    def log_tail(self, chars: int = 3000) -> str:
        return (self.root / "hub.log").read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM the hub, which stops the users' servers and the proxy; then SIGKILL whatever
        of its process tree is left (the servers and the proxy run in sessions of their own)."""
        if self.process is None:
            return
        tree = descendants(self.process.pid)
        stop_process(self.process, 60)
        tree.update(descendants(*tree))  # and what those started meanwhile
        for pid in still_running(tree):  # what the hub did not stop
            os.kill(pid, signal.SIGKILL)
        self.process = None

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def npm_proxy() -> str:
    """configurable-http-proxy from npm, as real hubs run (the PyPI port of the same name caps
    websocket messages at 10 MiB and buffers whole bodies)."""
    found = shutil.which("configurable-http-proxy")
    if found is None:
        raise RuntimeError("configurable-http-proxy not found: npm install -g configurable-http-proxy")
    with open(found, "rb") as script:
        if b"node" not in script.readline():
            raise RuntimeError(f"{found} is not the npm configurable-http-proxy: npm install -g it")
    return found


def processes() -> dict[int, tuple[int, str]]:
    """Every live process's parent and start time (clock ticks since boot), read from /proc."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] not in "ZX":  # zombies have ended, whether reaped or not
                found[int(entry.name)] = (int(fields[1]), fields[19])
        except (ValueError, OSError, IndexError):
            continue
    return found


def descendants(*pids: int) -> dict[int, str]:
    """The processes below ``pids`` (children, their children, ...) and their start times."""
    table = processes()
    found: dict[int, str] = {}
    frontier = set(pids)
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier and pid not in found}
        found.update((pid, table[pid][1]) for pid in frontier)
    return found


def still_running(tree: dict[int, str]) -> list[int]:
    """The processes of ``tree`` (pid -> start time) still running; a reused pid is another process."""
    table = processes()
    return [pid for pid, started in tree.items() if pid in table and table[pid][1] == started]


def serve_hub(
    stand_in: ProvenaStandIn, s3: LocalS3Server, folder: Path, port: int, users: tuple[str, ...]
) -> None:
    """The demo's hub for ``users`` until Ctrl-C or SIGTERM (which must raise, as the demo's does)."""
    hub = Hub(folder / "hub", users, sandbox_environment(stand_in, s3), port=port)
    try:
        hub.start()
        print(
            f"\nJupyterHub is ready. Open this address in your browser:\n\n    {hub.url}/hub/login\n",
            flush=True,
        )
        print(f"Sign in as {' or '.join(users)} with any password; each user's home holds {NOTEBOOK}.")
        print("In the Explorer, Log in to Provena and approve as the same user. Ctrl-C stops it.", flush=True)
        assert hub.process is not None
        hub.process.wait()
        print(f"jupyterhub exited: {hub.log_tail()}")
    except KeyboardInterrupt:
        print("\nStopping the hub...")
    finally:
        hub.stop()
