"""Survey-tool webhooks: signature schemes (``signatures``), payload mapping (``providers``)
and the Flask blueprint (``views.webhooks_blp``).

The package import stays light so the pure parts load without the web app.
"""
