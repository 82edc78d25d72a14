"""Per-user isolation on a real JupyterHub with LocalProcessSpawner: two system users the test creates
(CI runs as root), each server and kernel running as its own user in its own home. After each logs in
to Provena in the Explorer, the token cache is theirs (0600 in a 0700 folder in their home), and the
other user's kernel can read neither that file nor the first kernel's environment."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import browser, expect, user_page  # noqa: F401 (fixtures)
from test_hub import (
    PROXY,
    TEST_ARGS,
    assert_private_cache,
    open_explorer,
    provena_login,
    run_new_cell,
)

from provena_widgets.sandbox.hub import Hub, sandbox_environment
from provena_widgets.sandbox.provena_standin import ProvenaStandIn
from provena_widgets.sandbox.s3server import LocalS3Server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(PROXY is None, reason="configurable-http-proxy not found: hub test skipped"),
    pytest.mark.skipif(os.geteuid() != 0, reason="creating system users needs root (CI runs as root)"),
    pytest.mark.skipif(shutil.which("useradd") is None, reason="useradd not found: cannot create users"),
]
OWN = """import os
from pathlib import Path
cache = Path.home() / ".config/provena-widgets/tokens.json"
print("uid", os.getuid(), "pid", os.getpid(), "reads its own cache:", len(cache.read_bytes()) > 0)"""
OTHERS = """import os
print("uid", os.getuid())
for path in ({cache!r}, "/proc/{pid}/environ"):
    try:
        open(path, "rb").read()
        print("READ", path)
    except OSError as error:
        print(type(error).__name__, path)"""


@pytest.fixture(scope="module")
def shared_python() -> Iterator[str]:
    """A Python the new users can run: this one, or where its folders are closed to them (pyenv
    under /root), a venv of the system's python3 of the same version that reads this venv's packages."""
    if all(path.stat().st_mode & stat.S_IXOTH for path in Path(sys.executable).resolve().parents):
        yield sys.executable
        return
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(f"python{version}", path="/usr/local/bin:/usr/bin:/bin")
    if system is None:
        pytest.skip(f"other users cannot run {sys.executable} and there is no system python{version}")
    shim = Path(tempfile.mkdtemp(prefix="provena-python-"))
    try:
        shim.chmod(0o755)
        subprocess.run([system, "-m", "venv", "--without-pip", str(shim)], check=True, capture_output=True)
        packages = sysconfig.get_paths()["purelib"]
        site = next(shim.glob("lib/python*/site-packages"))
        (site / "this-venv.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
        for folder in ("etc", "share"):  # Jupyter's config (server extensions) and data (Lab, kernels)
            (shim / folder).symlink_to(Path(sys.prefix) / folder)
        yield str(shim / "bin/python")
    finally:
        shutil.rmtree(shim)


@pytest.fixture
def system_users() -> Iterator[dict[str, str]]:
    """Two new system users with homes under a fresh folder: Provena person -> user name."""
    base = Path(tempfile.mkdtemp(prefix="provena-homes-"))
    base.chmod(0o755)  # the users must reach their homes
    names = {person: f"pw{person}{secrets.token_hex(3)}" for person in ("alice", "bob")}
    created: list[str] = []
    try:
        for name in names.values():
            subprocess.run(
                ["useradd", "--create-home", "--base-dir", str(base), "--user-group", "--shell", "/bin/bash",
                 name], check=True, capture_output=True,
            )  # fmt: skip
            created.append(name)
        yield names
    finally:
        failed = [
            n for n in created if subprocess.run(["userdel", "--remove", n], capture_output=True).returncode
        ]
        shutil.rmtree(base, ignore_errors=True)
        assert failed == [], f"userdel failed for {failed}"


@pytest.fixture
def users_hub(
    provena: ProvenaStandIn,
    s3_server: LocalS3Server,
    system_users: dict[str, str],
    shared_python: str,
    tmp_path: Path,
) -> Iterator[Hub]:
    environment = sandbox_environment(provena, s3_server)
    users = tuple(system_users.values())
    with Hub(
        tmp_path / "hub", users, environment, spawner="local", server_args=TEST_ARGS, python=shared_python
    ) as running:
        yield running


@pytest.mark.timeout(600)
def test_a_users_kernel_cannot_read_another_users_provena_login(
    users_hub: Hub,
    system_users: dict[str, str],
    browser: Any,  # noqa: F811
) -> None:
    accounts = {person: pwd.getpwnam(name) for person, name in system_users.items()}
    with user_page(browser) as alice, user_page(browser) as bob:
        pages = {"alice": alice, "bob": bob}
        for person, page in pages.items():
            provena_login(page, open_explorer(page, users_hub, system_users[person]), person)
        for account in accounts.values():
            assert_private_cache(Path(account.pw_dir), account.pw_uid)

        own = run_new_cell(alice, OWN)
        expect(own).to_contain_text(f"uid {accounts['alice'].pw_uid} pid", timeout=60_000)
        expect(own).to_contain_text("reads its own cache: True")
        match = re.search(r"pid (\d+)", own.inner_text())
        assert match is not None
        pid = match.group(1)
        assert b"JUPYTERHUB_API_TOKEN=" in Path(f"/proc/{pid}/environ").read_bytes()  # a secret is there

        cache = Path(accounts["alice"].pw_dir) / ".config/provena-widgets/tokens.json"
        others = run_new_cell(bob, OTHERS.format(cache=str(cache), pid=pid))
        expect(others).to_contain_text(f"uid {accounts['bob'].pw_uid}", timeout=60_000)
        expect(others).to_contain_text(f"PermissionError {cache}")
        expect(others).to_contain_text(f"PermissionError /proc/{pid}/environ")
        expect(others).not_to_contain_text("READ")
