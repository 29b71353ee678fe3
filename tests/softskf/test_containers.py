"""Containers on softskf: SM2 keys, signatures checked by openssl, public keys, certificates."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from skf_client import (
    SAR,
    SGD_SM2_1,
    Session,
    check,
    ffi,
    openssl,
    pub_of,
    read_list,
    signature_der,
    sm2_e,
    spki_pem,
)


def _openssl_verifies(tmp: Path, pub: bytes, message: bytes, sig: Any) -> bool:
    (tmp / "pub.pem").write_bytes(spki_pem(pub))
    (tmp / "msg").write_bytes(message)
    (tmp / "sig.der").write_bytes(signature_der(sig))
    done = openssl("dgst", "-sm3", "-verify", str(tmp / "pub.pem"), "-sigopt", "distid:1234567812345678",
                   "-signature", str(tmp / "sig.der"), str(tmp / "msg"))
    return done.returncode == 0 and done.stdout.strip() == b"Verified OK"


def test_sm2_signatures_verify_with_openssl(logged_in: Session, tmp_path: Path) -> None:
    cont = logged_in.container("sign")
    pub = logged_in.gen_sm2(cont)
    for message in (b"", b"record 1", bytes(range(256)) * 8):
        sig = logged_in.sign(cont, sm2_e(pub, message))
        assert _openssl_verifies(tmp_path, pub, message, sig)
    # The same check fails for another message: the verification above means something.
    sig = logged_in.sign(cont, sm2_e(pub, b"one"))
    assert not _openssl_verifies(tmp_path, pub, b"two", sig)


def test_ecc_verify_on_the_token(logged_in: Session) -> None:
    cont = logged_in.container("sign")
    blob = ffi.new("ECCPUBLICKEYBLOB *")
    check("SKF_GenECCKeyPair", logged_in.lib.SKF_GenECCKeyPair(cont, SGD_SM2_1, blob))
    e = sm2_e(pub_of(blob), b"data")
    sig = logged_in.sign(cont, e)
    assert logged_in.lib.SKF_ECCVerify(logged_in.dev, blob, e, 32, sig) == SAR["OK"]
    bad = bytes([e[0] ^ 1]) + e[1:]
    assert logged_in.lib.SKF_ECCVerify(logged_in.dev, blob, bad, 32, sig) != SAR["OK"]


def test_sign_input_must_be_the_32_byte_e(logged_in: Session) -> None:
    cont = logged_in.container("sign")
    logged_in.gen_sm2(cont)
    sig = ffi.new("ECCSIGNATUREBLOB *")
    assert logged_in.lib.SKF_ECCSignData(cont, b"x" * 31, 31, sig) == SAR["INDATALENERR"]
    assert logged_in.lib.SKF_ECCSignData(cont, b"x" * 64, 64, sig) == SAR["INDATALENERR"]
    assert logged_in.lib.SKF_GenECCKeyPair(cont, 0x12345, ffi.new("ECCPUBLICKEYBLOB *")) == SAR["NOTSUPPORTYETERR"]


def test_export_public_key_and_size_query(logged_in: Session) -> None:
    cont = logged_in.container("sign")
    size = ffi.new("ULONG *")
    assert logged_in.lib.SKF_ExportPublicKey(cont, 1, ffi.NULL, size) == SAR["KEYNOTFOUNTERR"]
    pub = logged_in.gen_sm2(cont)
    raw = logged_in.export_public(cont)
    assert len(raw) == 132 and raw[:4] == (256).to_bytes(4, "little")
    assert raw[4:36] == bytes(32) and raw[36:68] + raw[100:132] == pub
    small = ffi.new("uint8_t[]", 100)
    size[0] = 100
    assert logged_in.lib.SKF_ExportPublicKey(cont, 1, small, size) == SAR["BUFFER_TOO_SMALL"]
    assert size[0] == 132
    assert logged_in.lib.SKF_ExportPublicKey(cont, 0, ffi.NULL, size) == SAR["KEYNOTFOUNTERR"]
    ctype = ffi.new("ULONG *")
    check("SKF_GetContainerType", logged_in.lib.SKF_GetContainerType(cont, ctype))
    assert ctype[0] == 2


def test_containers_list_create_delete(logged_in: Session) -> None:
    lib, app = logged_in.lib, logged_in.app
    assert read_list(lib, "SKF_EnumContainer", app) == b"\0\0"
    empty = logged_in.container("a")
    logged_in.container("b")
    ctype = ffi.new("ULONG *")
    check("SKF_GetContainerType", lib.SKF_GetContainerType(empty, ctype))
    assert ctype[0] == 0
    assert read_list(lib, "SKF_EnumContainer", app) == b"a\0b\0\0"
    h = ffi.new("HANDLE *")
    assert lib.SKF_CreateContainer(app, b"a", h) == SAR["FILE_ALREADY_EXIST"]
    assert lib.SKF_CreateContainer(app, b"n" * 65, h) == SAR["NAMELENERR"]
    assert lib.SKF_CreateContainer(app, b"", h) == SAR["NAMELENERR"]
    check("SKF_CreateContainer", lib.SKF_CreateContainer(app, b"n" * 64, h))
    check("SKF_DeleteContainer", lib.SKF_DeleteContainer(app, b"a"))
    assert lib.SKF_OpenContainer(app, b"a", h) == SAR["FILE_NOT_EXIST"]
    assert lib.SKF_GetContainerType(empty, ctype) == SAR["FILE_NOT_EXIST"]
    assert read_list(lib, "SKF_EnumContainer", app) == b"b\0" + b"n" * 64 + b"\0\0"


def test_container_creation_follows_the_application_rights(session: Session) -> None:
    lib, dev = session.lib, session.dev
    app = ffi.new("HANDLE *")
    check("SKF_CreateApplication", lib.SKF_CreateApplication(
        dev, b"userapp", b"admin8642", 3, b"user13579", 3, 0x10, app))
    h = ffi.new("HANDLE *")
    assert lib.SKF_CreateContainer(app[0], b"c", h) == SAR["USER_NOT_LOGGED_IN"]
    retry = ffi.new("ULONG *")
    check("SKF_VerifyPIN", lib.SKF_VerifyPIN(app[0], 1, b"user13579", retry))
    check("SKF_CreateContainer", lib.SKF_CreateContainer(app[0], b"c", h))


def test_certificates_per_slot(logged_in: Session) -> None:
    lib = logged_in.lib
    cont = logged_in.container("sign")
    size = ffi.new("ULONG *")
    assert lib.SKF_ExportCertificate(cont, 1, ffi.NULL, size) == SAR["CERTNOTFOUNTERR"]
    sign_cert, enc_cert = b"\x30\x82" + b"S" * 700, b"\x30\x82" + b"E" * 500
    check("SKF_ImportCertificate", lib.SKF_ImportCertificate(cont, 1, sign_cert, len(sign_cert)))
    check("SKF_ImportCertificate", lib.SKF_ImportCertificate(cont, 0, enc_cert, len(enc_cert)))
    for flag, cert in ((1, sign_cert), (0, enc_cert)):
        check("SKF_ExportCertificate", lib.SKF_ExportCertificate(cont, flag, ffi.NULL, size))
        assert size[0] == len(cert)
        size[0] = 10
        buf = ffi.new("uint8_t[]", len(cert))
        assert lib.SKF_ExportCertificate(cont, flag, buf, size) == SAR["BUFFER_TOO_SMALL"]
        assert size[0] == len(cert)
        check("SKF_ExportCertificate", lib.SKF_ExportCertificate(cont, flag, buf, size))
        assert bytes(buf) == cert
    assert lib.SKF_ImportCertificate(cont, 1, b"x" * 9000, 9000) == SAR["INDATALENERR"]
    lib.SKF_ClearSecureState(logged_in.app)
    assert lib.SKF_ImportCertificate(cont, 1, sign_cert, len(sign_cert)) == SAR["USER_NOT_LOGGED_IN"]


def test_threads_sign_at_once_with_two_keys(logged_in: Session) -> None:
    lib = logged_in.lib
    keys = []
    for name in ("t1", "t2"):
        cont = logged_in.container(name)
        blob = ffi.new("ECCPUBLICKEYBLOB *")
        check("SKF_GenECCKeyPair", lib.SKF_GenECCKeyPair(cont, SGD_SM2_1, blob))
        keys.append((cont, blob, sm2_e(pub_of(blob), name.encode())))
    failures: list[str] = []

    def sign(index: int) -> None:
        cont, blob, e = keys[index % 2]
        for _ in range(15):
            sig = ffi.new("ECCSIGNATUREBLOB *")
            rv = lib.SKF_ECCSignData(cont, e, 32, sig)
            if rv != SAR["OK"] or lib.SKF_ECCVerify(logged_in.dev, blob, e, 32, sig) != SAR["OK"]:
                failures.append(f"thread {index}: 0x{rv:08X}")

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
