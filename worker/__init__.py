"""Pilothouse worker: runs task specs in a real Chromium.

Nothing here imports from the main app; the main app imports only ``worker.spec``.
"""
