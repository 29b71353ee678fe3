"""SM4 (GB/T 32907) in ECB and CBC, through cryptography (which has SM4, though not SM2; loaded on use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

BLOCK = 16


def _cipher(key: bytes, iv: bytes | None) -> Cipher[modes.ECB] | Cipher[modes.CBC]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(key) != BLOCK:
        raise InvalidInput("an SM4 key is 16 bytes")
    if iv is None:
        return Cipher(algorithms.SM4(key), modes.ECB())
    if len(iv) != BLOCK:
        raise InvalidInput("an SM4 IV is 16 bytes")
    return Cipher(algorithms.SM4(key), modes.CBC(iv))


def encrypt(key: bytes, data: bytes, *, iv: bytes | None = None, pad: bool = False) -> bytes:
    """SM4-ECB (no ``iv``) or SM4-CBC; ``pad`` adds PKCS#7 padding, else whole blocks are required."""
    from cryptography.hazmat.primitives import padding

    if pad:
        padder = padding.PKCS7(BLOCK * 8).padder()
        data = padder.update(data) + padder.finalize()
    elif len(data) % BLOCK:
        raise InvalidInput("SM4 without padding needs whole 16-byte blocks")
    encryptor = _cipher(key, iv).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def decrypt(key: bytes, data: bytes, *, iv: bytes | None = None, pad: bool = False) -> bytes:
    if len(data) % BLOCK:
        raise InvalidInput("SM4 ciphertext is whole 16-byte blocks")
    decryptor = _cipher(key, iv).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    if not pad:
        return plain
    from cryptography.hazmat.primitives import padding

    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise InvalidInput("SM4: wrong key or damaged data (bad padding)") from None
