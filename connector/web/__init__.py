"""Server-rendered pages for people: the NPS dashboard, the weekly summary, the rating form.

``views`` holds the routes, ``access`` the login by API key and CSRF, ``dashboard`` and
``rating`` what the pages read and store. Chart.js is kept under ``static/vendor``.
"""

from connector.web.views import web_blp

__all__ = ["web_blp"]
