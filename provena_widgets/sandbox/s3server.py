"""A real S3-compatible server on 127.0.0.1 (moto's server mode) that checks credentials.

It runs in auth mode: signatures, session tokens and IAM policies are enforced, on presigned URLs
too (:mod:`.moto_presigned`), and dataset credentials are minted through its STS from roles limited
to one dataset folder with exactly the permissions Provena's session policy grants. Used by the
demo and the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3

from ..credentials import Credentials

REGION = "ap-southeast-2"
ACCOUNT = "123456789012"
_BOOTSTRAP_CALLS = 3  # create_user, create_access_key, put_user_policy run before auth is on

READ_ACTIONS = ["s3:GetObject*"]
WRITE_ACTIONS = [
    "s3:GetObject*",
    "s3:PutObject",
    "s3:DeleteObject*",
    "s3:PutObjectTagging",
    "s3:Abort*",
]
LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} after {timeout:.0f} s")


def wait_for_url(url: str, process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    """Poll ``url`` until it answers; RuntimeError if ``process`` (``name``) exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not start in {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM ``process``, and SIGKILL it if it has not ended after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class LocalS3Server:
    """moto's S3/STS/IAM server as a subprocess, with an admin user and per-dataset roles."""

    auth: bool = True
    region: str = REGION
    port: int = 0
    admin: Credentials | None = None
    _process: subprocess.Popen[bytes] | None = None
    _log: Any = None
    _roles: dict[tuple[str, str, bool], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempts: int = 3) -> LocalS3Server:
        for attempt in range(attempts):
            try:
                self._launch()
                return self
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self

    def _launch(self) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_BOOTSTRAP_CALLS)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.moto_presigned", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self._process)
        self._bootstrap_admin()

    def _bootstrap_admin(self) -> None:
        iam = self._client("iam", Credentials("AKIABOOTSTRAPBOOTSTR", "bootstrap-secret-0000"))
        iam.create_user(UserName="sandbox-admin")
        key = iam.create_access_key(UserName="sandbox-admin")["AccessKey"]
        iam.put_user_policy(
            UserName="sandbox-admin",
            PolicyName="everything",
            PolicyDocument=_policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
        )
        self.admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, 10)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _client(self, service: str, credentials: Credentials | None = None) -> Any:
        creds = credentials or self.admin
        assert creds is not None, "start() the server first"
        return boto3.session.Session(region_name=self.region, **creds.boto_kwargs()).client(
            service, endpoint_url=self.endpoint_url
        )

    def admin_client(self, service: str = "s3") -> Any:
        """A client with the admin's keys: for setting up and inspecting, not for the product."""
        return self._client(service)

    def create_bucket(self, bucket: str) -> None:
        s3 = self.admin_client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})

    def dataset_credentials(
        self,
        bucket: str,
        prefix: str,
        *,
        write: bool = True,
        duration: timedelta = timedelta(hours=8),
        session_name: str = "provena-user",
    ) -> Credentials:
        """Real STS session credentials limited to ``bucket/prefix`` as Provena's policy is."""
        role = self.role_for(bucket, prefix, write)
        response = self.admin_client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
            RoleSessionName=session_name,
            DurationSeconds=max(900, int(duration.total_seconds())),
        )["Credentials"]
        return Credentials(
            response["AccessKeyId"],
            response["SecretAccessKey"],
            response["SessionToken"],
            response["Expiration"],
        )

    def role_for(self, bucket: str, prefix: str, write: bool) -> str:
        """The IAM role whose sessions reach ``bucket/prefix`` as Provena's policy allows (created once)."""
        with self._lock:
            name = self._roles.get((bucket, prefix, write))
            if name is not None:
                return name
            name = f"dataset-{'write' if write else 'read'}-{len(self._roles) + 1}"
            iam = self.admin_client("iam")
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=_policy(
                    [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]
                ),
            )
            iam.put_role_policy(
                RoleName=name,
                PolicyName="dataset-access",
                PolicyDocument=_policy(
                    [
                        {
                            "Effect": "Allow",
                            "Action": WRITE_ACTIONS if write else READ_ACTIONS,
                            "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
                        },
                        {
                            "Effect": "Allow",
                            "Action": LIST_ACTIONS,
                            "Resource": f"arn:aws:s3:::{bucket}",
                        },
                    ]
                ),
            )
            self._roles[(bucket, prefix, write)] = name
            return name


def _policy(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
