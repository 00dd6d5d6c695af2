"""Live view: websockify, serving noVNC and routing each viewer to its task's display by token."""
