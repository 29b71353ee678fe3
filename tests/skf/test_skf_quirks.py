"""Vendor quirks, through the software token's switches: the driver tolerates each one (SKF.md section 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitoken import skf, sm2
from sitoken.errors import NotSupported
from sitoken.pin import Pin
from sitoken.skf.constants import CONTAINER_ECC
from sitoken.token import KeyType
from skf_bed import USER_PIN, openssl_verifies


def _quirks_spec(skf_library: str) -> str:
    return "skf:" + str(Path(skf_library).with_name("libsoftskf-quirks.so"))


def test_misspelled_container_type_and_a_missing_optional_function(skf_library: str, skf_token: skf.SkfToken) -> None:
    skf_token.login(Pin(USER_PIN))
    skf_token.generate_key(KeyType.SM2, "c1")
    with skf.open_token(_quirks_spec(skf_library), skf_token.device) as quirky:
        assert isinstance(quirky, skf.SkfToken)
        assert quirky.library.has("SKF_GetContainerType")  # through SKF_GetContianerType
        assert quirky.container_type("c1") == CONTAINER_ECC
        assert not quirky.library.has("SKF_ECCDecrypt")
        quirky.login(Pin(USER_PIN))
        with pytest.raises(NotSupported) as missing:
            quirky.decrypt("c1/enc", sm2.Sm2PublicKey(skf_token.public_key_der("c1")).encrypt(b"k" * 16))
        assert missing.value.function == "SKF_ECCDecrypt"
        signature = quirky.sign("c1", b"still signs")
        assert openssl_verifies(quirky.public_key_der("c1"), b"still signs", signature)


def test_decrypt_with_the_encryption_key_where_offered(skf_token: skf.SkfToken) -> None:
    skf_token.login(Pin(USER_PIN))
    sign_spki = skf_token.public_key_der(skf_token.generate_key(KeyType.SM2, "dual").label)
    kmc, session = sm2.Sm2PrivateKey.generate(), b"0123456789abcdef"
    envelope = skf.blobs.build_enveloped_key_blob(0x401, sm2.sm4.encrypt(session, kmc.scalar()),
                                                  kmc.public_key().point, sm2.Sm2PublicKey(sign_spki).encrypt(session))
    skf_token.import_encryption_key("dual", envelope)
    assert skf_token.decrypt("dual/enc", kmc.public_key().encrypt(b"for the holder")) == b"for the holder"


def test_pre_2012_sm2_numbering(monkeypatch: pytest.MonkeyPatch, skf_token: skf.SkfToken) -> None:
    monkeypatch.setenv("SOFTSKF_QUIRKS", "sm2-old-ids")
    skf_token.login(Pin(USER_PIN))
    skf_token.generate_key(KeyType.SM2, "old")  # 0x00020200 refused, 0x00020100 taken
    signature = skf_token.sign("old", b"old numbering")
    assert openssl_verifies(skf_token.public_key_der("old"), b"old numbering", signature)


def test_an_empty_list_of_one_nul(monkeypatch: pytest.MonkeyPatch, skf_token: skf.SkfToken) -> None:
    monkeypatch.setenv("SOFTSKF_QUIRKS", "empty-list-1")
    assert skf_token.containers() == [] and skf_token.keys() == [] and skf_token.certificates() == []
