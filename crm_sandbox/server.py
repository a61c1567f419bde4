"""``SandboxServer``: the sandbox CRM on a local HTTPS port, in a background thread.

Served by cheroot: threaded, and it keeps HTTPS connections alive, so a client pays the TLS
handshake once per connection rather than once per request (werkzeug's development server
closes every connection).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cheroot import errors, wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.workers import threadpool

from crm_sandbox import signin
from crm_sandbox.admin import SandboxAdmin
from crm_sandbox.app import SandboxApp
from crm_sandbox.certs import ensure_certificates
from crm_sandbox.control import Controls, Credentials, Limits
from crm_sandbox.state import SandboxState

CRM_CHOICES = ("both", "hubspot", "salesforce")
DEFAULT_STATE_DIR = Path("instance/sandbox")


@dataclass(frozen=True)
class HubSpotLimits:
    """Rolling 10-second and daily request limits; None leaves a limit off."""

    ten_second: int | None = None
    daily: int | None = None


LOG = logging.getLogger("cx360.sandbox")


#: How long stop() waits for requests in flight (e.g. one slowed by a latency fault).
STOP_WAIT_SECONDS = 2.0


class _StoppableTLS(BuiltinSSLAdapter):
    """cheroot's TLS adapter, with handshakes that stop() cuts short.

    cheroot runs each new connection's TLS handshake on the one thread that accepts
    connections, under the connection timeout (10 s), and its stop() waits for that thread.
    A client that had connected but not finished its handshake (slow on a loaded machine, or
    silent) so held Ctrl+C for 10 s. Once stopping, pending handshakes are shut down and new
    ones refused: each fails at once, and the accepting thread sees the stop.
    """

    def __init__(self, certificate: str, private_key: str, certificate_chain: str) -> None:
        super().__init__(certificate, private_key, certificate_chain)
        self._lock = threading.Lock()
        self._handshaking: set[int] = set()  # descriptors: wrapping detaches the socket object
        self._stopping = False

    def wrap(self, sock: socket.socket) -> Any:
        descriptor = sock.fileno()
        with self._lock:
            if self._stopping:
                _shut(descriptor)
                raise errors.FatalSSLAlert("the sandbox is stopping")
            self._handshaking.add(descriptor)
        try:
            return super().wrap(sock)
        finally:
            with self._lock:
                self._handshaking.discard(descriptor)

    def stop_handshakes(self) -> None:
        with self._lock:  # held: a descriptor in the set is still the handshaking socket's
            self._stopping = True
            for descriptor in self._handshaking:
                _shut(descriptor)


def _shut(descriptor: int) -> None:
    """Shut the connection down in both directions (through a duplicate of its descriptor:
    shutting down acts on the connection, and closing the duplicate leaves the original)."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(descriptor)) as duplicate:
        duplicate.shutdown(socket.SHUT_RDWR)


class _DaemonThreadPool(threadpool.ThreadPool):
    """cheroot's request threads as daemon threads: a request still running when the
    sandbox stops (a latency fault, a client sending slowly) never keeps the process alive."""

    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)
        worker.name = f"cx360-sandbox {worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class _Server(wsgi.Server):
    """cheroot's server, logging through ``logging`` instead of writing to stderr (a client
    that drops a kept-alive connection mid-reply is routine, not worth a traceback), and
    stopping promptly: pending TLS handshakes are cut short, kept-alive connections closed,
    requests in flight given ``STOP_WAIT_SECONDS``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests = _DaemonThreadPool(self, min=self.requests.min, max=self.requests.max)

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        LOG.log(
            logging.DEBUG if level < logging.ERROR else logging.WARNING,
            "%s",
            msg,
            exc_info=traceback,
        )

    def stop(self) -> None:
        if isinstance(self.ssl_adapter, _StoppableTLS):
            self.ssl_adapter.stop_handshakes()
        stopping = threading.Thread(target=super().stop, name="cx360-sandbox-stop", daemon=True)
        stopping.start()
        stopping.join(STOP_WAIT_SECONDS)
        if stopping.is_alive():
            LOG.warning("sandbox stopped with requests still running; not waiting for them")


class SandboxServer:
    """The sandbox CRM. Use as a context manager or with ``start()`` / ``stop()``.

    ``state_dir`` holds the generated CA (reused across runs) and server certificate;
    ``state_file``, when given, is loaded at start (if it exists) and saved at stop.
    """

    def __init__(
        self,
        crm: str = "both",
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        seed: bool = True,
        state_file: Path | str | None = None,
        hubspot_limits: HubSpotLimits | dict[str, int | None] | None = None,
        salesforce_daily_limit: int = 15_000,
        credentials: Credentials | None = None,
        jwt_public_key: str | None = None,
        fault_seed: int = 360,
        threads: int = 16,
    ) -> None:
        if crm not in CRM_CHOICES:
            raise ValueError(f"crm must be one of {', '.join(CRM_CHOICES)}, not {crm!r}")
        self.crm, self.host, self._requested_port = crm, host, port
        self.state_dir = Path(state_dir)
        self.seed = seed
        self.state_file = Path(state_file) if state_file is not None else None
        if isinstance(hubspot_limits, dict):
            hubspot_limits = HubSpotLimits(**hubspot_limits)
        limits = hubspot_limits or HubSpotLimits()
        credentials = credentials or Credentials()
        if jwt_public_key:
            credentials.salesforce_jwt_public_key = jwt_public_key
        self.controls = Controls(
            Limits(
                hubspot_ten_second=limits.ten_second,
                hubspot_daily=limits.daily,
                salesforce_daily=salesforce_daily_limit,
            ),
            credentials,
            seed=fault_seed,
        )
        self.state = SandboxState(self.controls)
        self.threads = threads
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self._admin: SandboxAdmin | None = None
        self.ca_path = self.state_dir / "sandbox-ca.pem"
        self.port = port

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        paths = ensure_certificates(self.state_dir)
        self.ca_path = paths.ca_cert.resolve()
        if self.state_file is not None and self.state_file.is_file():
            self.state.load(self.state_file)
        else:
            self.state.reset(seed=self.seed)
        app = SandboxApp(self.state, self.crm, self.info, self.state_file)
        server = _Server(
            (self.host, self._requested_port),
            app,
            numthreads=self.threads,
            server_name="cx360-sandbox",
            request_queue_size=64,
            shutdown_timeout=1,
        )
        server.ssl_adapter = _StoppableTLS(
            str(paths.server_cert), str(paths.server_key), str(paths.server_cert)
        )
        server.prepare()
        self._server = server
        self.port = int(server.bind_addr[1])
        self._thread = threading.Thread(target=server.serve, name="cx360-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_SECONDS)
        self._server = self._thread = None
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.state_file is not None:
            self.state.save(self.state_file)

    def serve_forever(self) -> None:
        """Block until interrupted (for ``cx360 sandbox``)."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --------------------------------------------------------------------- URLs
    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "localhost") else self.host
        return f"https://{host}:{self.port}"

    @property
    def salesforce_instance_url(self) -> str:
        return self.url

    @property
    def salesforce_token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    @property
    def hubspot_base_url(self) -> str:
        return self.url

    @property
    def admin(self) -> SandboxAdmin:
        if self._admin is None:
            self._admin = SandboxAdmin(self.url, self.ca_path)
        return self._admin

    def info(self) -> dict[str, Any]:
        creds = self.controls.credentials
        return {
            "url": self.url,
            "crm": self.crm,
            "ca_path": str(self.ca_path),
            "state_file": str(self.state_file) if self.state_file else None,
            "hubspot_base_url": self.hubspot_base_url,
            "hubspot_access_token": creds.hubspot_access_token,
            "hubspot_client_id": creds.hubspot_client_id,
            "hubspot_client_secret": creds.hubspot_client_secret,
            "hubspot_refresh_token": creds.hubspot_refresh_token,
            "salesforce_instance_url": self.salesforce_instance_url,
            "salesforce_token_url": self.salesforce_token_url,
            "salesforce_client_id": creds.salesforce_client_id,
            "salesforce_client_secret": creds.salesforce_client_secret,
            "salesforce_username": creds.salesforce_username,
        }

    def sign_in_settings(self) -> dict[str, str]:
        """Settings that let people sign in to cx360's pages with this sandbox's users
        (``crm_sandbox/signin.py``): Salesforce OpenID Connect and/or signing in with HubSpot,
        users of the sandbox's org/portal allowed."""
        info, settings = self.info(), {"CX360_CRM_CA_BUNDLE": str(self.ca_path)}
        providers = []
        if self.crm in ("both", "salesforce"):
            providers.append("salesforce")
            settings.update(
                CX360_SSO_SALESFORCE_LOGIN_URL=self.url,
                CX360_SSO_SALESFORCE_CLIENT_ID=info["salesforce_client_id"],
                CX360_SSO_SALESFORCE_CLIENT_SECRET=info["salesforce_client_secret"],
                CX360_SSO_SALESFORCE_ORG_ID=signin.SALESFORCE_ORG_ID,
            )
        if self.crm in ("both", "hubspot"):
            providers.append("hubspot")
            settings.update(
                HUBSPOT_BASE_URL=self.hubspot_base_url,
                CX360_SSO_HUBSPOT_AUTHORIZE_URL=f"{self.url}/oauth/authorize",
                CX360_SSO_HUBSPOT_CLIENT_ID=info["hubspot_client_id"],
                CX360_SSO_HUBSPOT_CLIENT_SECRET=info["hubspot_client_secret"],
                CX360_SSO_HUBSPOT_PORTAL_ID=str(signin.HUBSPOT_PORTAL_ID),
            )
        settings["CX360_SSO_PROVIDERS"] = ",".join(providers)
        return settings

    def client_settings(self) -> dict[str, str]:
        """Environment settings that point cx360 at this sandbox."""
        info = self.info()
        settings = {"CX360_CRM_CA_BUNDLE": info["ca_path"]}
        if self.crm in ("both", "hubspot"):
            settings.update(
                HUBSPOT_BASE_URL=info["hubspot_base_url"],
                HUBSPOT_ACCESS_TOKEN=info["hubspot_access_token"],
            )
        if self.crm in ("both", "salesforce"):
            settings.update(
                SALESFORCE_INSTANCE_URL=info["salesforce_instance_url"],
                SALESFORCE_TOKEN_URL=info["salesforce_token_url"],
                SALESFORCE_AUTH="client_credentials",
                SALESFORCE_CLIENT_ID=info["salesforce_client_id"],
                SALESFORCE_CLIENT_SECRET=info["salesforce_client_secret"],
            )
        return settings
