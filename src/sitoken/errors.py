"""The sitoken error tree: one root, single inheritance, codes kept."""

from __future__ import annotations


class SitokenError(Exception):
    """Root of every error sitoken raises on purpose.

    ``code`` is a stable short name, used in ``--json`` output and by the CLI
    to pick an exit status. Messages never contain a PIN.
    """

    code = "error"

    def to_dict(self) -> dict[str, object]:
        """Stable, JSON-ready description of the error."""
        return {"error": self.code, "message": str(self)}


class InvalidInput(SitokenError):
    """Data from outside (a file, an argument, an applicant) is not acceptable."""

    code = "invalid-input"


class PinPolicyError(InvalidInput):
    """A PIN fails the PIN policy; it was never sent to the token."""

    code = "pin-policy"

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("PIN rejected by policy: " + "; ".join(self.reasons))

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reasons": self.reasons}


class UnsafeFile(InvalidInput):
    """A file or directory sitoken would read a secret from or write to is not safe to use.

    A symbolic link where a file is written, an input about to be overwritten, a PIN file
    or directory that others can read or write: refused, with the reason, before any change.
    """

    code = "unsafe-file"


class OutputExists(InvalidInput):
    """The output file exists and ``--force`` (``force=True``) was not given."""

    code = "output-exists"


class Cancelled(SitokenError):
    """The holder closed a dialog (a PIN dialog, a choice) instead of answering it."""

    code = "cancelled"


class TimedOut(Cancelled):
    """A dialog stayed open past its time limit with no answer: as if closed, and said so."""

    code = "timeout"


class TokenError(SitokenError):
    """A token, module or card operation failed.

    The low-level cause is kept: ``rv`` and ``function`` for PKCS#11,
    ``sw`` (the ISO 7816 status word) for a card.
    """

    code = "token-error"

    def __init__(
        self,
        message: str,
        *,
        rv: int | None = None,
        function: str | None = None,
        sw: int | None = None,
    ) -> None:
        super().__init__(message)
        self.rv = rv
        self.function = function
        self.sw = sw

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.rv is not None:
            out["rv"] = self.rv
        if self.function is not None:
            out["function"] = self.function
        if self.sw is not None:
            out["sw"] = f"{self.sw:04X}"
        return out


class ModuleLoadError(TokenError):
    """A PKCS#11 module (or the PC/SC service) could not be loaded or initialised."""

    code = "module-error"


class TokenNotFound(TokenError):
    """No token matches the selection, or more than one does."""

    code = "token-not-found"


class TokenAbsent(TokenError):
    """The token was removed, or the reader holds no card."""

    code = "token-absent"


class KeyNotFound(TokenError):
    """No key (or certificate) on the token matches the selection."""

    code = "key-not-found"


class NotSupported(TokenError):
    """The token, its driver or its module cannot do what was asked."""

    code = "not-supported"


class MechanismUnsupported(NotSupported):
    """The token does not offer the mechanism, or not for this key."""

    code = "mechanism-unsupported"


class PinError(TokenError):
    """A PIN operation failed on the token."""

    code = "pin-error"


class PinIncorrect(PinError):
    """The token refused the PIN. ``remaining`` is set where the token tells it."""

    code = "pin-incorrect"

    def __init__(
        self,
        message: str,
        *,
        remaining: int | None = None,
        rv: int | None = None,
        function: str | None = None,
        sw: int | None = None,
    ) -> None:
        super().__init__(message, rv=rv, function=function, sw=sw)
        self.remaining = remaining

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "remaining": self.remaining}


class PinLocked(PinError):
    """The PIN is blocked: no tries are left. An administrator reset is needed."""

    code = "pin-locked"

    @property
    def remaining(self) -> int:
        return 0


class FinalTryGuard(PinError):
    """sitoken refused to send a PIN because one more failure would lock it."""

    code = "pin-final-try"


class Pkcs11Error(TokenError):
    """A PKCS#11 call failed with a code that has no more specific class."""

    code = "pkcs11-error"


class SkfError(TokenError):
    """An SKF library call failed with a SAR code that has no more specific class (``rv`` keeps it)."""

    code = "skf-error"


class CardError(TokenError):
    """A card answered with a status word that has no more specific class."""

    code = "card-error"


class CryptoError(SitokenError):
    """Host cryptography (OpenSSL's libcrypto, for SM2) refused an operation; its reason is kept."""

    code = "crypto-error"


class SignatureInvalid(SitokenError):
    """A signature did not verify."""

    code = "signature-invalid"


class JournalError(SitokenError):
    """The provisioning journal is unreadable or inconsistent."""

    code = "journal-error"


class JournalUnreachable(JournalError):
    """The journal's database server cannot be reached: the work stops, nothing half-written."""

    code = "journal-unreachable"
