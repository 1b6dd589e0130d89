"""Exceptions raised by the dataset file-format library."""

from __future__ import annotations


class FormatError(Exception):
    """The file is not a valid/acceptable file of the claimed format.

    The message is meant for humans (an API can return it as a 400 detail as is).
    It deliberately does not subclass ``ValueError``: a bad ``rows`` argument raises
    ``ValueError``, a bad file raises ``FormatError``, and callers can tell them apart.
    """
