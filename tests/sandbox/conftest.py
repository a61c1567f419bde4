"""One sandbox for the whole session, reset before each test; real clients pointed at it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hubspot import HubSpot
from simple_salesforce import Salesforce

from crm_sandbox import SandboxServer


@pytest.fixture(scope="session")
def jwt_keypair() -> tuple[str, str]:
    """(private key PEM, certificate PEM) of a connected app's JWT signing certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cx360 test connected app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return private, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def sandbox_server(
    tmp_path_factory: pytest.TempPathFactory, jwt_keypair: tuple[str, str]
) -> Iterator[SandboxServer]:
    server = SandboxServer(
        state_dir=tmp_path_factory.mktemp("sandbox-state"), jwt_public_key=jwt_keypair[1]
    )
    with server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox with seed data, no faults, no usage and zero counts."""
    sandbox_server.admin.reset()
    return sandbox_server


def ca_session(ca_path: Path) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca_path)
    # with trust_env, REQUESTS_CA_BUNDLE from the environment would replace ``verify``
    session.trust_env = False
    return session


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    """Raw HTTPS, only for what the client libraries have no helper for (token endpoints)."""
    session = ca_session(sandbox.ca_path)
    yield session
    session.close()


def salesforce_token(sandbox: SandboxServer, session: requests.Session) -> str:
    reply = session.post(
        sandbox.salesforce_token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
        },
        timeout=10,
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


@pytest.fixture
def sf(sandbox: SandboxServer, http: requests.Session) -> Salesforce:
    return Salesforce(
        instance_url=sandbox.salesforce_instance_url,
        session_id=salesforce_token(sandbox, http),
        session=http,
    )


@pytest.fixture
def hs(sandbox: SandboxServer) -> HubSpot:
    return HubSpot(
        access_token="sandbox-hubspot-token", host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path)
    )
