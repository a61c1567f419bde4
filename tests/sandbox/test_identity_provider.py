"""The sandbox as identity provider: Salesforce OpenID Connect and signing in with HubSpot.

Driven by Authlib's OAuth 2.0 / OpenID Connect client (what cx360 signs people in with), as
the vendors document the flows:

- Salesforce: OpenID Connect discovery
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid_discovery_endpoint.htm),
  the web server flow
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm),
  the ID token (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid.htm)
  and the UserInfo endpoint
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_userinfo_endpoint.htm);
  the live discovery document is https://login.salesforce.com/.well-known/openid-configuration.
- HubSpot: the authorization code flow and token endpoint
  (https://developers.hubspot.com/docs/api-reference/auth-oauth-v1/guide) and the token
  metadata call ``GET /oauth/v1/access-tokens/{token}``
  (https://developers.hubspot.com/docs/api-reference/auth-oauth-v1/access-tokens/get-oauth-v1-access-tokens-token).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session

from crm_sandbox import SandboxServer, signin
from tests.sandbox.conftest import ca_session
from tests.signin import pick_user

CALLBACK = "https://cx360.example/login/callback"
ANNA = signin.PEOPLE["salesforce"][0]
EVE = signin.PEOPLE["salesforce"][2]


def choose(sandbox: SandboxServer, url: str, user_id: str) -> dict[str, str]:
    """The query parameters of the redirect back to the app, after picking the user."""
    location = pick_user(url, user_id, sandbox.ca_path)
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def salesforce_client(sandbox: SandboxServer) -> OAuth2Session:
    client = OAuth2Session(
        "sandbox-client", "sandbox-secret", scope="openid email profile",
        redirect_uri=CALLBACK, verify=str(sandbox.ca_path), trust_env=False,
    )  # fmt: skip
    return client


def test_given_discovery_when_read_then_it_names_the_documented_endpoints(sandbox: SandboxServer):
    http = ca_session(sandbox.ca_path)
    metadata = http.get(f"{sandbox.url}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == sandbox.url
    assert metadata["authorization_endpoint"] == f"{sandbox.url}/services/oauth2/authorize"
    assert metadata["token_endpoint"] == f"{sandbox.url}/services/oauth2/token"
    assert metadata["userinfo_endpoint"] == f"{sandbox.url}/services/oauth2/userinfo"
    assert metadata["jwks_uri"] == f"{sandbox.url}/id/keys"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    keys = http.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["kid"]


def test_given_salesforce_user_when_signing_in_then_id_token_and_userinfo_name_user_and_org(
    sandbox: SandboxServer,
):
    client = salesforce_client(sandbox)
    url, state = client.create_authorization_url(
        f"{sandbox.url}/services/oauth2/authorize", nonce="n-0S6_WzA2Mj"
    )
    query = choose(sandbox, url, ANNA.user_id)
    assert query["state"] == state
    token = client.fetch_token(
        f"{sandbox.url}/services/oauth2/token", code=query["code"], timeout=10
    )
    identity = f"{sandbox.url}/id/{signin.SALESFORCE_ORG_ID}/{ANNA.user_id}"
    assert token["id"] == identity and token["instance_url"] == sandbox.url

    jwks = jwt.PyJWKClient(f"{sandbox.url}/id/keys", headers={})
    jwks.fetch_data = lambda: client.get(f"{sandbox.url}/id/keys", timeout=10).json()  # type: ignore[method-assign]
    key = jwks.get_signing_key_from_jwt(token["id_token"])
    claims = jwt.decode(token["id_token"], key.key, algorithms=["RS256"],
                        audience="sandbox-client", issuer=sandbox.url)  # fmt: skip
    assert claims["sub"] == identity
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["email"] == ANNA.email

    info = client.get(f"{sandbox.url}/services/oauth2/userinfo", timeout=10).json()
    assert info["organization_id"] == signin.SALESFORCE_ORG_ID
    assert info["user_id"] == ANNA.user_id and info["email"] == ANNA.email


def test_given_user_of_another_org_when_signing_in_then_userinfo_names_that_org(
    sandbox: SandboxServer,
):
    client = salesforce_client(sandbox)
    url, _ = client.create_authorization_url(f"{sandbox.url}/services/oauth2/authorize")
    query = choose(sandbox, url, EVE.user_id)
    client.fetch_token(f"{sandbox.url}/services/oauth2/token", code=query["code"], timeout=10)
    info = client.get(f"{sandbox.url}/services/oauth2/userinfo", timeout=10).json()
    assert info["organization_id"] == signin.OTHER_SALESFORCE_ORG_ID != signin.SALESFORCE_ORG_ID


def test_given_code_when_used_twice_or_for_another_redirect_then_invalid_grant(
    sandbox: SandboxServer,
):
    client = salesforce_client(sandbox)
    url, _ = client.create_authorization_url(f"{sandbox.url}/services/oauth2/authorize")
    code = choose(sandbox, url, ANNA.user_id)["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": "sandbox-client",
            "client_secret": "sandbox-secret", "redirect_uri": CALLBACK}  # fmt: skip
    token_url, http = f"{sandbox.url}/services/oauth2/token", ca_session(sandbox.ca_path)
    wrong = http.post(token_url, data={**form, "redirect_uri": CALLBACK + "x"}, timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # the refused attempt used the code up (RFC 6749 10.5: a code is for one use)
    again = http.post(token_url, data=form, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_given_unknown_client_id_when_authorizing_then_error_page_not_a_redirect(
    sandbox: SandboxServer,
):
    http = ca_session(sandbox.ca_path)
    reply = http.get(f"{sandbox.url}/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "someone-else", "redirect_uri": CALLBACK,
    }, allow_redirects=False, timeout=10)  # fmt: skip
    assert reply.status_code == 400 and "invalid_client_id" in reply.text


@pytest.mark.parametrize("person", signin.PEOPLE["hubspot"][::2], ids=lambda p: p.email)
def test_given_hubspot_user_when_signing_in_then_token_info_names_user_and_portal(
    sandbox: SandboxServer, person: signin.Person
):
    client = OAuth2Session(
        "sandbox-hubspot-client", "sandbox-hubspot-secret", scope="oauth",
        redirect_uri=CALLBACK, verify=str(sandbox.ca_path), trust_env=False,
        token_endpoint_auth_method="client_secret_post",
    )  # fmt: skip
    url, state = client.create_authorization_url(f"{sandbox.url}/oauth/authorize")
    query = choose(sandbox, url, person.user_id)
    assert query["state"] == state
    token = client.fetch_token(f"{sandbox.url}/oauth/v1/token", code=query["code"], timeout=10)
    assert token["token_type"] == "bearer" and token["expires_in"] > 0 and token["refresh_token"]
    info = client.get(f"{sandbox.url}/oauth/v1/access-tokens/{token['access_token']}",
                      timeout=10).json()  # fmt: skip
    assert info["user"] == person.email
    assert info["hub_id"] == int(person.org)
    assert info["token_type"] == "access" and info["app_id"] == signin.HUBSPOT_APP_ID
    assert set(info) >= {"token", "user", "hub_domain", "scopes", "hub_id", "app_id",
                         "expires_in", "user_id", "token_type"}  # fmt: skip
    unknown = ca_session(sandbox.ca_path).get(
        f"{sandbox.url}/oauth/v1/access-tokens/not-a-token", timeout=10
    )
    assert unknown.status_code == 404
