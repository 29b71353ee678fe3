"""The native-messaging host: status, get-certificate, authenticate and sign, PINs in native UI, requests audited."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from .._version import __version__
from ..algorithms import Mechanism, find_mechanism
from ..certs.ontoken import TokenCertificate, token_certificates
from ..errors import Cancelled, InvalidInput, KeyNotFound, SitokenError, TokenError
from ..pin import Pin
from ..provisioning.audit import AuditLog
from ..token import Token
from .challenge import PAGE_HASH_NAMES, authentication_token, check_nonce, check_origin
from .framing import BadMessage, FramingError, read_message, write_message

OPERATIONS = ("status", "get-certificate", "authenticate", "sign")
_PADDING = {"rsa": "pkcs1v15", "ec": None, "sm2": None}
MAX_ID = 2**53  # a JavaScript number stays exact up to here


class Dialog(Protocol):
    """Native UI: ``ask(prompt, description)`` returns what the holder typed or raises Cancelled."""

    def ask(self, prompt: str, description: str | None = None) -> str: ...


@dataclass(frozen=True)
class Request:
    """A request as the extension's service worker framed it: the origin is the browser's."""

    id: int
    origin: str
    operation: str
    params: Mapping[str, object]


def parse_request(message: object) -> Request:
    """Check every field; anything else in the message is ignored, nothing missing is guessed."""
    if not isinstance(message, dict):
        raise BadMessage("a request is a JSON object")
    ident, origin, operation, params = (message.get(k) for k in ("id", "origin", "operation", "params"))
    if not isinstance(ident, int) or isinstance(ident, bool) or not 0 <= ident < MAX_ID:
        raise BadMessage("a request needs an integer id")
    if operation not in OPERATIONS:
        raise BadMessage(f"unknown operation; known: {', '.join(OPERATIONS)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadMessage("params must be an object")
    return Request(ident, check_origin(origin if isinstance(origin, str) else ""), str(operation), params)


class WebHost:
    """Answers one request at a time for the browser; the token is opened per request."""

    def __init__(self, open_token: Callable[[], Token], dialog: Dialog, audit: AuditLog | None = None) -> None:
        self.open_token = open_token
        self.dialog = dialog
        self.audit = audit

    def handle(self, message: object) -> dict[str, object]:
        ident = message.get("id") if isinstance(message, dict) else None
        request: Request | None = None
        try:
            request = parse_request(message)
            result = getattr(self, "_" + request.operation.replace("-", "_"))(request)
            reply: dict[str, object] = {"id": ident, "ok": True, "result": result}
        except SitokenError as exc:
            reply = {"id": ident, "ok": False, **exc.to_dict()}
        self._audit(request, reply)
        return reply

    def handle_error(self, exc: SitokenError) -> dict[str, object]:
        """The answer to a frame that held no request at all (audited too)."""
        reply: dict[str, object] = {"id": None, "ok": False, **exc.to_dict()}
        self._audit(None, reply)
        return reply

    def _status(self, request: Request) -> dict[str, object]:
        present: dict[str, object] | None = None
        reason: str | None = None
        try:
            with self.open_token() as token:
                info = token.info()
                present = {"label": info.label, "serial": info.serial, "manufacturer": info.manufacturer,
                           "model": info.model}
        except TokenError as exc:
            reason = exc.code
        return {"version": __version__, "operations": list(OPERATIONS), "token": present, "reason": reason}

    def _get_certificate(self, request: Request) -> dict[str, object]:
        with self.open_token() as token:
            chosen = self._choose(token, request)
            return {"certificate": _b64(chosen.der), "subject": chosen.info.subject}

    def _authenticate(self, request: Request) -> dict[str, str]:
        nonce = check_nonce(request.params.get("nonce"))
        with self.open_token() as token:
            chosen = self._choose(token, request)
            assert chosen.key is not None
            holder = _common_name(chosen)
            self._login(token, f"{request.origin} asks to log you in as {holder}. "
                               f"Enter the user PIN of token {token.info().label} to allow it.")
            try:
                return authentication_token(token, chosen.key, chosen.der, request.origin, nonce)
            finally:
                token.logout()

    def _sign(self, request: Request) -> dict[str, str]:
        wanted = _b64_param(request.params, "certificate")
        digest = _b64_param(request.params, "hash")
        hash_name = PAGE_HASH_NAMES.get(str(request.params.get("hashAlgorithm")))
        if hash_name is None:
            raise InvalidInput(f"hashAlgorithm must be one of {', '.join(PAGE_HASH_NAMES)}")
        with self.open_token() as token:
            chosen = next((c for c in self._holder_certificates(token) if c.der == wanted), None)
            if chosen is None or chosen.key is None:
                raise KeyNotFound("the token holds no such certificate of its holder")
            mechanism = _mechanism_for(token, chosen.key, hash_name)
            self._login(token, f"{request.origin} asks you to sign a document as {_common_name(chosen)}. "
                               f"Its {request.params['hashAlgorithm']} hash starts {digest.hex()[:16].upper()}. "
                               f"Enter the user PIN of token {token.info().label} to sign it.")
            try:
                signature = token.sign_digest(chosen.key, digest, mechanism)
            finally:
                token.logout()
        return {"signature": _b64(signature), "algorithm": mechanism.value}

    def _login(self, token: Token, description: str) -> None:
        with Pin(self.dialog.ask("User PIN", description)) as pin:
            token.login(pin)

    def _choose(self, token: Token, request: Request) -> TokenCertificate:
        """The holder's certificate; the holder picks in native UI when the token has several."""
        mine = self._holder_certificates(token)
        if not mine:
            raise KeyNotFound("the token holds no valid certificate of its holder")
        if len(mine) == 1:
            return mine[0]
        lines = [f"{i}: {_common_name(c)}, valid to {c.info.not_after:%Y-%m-%d}" for i, c in enumerate(mine, 1)]
        answer = self.dialog.ask("Certificate number",
                                 f"{request.origin} asks for a certificate. Type its number:\n" + "\n".join(lines))
        if not answer.strip().isdigit() or not 1 <= int(answer) <= len(mine):
            raise Cancelled("no certificate was chosen")
        return mine[int(answer) - 1]

    @staticmethod
    def _holder_certificates(token: Token) -> list[TokenCertificate]:
        return [c for c in token_certificates(token) if c.key is not None and not c.authority and not c.info.expired]

    def _audit(self, request: Request | None, reply: Mapping[str, object]) -> None:
        if self.audit is None:
            return
        # Origin, operation and outcome only: never a PIN, a nonce or a signature.
        self.audit.record(f"web-{request.operation}" if request else "web-bad-request",
                          "ok" if reply.get("ok") else str(reply.get("error")),
                          origin=request.origin if request else None)


def _common_name(cert: TokenCertificate) -> str:
    for part in cert.info.subject.split(","):
        if part.startswith("CN="):
            return part[3:]
    return cert.info.subject


def _mechanism_for(token: Token, key: str, hash_name: str) -> Mechanism:
    key_type = token.find_key(key).key_type
    family = key_type.family if key_type else ""
    mechanism = find_mechanism(family, hash_name, _PADDING.get(family)) if family in _PADDING else None
    if mechanism is None:
        raise InvalidInput(f"a {key_type.value if key_type else 'unknown'} key does not sign a {hash_name} hash "
                           "computed elsewhere")
    return mechanism


def _b64_param(params: Mapping[str, object], name: str) -> bytes:
    value = params.get(name)
    if not isinstance(value, str) or len(value) > 16_384:
        raise InvalidInput(f"{name} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise InvalidInput(f"{name} is not base64 text") from None


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def serve(host: WebHost, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Answer frames until the browser closes the stream (0) or the stream breaks (1: fail closed)."""
    inp = stdin or sys.stdin.buffer
    out = stdout or sys.stdout.buffer
    while True:
        try:
            message = read_message(inp)
        except FramingError as exc:
            write_message(out, {"id": None, "ok": False, **exc.to_dict()})
            return 1
        except BadMessage as exc:
            write_message(out, host.handle_error(exc))
            continue
        if message is None:
            return 0
        try:
            write_message(out, host.handle(message))
        except InvalidInput as exc:  # an answer over the browser's limit
            write_message(out, {"id": None, "ok": False, **exc.to_dict()})
