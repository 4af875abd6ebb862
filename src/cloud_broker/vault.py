"""Credentials at rest, the references agents hold instead of them, and the one way to show them.

Sealing is AES-256-GCM with a fresh 96-bit random nonce per message. The grant id is the
associated data, so a ciphertext copied into another grant's row fails to open rather than
handing one grant's credentials to another. The key id (a SHA-256 prefix of the key) is
stored beside each ciphertext so that key rotation can be added without a format change.

The master key comes from ``CLOUD_BROKER_MASTER_KEY`` (base64 of 32 bytes) or from a key
file created on first run with mode 0600; a key file that others may read is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloud_broker.errors import BrokerError, InvalidInput

MASTER_KEY_ENV = "CLOUD_BROKER_MASTER_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID_HEX = 16

_PROVIDER = r"[a-z][a-z0-9-]{0,31}"
_ID = r"[A-Za-z0-9_-]{1,128}"
_SECRET_REF = re.compile(rf"secret_ref://(?P<provider>{_PROVIDER})/runs/(?P<run_id>{_ID})/(?P<grant_id>{_ID})")
_SECRET_REF_SHAPE = "secret_ref://<provider>/runs/<run_id>/<grant_id>"

_MASKED = "****"
# Below this length, even four characters would give away too much of the value.
_MIN_LENGTH_TO_HINT = 16
_HINT_CHARS = 4


class VaultError(BrokerError):
    """The master key is unusable, or a sealed secret cannot be opened. Never carries a secret."""

    status = 500
    code = "VAULT_ERROR"


@dataclass(frozen=True)
class SealedSecret:
    """What the store keeps: ``blob`` is the nonce followed by the ciphertext and its tag."""

    key_id: str
    blob: bytes


def key_id_of(key: bytes) -> str:
    """Identifies a key without revealing it: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:_KEY_ID_HEX]


class Vault:
    """Seals and opens credential blobs with one master key."""

    __slots__ = ("_aead", "_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError(f"the master key must be exactly {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._key = key
        self.key_id = key_id_of(key)

    def derive_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256), so one master secret serves every use
        without any use learning another's key."""
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(self._key)

    def __repr__(self) -> str:
        return f"Vault(key_id={self.key_id!r})"

    @classmethod
    def from_environment(cls, key_file: Path, env: Mapping[str, str]) -> Vault:
        """The key from ``CLOUD_BROKER_MASTER_KEY`` if set, else from ``key_file`` (created if absent).

        The environment wins so that deployments with a secret manager never touch the disk.
        """
        encoded = env.get(MASTER_KEY_ENV)
        if encoded is not None:
            return cls(_decode_env_key(encoded))
        return cls(_read_or_create_key_file(Path(key_file)))

    def seal(self, grant_id: str, plaintext: bytes) -> SealedSecret:
        """Encrypts ``plaintext`` for ``grant_id``; only the same grant id can open it."""
        if not grant_id:
            raise ValueError("a grant id is required to seal a secret")
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext, grant_id.encode("utf-8"))
        return SealedSecret(key_id=self.key_id, blob=nonce + ciphertext)

    def open(self, grant_id: str, sealed: SealedSecret) -> bytes:
        """The plaintext; raises ``VaultError`` on a foreign key, another grant's blob or tampering."""
        if sealed.key_id != self.key_id:
            raise VaultError(
                f"the credentials of grant {grant_id} were sealed with key {sealed.key_id}, "
                f"but this broker's master key is {self.key_id}"
            )
        if len(sealed.blob) < NONCE_BYTES + _TAG_BYTES:
            raise VaultError(f"the sealed credentials of grant {grant_id} are truncated")
        nonce, ciphertext = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, grant_id.encode("utf-8"))
        except InvalidTag:
            raise VaultError(
                f"the sealed credentials of grant {grant_id} failed authentication: "
                "they were altered, or belong to another grant"
            ) from None


def _decode_env_key(encoded: str) -> bytes:
    # The value is never echoed, not even in the chained exception.
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"{MASTER_KEY_ENV} must be the base64 encoding of exactly {KEY_BYTES} random bytes "
            "(create one with: openssl rand -base64 32); the value set is not (it is not shown)"
        )
    return key


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    try:
        return _create_key_file(path)
    except FileExistsError:
        pass  # another broker process created it between our two calls: use theirs
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        raise VaultError(f"the master key file {path} is a dangling symbolic link; remove it or fix it") from None


def _read_key_file(path: Path) -> bytes:
    """Raises FileNotFoundError when absent; VaultError when present but unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise VaultError(f"cannot read the master key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_key_file_mode(path, os.fstat(handle.fileno()))
        key = handle.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise VaultError(f"the master key file {path} must hold exactly {KEY_BYTES} bytes; it holds {len(key)}")
    return key


def _check_key_file_mode(path: Path, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise VaultError(f"the master key file {path} is not a regular file")
    if status.st_mode & 0o077:
        raise VaultError(
            f"the master key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(status.st_mode):04o}); restrict it with: chmod 600 {path}"
        )


def _create_key_file(path: Path) -> bytes:
    """Write the key to a private temporary file, then link it into place: the name appears
    only once it holds the whole key, so a process racing us never reads a partial file, and
    ``link`` fails (FileExistsError) rather than replace a key someone else created."""
    key = os.urandom(KEY_BYTES)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise VaultError(f"cannot create the master key file {path}: {exc.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return key


def format_secret_ref(provider: str, run_id: str, grant_id: str) -> str:
    """``secret_ref://<provider>/runs/<run_id>/<grant_id>``: what an agent holds instead of a secret."""
    ref = f"secret_ref://{provider}/runs/{run_id}/{grant_id}"
    if not _SECRET_REF.fullmatch(ref):
        raise ValueError(
            f"cannot build a secret_ref from provider={provider!r}, run_id={run_id!r}, grant_id={grant_id!r}"
        )
    return ref


def parse_secret_ref(ref: str) -> tuple[str, str, str]:
    """``(provider, run_id, grant_id)``; raises ``InvalidInput`` for anything not exactly that shape."""
    match = _SECRET_REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        shown = repr(ref[:80] + "…" if isinstance(ref, str) and len(ref) > 80 else ref)
        raise InvalidInput(f"malformed secret_ref {shown}: expected {_SECRET_REF_SHAPE}")
    return match.group("provider"), match.group("run_id"), match.group("grant_id")


def mask(secret: str) -> str:
    """The only way a secret is ever displayed: a short hint for long values, nothing for short ones."""
    if len(secret) < _MIN_LENGTH_TO_HINT:
        return _MASKED
    return secret[:_HINT_CHARS] + "…"
