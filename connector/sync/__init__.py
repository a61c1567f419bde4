"""The sync pipeline's logic: outbox, shared rate limit, recompute-and-push.

Celery tasks in ``tasks/`` only orchestrate and retry; what they run lives here.
"""
