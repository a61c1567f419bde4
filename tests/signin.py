"""What a person's browser does on the sandbox's sign-in page (``crm_sandbox/signin.py``)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from tests.sandbox.conftest import ca_session

_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def pick_user(authorization_url: str, user_id: str, ca_path: Path) -> str:
    """Open the provider's authorization URL, pick ``user_id`` on the sandbox's page; the URL
    the provider redirects the browser back to (the app's callback with code and state)."""
    session = ca_session(ca_path)
    page = session.get(authorization_url, timeout=10)
    assert page.status_code == 200, page.text
    assert user_id in page.text
    action = _ACTION.search(page.text)
    assert action
    base = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    reply = session.post(base + action.group(1),
                         data={**dict(_HIDDEN.findall(page.text)), "user_id": user_id},
                         allow_redirects=False, timeout=10)  # fmt: skip
    assert reply.status_code == 302, reply.text
    return str(reply.headers["Location"])
