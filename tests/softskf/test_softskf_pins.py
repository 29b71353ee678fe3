"""PINs on softskf: exact retry counts down to the lock, unblock with the admin PIN, change, info."""

from __future__ import annotations

from skf_client import ADMIN_TYPE, SAR, USER_TYPE, Session, ffi

from conftest import ADMIN_PIN, ADMIN_TRIES, USER_PIN, USER_TRIES


def test_wrong_user_pins_count_down_exactly_and_lock(session: Session) -> None:
    assert session.pin_info(USER_TYPE) == (USER_TRIES, USER_TRIES, True)
    for left in range(USER_TRIES - 1, -1, -1):
        assert session.verify("wrong-pin") == (SAR["PIN_INCORRECT"], left)
        assert session.pin_info(USER_TYPE)[1] == left
    # Locked: even the right PIN is refused, and the count stays 0.
    assert session.verify(USER_PIN) == (SAR["PIN_LOCKED"], 0)
    assert session.pin_info(USER_TYPE) == (USER_TRIES, 0, True)


def test_a_right_pin_restores_the_count(session: Session) -> None:
    assert session.verify("wrong-pin") == (SAR["PIN_INCORRECT"], USER_TRIES - 1)
    assert session.verify(USER_PIN) == (SAR["OK"], USER_TRIES)
    assert session.pin_info(USER_TYPE)[1] == USER_TRIES


def test_unblock_with_the_admin_pin(session: Session) -> None:
    for _ in range(USER_TRIES):
        session.verify("wrong-pin")
    retry = ffi.new("ULONG *")
    assert session.lib.SKF_UnblockPIN(session.app, b"bad-admin", b"fresh2468", retry) == SAR["PIN_INCORRECT"]
    assert retry[0] == ADMIN_TRIES - 1
    assert session.lib.SKF_UnblockPIN(session.app, ADMIN_PIN.encode(), b"fresh2468", retry) == SAR["OK"]
    assert session.pin_info(USER_TYPE) == (USER_TRIES, USER_TRIES, False)
    assert session.pin_info(ADMIN_TYPE)[1] == ADMIN_TRIES
    assert session.verify(USER_PIN)[0] == SAR["PIN_INCORRECT"]
    assert session.verify("fresh2468") == (SAR["OK"], USER_TRIES)


def test_the_admin_pin_locks_too(session: Session) -> None:
    retry = ffi.new("ULONG *")
    for left in range(ADMIN_TRIES - 1, -1, -1):
        rv = session.lib.SKF_UnblockPIN(session.app, b"bad-admin", b"fresh2468", retry)
        assert (rv, retry[0]) == (SAR["PIN_INCORRECT"], left)
    assert session.lib.SKF_UnblockPIN(session.app, ADMIN_PIN.encode(), b"fresh2468", retry) == SAR["PIN_LOCKED"]
    assert session.verify(ADMIN_PIN, ADMIN_TYPE) == (SAR["PIN_LOCKED"], 0)
    assert session.pin_info(ADMIN_TYPE) == (ADMIN_TRIES, 0, True)


def test_change_pin(session: Session) -> None:
    retry = ffi.new("ULONG *")
    lib, app = session.lib, session.app
    assert lib.SKF_ChangePIN(app, USER_TYPE, b"wrong-pin", b"next13579", retry) == SAR["PIN_INCORRECT"]
    assert retry[0] == USER_TRIES - 1
    assert lib.SKF_ChangePIN(app, USER_TYPE, USER_PIN.encode(), b"short", retry) == SAR["PIN_LEN_RANGE"]
    assert lib.SKF_ChangePIN(app, USER_TYPE, USER_PIN.encode(), b"next13579", retry) == SAR["OK"]
    assert session.pin_info(USER_TYPE) == (USER_TRIES, USER_TRIES, False)
    assert session.verify(USER_PIN)[0] == SAR["PIN_INCORRECT"]
    assert session.verify("next13579")[0] == SAR["OK"]
    assert lib.SKF_ChangePIN(app, ADMIN_TYPE, ADMIN_PIN.encode(), b"admin-new1", retry) == SAR["OK"]
    assert session.verify("admin-new1", ADMIN_TYPE)[0] == SAR["OK"]


def test_pin_type_and_length_checks_cost_no_try(session: Session) -> None:
    retry = ffi.new("ULONG *")
    assert session.lib.SKF_VerifyPIN(session.app, 2, USER_PIN.encode(), retry) == SAR["USER_TYPE_INVALID"]
    assert session.verify("12345")[0] == SAR["PIN_LEN_RANGE"]
    assert session.verify("1" * 17)[0] == SAR["PIN_LEN_RANGE"]
    assert session.pin_info(USER_TYPE)[1] == USER_TRIES


def test_counts_survive_a_new_connection(session: Session) -> None:
    session.verify("wrong-pin")
    app = ffi.new("HANDLE *")
    assert session.lib.SKF_OpenApplication(session.dev, b"app", app) == SAR["OK"]
    other = Session(session.lib, session.dev, app[0])
    assert other.pin_info(USER_TYPE)[1] == USER_TRIES - 1


def test_login_is_per_application_handle_and_cleared(session: Session) -> None:
    cont = session.container("c")
    assert session.lib.SKF_GenECCKeyPair(cont, 0x00020200, ffi.new("ECCPUBLICKEYBLOB *")) == SAR["USER_NOT_LOGGED_IN"]
    assert session.verify(USER_PIN)[0] == SAR["OK"]
    session.gen_sm2(cont)
    app = ffi.new("HANDLE *")
    session.lib.SKF_OpenApplication(session.dev, b"app", app)
    other = ffi.new("HANDLE *")
    session.lib.SKF_OpenContainer(app[0], b"c", other)
    sig = ffi.new("ECCSIGNATUREBLOB *")
    assert session.lib.SKF_ECCSignData(other[0], bytes(32), 32, sig) == SAR["USER_NOT_LOGGED_IN"]
    assert session.lib.SKF_ClearSecureState(session.app) == SAR["OK"]
    assert session.lib.SKF_ECCSignData(cont, bytes(32), 32, sig) == SAR["USER_NOT_LOGGED_IN"]
