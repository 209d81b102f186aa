"""htpasswd files for a registry's ``auth.htpasswd`` section.

Owns: bcrypt hashing (the ``bcrypt`` package, else the C library's ``crypt`` through
ctypes) and writing ``user:hash`` lines. The registry accepts only bcrypt hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def bcrypt_hash(password: str, cost: int = 5) -> str:
    """A bcrypt hash of ``password`` for an htpasswd file (the registry accepts only bcrypt).

    Uses the ``bcrypt`` package when installed, else the C library's ``crypt`` (libxcrypt
    supports ``$2b$``). The low cost keeps tests fast: the registry checks it per request.
    """
    try:
        import bcrypt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost))
        return hashed.decode("ascii")
    import ctypes
    import ctypes.util
    import secrets as _secrets

    library = ctypes.util.find_library("crypt")
    if library is None:
        raise RuntimeError("no bcrypt: pip install bcrypt (or install libcrypt)")
    libcrypt = ctypes.CDLL(library)
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    # 22 salt characters; the last carries only 2 bits, so pick one whose low bits are zero.
    salt = "".join(_secrets.choice(alphabet) for _ in range(21)) + _secrets.choice(".Oeu")
    result = libcrypt.crypt(password.encode(), f"$2b${cost:02d}${salt}".encode())
    if not result or not result.startswith(b"$2b$"):
        raise RuntimeError("the C library's crypt() does not support bcrypt: pip install bcrypt")
    return str(result.decode("ascii"))


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    """An htpasswd file with bcrypt hashes for ``{user: password}``; returns ``path``."""
    path.write_text(
        "".join(f"{user}:{bcrypt_hash(password)}\n" for user, password in users.items()),
        encoding="utf-8",
    )
    return path
