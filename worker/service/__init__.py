"""The worker service's plain code: what the Celery task does, testable without Celery."""
