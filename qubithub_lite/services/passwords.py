"""bcrypt password hashing, computed off the event loop.

The password is first reduced with SHA-256 (base64) so that long passphrases
are not silently truncated at bcrypt's 72-byte limit.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import bcrypt

from ..schemas.auth import MIN_PASSWORD

_COMMON = {
    "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwertyui",
    "qwerty123", "iloveyou", "11111111", "00000000", "abcdefgh", "abc12345", "letmein1",
    "welcome1", "passw0rd", "admin123", "quantum1", "changeme",
}


def _prepare(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """Why ``password`` is too weak, or None."""
    if len(password) < MIN_PASSWORD:
        return f"password must be at least {MIN_PASSWORD} characters"
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 3:
        return "password is too common or too simple"
    if username and lowered == username.lower():
        return "password must not be the username"
    if email and lowered in (email.lower(), email.split("@")[0].lower()):
        return "password must not be the email address"
    return None


class PasswordHasher:
    def __init__(self, rounds: int = 12):
        self.rounds = rounds
        self._dummy: bytes | None = None

    def _hash(self, password: str) -> str:
        return bcrypt.hashpw(_prepare(password), bcrypt.gensalt(self.rounds)).decode()

    @staticmethod
    def _check(password: str, hashed: str) -> bool:
        try:
            return bcrypt.checkpw(_prepare(password), hashed.encode())
        except ValueError:
            return False

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, self._hash, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Constant work whether or not the user exists (``hashed`` None)."""
        if hashed is None:
            if self._dummy is None:
                self._dummy = (await self.hash("not-a-real-password")).encode()
            await asyncio.get_running_loop().run_in_executor(None, self._check, password, self._dummy.decode())
            return False
        return await asyncio.get_running_loop().run_in_executor(None, self._check, password, hashed)
