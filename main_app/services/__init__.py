"""The main app's plain code: what the views and the recorder do, testable without a request."""
