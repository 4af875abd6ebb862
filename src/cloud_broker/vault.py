"""Credentials at rest, the references agents hold instead of them, and the one way to show them.

Sealing is AES-256-GCM with a fresh 96-bit random nonce per message. The grant id is the
associated data, so a ciphertext copied into another grant's row fails to open rather than
handing one grant's credentials to another. The key id (a SHA-256 prefix of the key) is
stored beside each ciphertext, so a secret is opened with the key that sealed it.

The vault is a keyring, so the master key can be changed while brokers run: one current key
seals, previous keys only open (and verify the host tokens they signed, ``api.tokens``) until
``cloud-broker keys rotate`` has re-sealed everything under the current one. The keys come from
``CLOUD_BROKER_MASTER_KEY`` and ``CLOUD_BROKER_PREVIOUS_MASTER_KEYS`` (base64 of 32 bytes each,
the previous ones comma-separated), or else from the state dir: ``master.key``, created on
first run with mode 0600, and the files in ``previous-master-keys/``. A key file that others
may read is refused. No key value is ever put in a message, a log or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloud_broker.errors import BrokerError, InvalidInput

MASTER_KEY_ENV = "CLOUD_BROKER_MASTER_KEY"
PREVIOUS_KEYS_ENV = "CLOUD_BROKER_PREVIOUS_MASTER_KEYS"
# Beside the key file: one file per previous key, each as ``master.key`` may be written.
PREVIOUS_KEYS_DIR = "previous-master-keys"
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


class UnknownKey(VaultError):
    """A secret was sealed with a master key this process does not hold: it stays sealed."""

    code = "VAULT_UNKNOWN_KEY"


class Vault:
    """A keyring: the current key seals; it and every previous key open what they sealed."""

    __slots__ = ("_aeads", "_keys", "key_id")

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        self._keys: dict[str, bytes] = {}  # the current key first
        for each in (key, *previous):
            if len(each) != KEY_BYTES:
                raise VaultError(f"a master key must be exactly {KEY_BYTES} bytes")
            self._keys.setdefault(key_id_of(each), each)
        self._aeads = {key_id: AESGCM(each) for key_id, each in self._keys.items()}
        self.key_id = key_id_of(key)

    @property
    def previous_key_ids(self) -> tuple[str, ...]:
        """The keys that only open (and only verify tokens), in the order they were given."""
        return tuple(key_id for key_id in self._keys if key_id != self.key_id)

    def knows(self, key_id: str) -> bool:
        return key_id in self._keys

    def derive_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256) from the current key, so one master secret
        serves every use without any use learning another's key."""
        return _derive(self._keys[self.key_id], purpose)

    def derive_previous_keys(self, purpose: bytes) -> tuple[bytes, ...]:
        """``derive_key`` of each previous key: what was signed before the current key took over
        still verifies while the previous key is kept."""
        return tuple(_derive(self._keys[key_id], purpose) for key_id in self.previous_key_ids)

    def __repr__(self) -> str:
        return f"Vault(key_id={self.key_id!r}, previous_key_ids={self.previous_key_ids!r})"

    @classmethod
    def from_environment(cls, key_file: Path, env: Mapping[str, str], *, create: bool = True) -> Vault:
        """The keys from the environment if ``CLOUD_BROKER_MASTER_KEY`` is set, else from
        ``key_file`` (created if absent and ``create``) and the previous-keys folder beside it.

        The environment wins so that deployments with a secret manager never touch the disk; the
        two sources are never mixed, so what a process holds is always read from one place.
        """
        previous = env.get(PREVIOUS_KEYS_ENV, "")
        encoded = env.get(MASTER_KEY_ENV)
        if encoded is not None:
            return cls(_decode_env_key(encoded), _decode_previous_keys(previous))
        if previous.strip():
            raise VaultError(f"{PREVIOUS_KEYS_ENV} is set but {MASTER_KEY_ENV} is not: previous keys come "
                             f"from the environment only beside the current key; set both, or neither")
        key_file = Path(key_file)
        current = _read_or_create_key_file(key_file) if create else _read_existing_key_file(key_file)
        return cls(current, _read_previous_key_files(key_file.parent / PREVIOUS_KEYS_DIR))

    def seal(self, grant_id: str, plaintext: bytes) -> SealedSecret:
        """Encrypts ``plaintext`` for ``grant_id`` with the current key; only the same grant id can open it."""
        if not grant_id:
            raise ValueError("a grant id is required to seal a secret")
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aeads[self.key_id].encrypt(nonce, plaintext, grant_id.encode("utf-8"))
        return SealedSecret(key_id=self.key_id, blob=nonce + ciphertext)

    def open(self, grant_id: str, sealed: SealedSecret) -> bytes:
        """The plaintext, opened with the key ``sealed.key_id`` names. Raises ``UnknownKey`` when
        this process does not hold that key, ``VaultError`` on another grant's blob or tampering."""
        aead = self._aeads.get(sealed.key_id)
        if aead is None:
            raise UnknownKey(
                f"the credentials of grant {grant_id} were sealed with master key {sealed.key_id}, which this "
                f"broker does not hold (it holds {', '.join(self._keys)}); give it that key in "
                f"{PREVIOUS_KEYS_ENV} until `cloud-broker keys rotate` reports no row under it"
            )
        if len(sealed.blob) < NONCE_BYTES + _TAG_BYTES:
            raise VaultError(f"the sealed credentials of grant {grant_id} are truncated")
        nonce, ciphertext = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, ciphertext, grant_id.encode("utf-8"))
        except InvalidTag:
            raise VaultError(
                f"the sealed credentials of grant {grant_id} failed authentication: "
                "they were altered, or belong to another grant"
            ) from None

    def reseal(self, grant_id: str, sealed: SealedSecret) -> SealedSecret:
        """``sealed`` opened with its own key and sealed again with the current one; the
        plaintext lives only inside this call."""
        return self.seal(grant_id, self.open(grant_id, sealed))


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(key)


def new_key_file(path: Path) -> str:
    """Write a fresh key to ``path`` (mode 0600, base64 text: the form the environment variables
    take, and one a key file may hold) and return its key id. An existing file is never replaced."""
    key = os.urandom(KEY_BYTES)
    try:
        _write_private_file(Path(path), base64.b64encode(key) + b"\n")
    except FileExistsError:
        raise VaultError(f"{path} already exists; it was not replaced (choose another name)") from None
    return key_id_of(key)


def _decode_env_key(encoded: str, name: str = MASTER_KEY_ENV) -> bytes:
    # The value is never echoed, not even in the chained exception.
    key = _decode_base64_key(encoded.encode("utf-8", "replace"))
    if key is None:
        raise VaultError(
            f"{name} must be the base64 encoding of exactly {KEY_BYTES} random bytes "
            "(create one with: cloud-broker keys new --out FILE); the value set is not (it is not shown)"
        )
    return key


def _decode_previous_keys(encoded: str) -> list[bytes]:
    """``CLOUD_BROKER_PREVIOUS_MASTER_KEYS``: comma-separated; empty means none."""
    if not encoded.strip():
        return []
    entries = encoded.split(",")
    return [_decode_env_key(entry, f"entry {n} of {PREVIOUS_KEYS_ENV}") for n, entry in enumerate(entries, 1)]


def _decode_base64_key(encoded: bytes) -> bytes | None:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


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


def _read_existing_key_file(path: Path) -> bytes:
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        raise VaultError(f"there is no master key: {MASTER_KEY_ENV} is not set and {path} does not exist") from None


def _read_previous_key_files(folder: Path) -> list[bytes]:
    """Every key file in ``folder`` (none when it is absent), by name; dot-files are skipped
    (a key file being written is one)."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise VaultError(f"cannot list the previous master keys in {folder}: {exc.strerror}") from None
    return [_read_key_file(folder / name) for name in names]


def _read_key_file(path: Path) -> bytes:
    """Raises FileNotFoundError when absent; VaultError when present but unusable. The file
    holds the 32 bytes themselves (as the broker creates it) or their base64 encoding (as
    ``cloud-broker keys new`` writes it)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise VaultError(f"cannot read the master key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_key_file_mode(path, os.fstat(handle.fileno()))
        content = handle.read(4 * KEY_BYTES)
    key = content if len(content) == KEY_BYTES else _decode_base64_key(content)
    if key is None:
        raise VaultError(f"the master key file {path} must hold exactly {KEY_BYTES} bytes, or their base64 "
                         f"encoding; it holds {len(content)} bytes that are neither")
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
    key = os.urandom(KEY_BYTES)
    _write_private_file(path, key)
    return key


def _write_private_file(path: Path, content: bytes) -> None:
    """Write ``content`` to a private temporary file, then link it into place: the name appears
    only once it holds everything, so a process racing us never reads a partial file, and
    ``link`` fails (FileExistsError) rather than replace a key someone else created."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise VaultError(f"cannot create the key file {path}: {exc.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)


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
