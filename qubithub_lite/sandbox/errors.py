"""Sandbox exceptions."""


class SandboxUnavailable(RuntimeError):
    """The configured sandbox cannot run jobs; untrusted code must not be executed."""
