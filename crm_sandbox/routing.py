"""How a module of a CRM surface declares the requests it answers.

Each module of one API surface (Salesforce's Bulk API 2.0, HubSpot's property API, ...) makes
one ``Routes`` and marks its handlers with the paths they serve::

    routes = Routes()

    @routes.post(f"{API}/jobs/ingest", "bulk2.create_job")
    def create_job(call: Call) -> Reply: ...

The CRM's ``surface.py`` lists those modules in one place and builds one ``Router`` from them.
A handler takes the CRM's ``Call`` and the path's variables as keyword arguments. The endpoint
name is what the sandbox's stats count the call as (``GET /__sandbox__/stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from crm_sandbox.replies import Reply

Handler = TypeVar("Handler", bound=Callable[..., Reply])


@dataclass(frozen=True)
class Route:
    path: str
    methods: tuple[str, ...]
    endpoint: str
    handler: Callable[..., Reply]
    writes: bool = False  # a record write: the lock_row_burst fault may refuse it
    public: bool = False  # answers without a session (token endpoints): no auth, no API limit


class Routes:
    """The routes of one module; decorate each handler with the path(s) it answers."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        path: str,
        methods: Iterable[str],
        endpoint: str,
        *,
        writes: bool = False,
        public: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(path, tuple(methods), endpoint, handler, writes, public))
            return handler

        return register

    def get(self, path: str, endpoint: str, **flags: bool) -> Callable[[Handler], Handler]:
        return self.add(path, ("GET",), endpoint, **flags)

    def post(self, path: str, endpoint: str, **flags: bool) -> Callable[[Handler], Handler]:
        return self.add(path, ("POST",), endpoint, **flags)

    def put(self, path: str, endpoint: str, **flags: bool) -> Callable[[Handler], Handler]:
        return self.add(path, ("PUT",), endpoint, **flags)

    def patch(self, path: str, endpoint: str, **flags: bool) -> Callable[[Handler], Handler]:
        return self.add(path, ("PATCH",), endpoint, **flags)

    def delete(self, path: str, endpoint: str, **flags: bool) -> Callable[[Handler], Handler]:
        return self.add(path, ("DELETE",), endpoint, **flags)


class Router:
    """One CRM's URL map, built from the routes of its modules."""

    def __init__(self, modules: Iterable[Routes]) -> None:
        self.by_endpoint: dict[str, Route] = {}
        rules = []
        for module in modules:
            for route in module.routes:
                known = self.by_endpoint.setdefault(route.endpoint, route)
                if (known.handler, known.writes, known.public) != (
                    route.handler,
                    route.writes,
                    route.public,
                ):
                    raise ValueError(f"endpoint {route.endpoint!r} is declared twice, differently")
                rules.append(Rule(route.path, endpoint=route.endpoint, methods=list(route.methods)))
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)

    def match(self, request: Request) -> tuple[Route, dict[str, Any]]:
        """The route and path variables; werkzeug's NotFound or MethodNotAllowed otherwise."""
        endpoint, args = self.url_map.bind_to_environ(request.environ).match()
        return self.by_endpoint[endpoint], dict(args)
