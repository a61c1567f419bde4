"""Celery app and tasks: orchestration and retries only (the logic is in connector/)."""
