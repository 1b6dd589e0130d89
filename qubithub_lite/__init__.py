"""QubitHub Lite: the QubitHub platform as one self-hostable process."""

__version__ = "0.1.0"
