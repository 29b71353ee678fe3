"""The demo portal: login and document signing with a USB-Key over HTTPS, on the standard library's http.server."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import secrets
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from ..certs import LocalCA, build_csr, text_extension
from ..certs.ontoken import TokenSigner, token_certificates
from ..certs.sm2ca import Sm2LocalCA
from ..errors import InvalidInput
from ..safefiles import write_file
from ..token import KeyType, Token
from .challenge import check_origin
from .identity import Identity
from .nonces import NonceStore
from .verify import AuthenticationFailed, AuthTokenVerifier, document_hash

#: The demo holder: a resident ID number with a valid check character (GB 11643).
DEMO_ID_NUMBER = "11010519491231002X"
DEMO_SUBJECT = f"CN=张三,serialNumber={DEMO_ID_NUMBER},OU=Individual-1,O=Social Insurance,C=CN"
DEMO_KEY = "web-demo"
MAX_BODY = 64 * 1024  # a token or a signature with its certificate; nothing a portal needs is larger
STATIC = {"/": ("demo.html", "text/html; charset=utf-8"),
          "/sitoken-web.js": ("sitoken-web.js", "text/javascript"),
          "/demo.js": ("demo.js", "text/javascript")}


def static_file(name: str) -> bytes:
    """A file of the page side (the page library, the demo page), shipped inside the package."""
    return resources.files(__package__).joinpath("static").joinpath(name).read_bytes()


def enrol_holder(token: Token, ca: LocalCA | Sm2LocalCA, *, key: str = DEMO_KEY, key_type: KeyType = KeyType.EC_P256,
                 subject: str = DEMO_SUBJECT, profile: str = "personal",
                 identity_extension: tuple[str, str] = ("1.2.156.10260.4.1.1", DEMO_ID_NUMBER),
                 install: bool = True, days: int = 365) -> bytes:
    """A key pair on ``token`` (logged in) and its certificate from ``ca`` (stored beside it unless
    ``install`` is false): the certificate. The identity extension is as the CA's profiles put it."""
    token.generate_key(key_type, key)
    csr = build_csr(TokenSigner(token, key), subject, extra_extensions=[text_extension(*identity_extension)],
                    extended_key_usage=["client_auth"])
    certificate = ca.issue(csr, days=days, profile=profile).certificate
    if install:
        token.import_certificate(certificate, label=key, key_id=bytes.fromhex(token.find_key(key).id))
    return certificate


def holder_certificate(token: Token, ca: LocalCA) -> bytes | None:
    """The token's valid holder certificate that ``ca`` issued, if it has one."""
    issuer = ca.chain[0]
    for cert in token_certificates(token):
        if cert.key is not None and not cert.authority and not cert.info.expired \
                and _issued_by(cert.der, issuer):
            return cert.der
    return None


def _issued_by(der: bytes, issuer: bytes) -> bool:
    from cryptography import x509

    return x509.load_der_x509_certificate(der).issuer == x509.load_der_x509_certificate(issuer).subject


@dataclass(frozen=True)
class TlsFiles:
    """The portal's self-signed HTTPS certificate for one host name, and how a browser can trust it."""

    certificate: Path
    key: Path
    spki_sha256: str  # base64: Chromium's --ignore-certificate-errors-spki-list takes it


def tls_files(directory: Path, host_name: str) -> TlsFiles:
    """A self-signed certificate for ``host_name`` in ``directory`` (made once per name, then reused)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    check_origin(f"https://{host_name}")  # a host name, nothing that walks out of the directory
    cert_path, key_path = directory / f"{host_name}.crt", directory / f"{host_name}.key"
    if not (cert_path.is_file() and key_path.is_file()):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
                .sign(key, hashes.SHA256()))
        write_file(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), force=True, private=True)
        write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), force=True)
    spki = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return TlsFiles(cert_path, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii"))


@dataclass
class Session:
    """One browser's session: its CSRF token, the logged-in holder, the document waiting for a signature."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    holder: Identity | None = None
    document: bytes | None = None


class DemoPortal:
    """The portal's logic, apart from HTTP: sessions, login with the verifier, document signing."""

    def __init__(self, verifier: AuthTokenVerifier) -> None:
        self.verifier = verifier
        self.nonces: NonceStore = verifier.nonces
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def session(self, session_id: str | None) -> tuple[str, Session]:
        """The session of this cookie, or a new one."""
        with self._lock:
            if session_id and session_id in self._sessions:
                return session_id, self._sessions[session_id]
            session_id = secrets.token_urlsafe(24)
            return session_id, self._sessions.setdefault(session_id, Session())

    def nonce(self, session_id: str, session: Session) -> dict[str, object]:
        return {"nonce": self.nonces.issue(session_id), "csrf": session.csrf}

    def login(self, session_id: str, session: Session, body: dict[str, object]) -> dict[str, object]:
        session.holder = self.verifier.verify(body.get("authToken"), session_id)
        return {"holder": session.holder.to_dict()}

    def renew_id(self, session_id: str) -> str:
        """A new id for a session that just logged in (an id known before the login is worth nothing after)."""
        with self._lock:
            session = self._sessions.pop(session_id)
            fresh = secrets.token_urlsafe(24)
            self._sessions[fresh] = session
        return fresh

    def start_signing(self, session: Session, body: dict[str, object]) -> dict[str, object]:
        """A document for the logged-in holder, and the hash of it the page asks the token to sign."""
        holder = _logged_in(session)
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        session.document = (f"Benefit claim of {holder.name} ({holder.id_number or holder.credit_code}), "
                            f"filed {stamp}.").encode()
        algorithm, digest = document_hash(_b64(body.get("certificate")), session.document)
        return {"document": session.document.decode("utf-8"), "hash": base64.b64encode(digest).decode("ascii"),
                "hashAlgorithm": algorithm}

    def finish_signing(self, session: Session, body: dict[str, object]) -> dict[str, object]:
        """Verify the signature over the document this portal hashed; the signer must be the holder."""
        holder = _logged_in(session)
        document, session.document = session.document, None
        if document is None:
            raise InvalidInput("no document is waiting for a signature")
        signer = self.verifier.verify_signature(_b64(body.get("certificate")), document,
                                                _b64(body.get("signature")), str(body.get("algorithm")))
        if (signer.id_number, signer.credit_code, signer.name) != (holder.id_number, holder.credit_code, holder.name):
            raise AuthenticationFailed("not-the-holder", "the document was signed by someone else than who logged in")
        return {"verified": True, "signer": signer.to_dict(), "document": document.decode("utf-8")}


def _logged_in(session: Session) -> Identity:
    if session.holder is None:
        raise AuthenticationFailed("not-logged-in", "log in first")
    return session.holder


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput("a base64 text field is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("a field is not base64 text") from None


class DemoHandler(BaseHTTPRequestHandler):
    """HTTP for :class:`DemoPortal`: a session cookie, CSRF on every POST, JSON answers."""

    server: DemoServer
    COOKIE = "sitoken_demo"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in STATIC:
            name, kind = STATIC[path]
            self.send(200, static_file(name), kind)
        elif path == "/auth/nonce":
            session_id, session = self._session()
            self.send_json(200, self.server.portal.nonce(session_id, session), session_id)
        else:
            self.send_json(404, {"error": "not-found"})

    def do_POST(self) -> None:
        session_id, session = self._session()
        if not secrets.compare_digest(self.headers.get("X-CSRF-Token", ""), session.csrf):
            self.send_json(403, {"error": "csrf", "message": "the X-CSRF-Token header is missing or wrong"})
            return
        routes = {"/auth/login": lambda body: self.server.portal.login(session_id, session, body),
                  "/sign/start": lambda body: self.server.portal.start_signing(session, body),
                  "/sign/finish": lambda body: self.server.portal.finish_signing(session, body)}
        route = routes.get(self.path)
        if route is None:
            self.send_json(404, {"error": "not-found"})
            return
        try:
            answer = route(self._body())
            renewed = self.server.portal.renew_id(session_id) if self.path == "/auth/login" else None
            self.send_json(200, answer, renewed)
        except AuthenticationFailed as exc:
            self.send_json(403, {"error": exc.code, "reason": exc.reason, "message": str(exc)})
        except InvalidInput as exc:
            self.send_json(400, {"error": exc.code, "message": str(exc)})

    def _session(self) -> tuple[str, Session]:
        cookies = dict(part.strip().split("=", 1) for part in self.headers.get("Cookie", "").split(";") if "=" in part)
        return self.server.portal.session(cookies.get(self.COOKIE))

    def _body(self) -> dict[str, object]:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            raise InvalidInput(f"a request body of 1 to {MAX_BODY} bytes is expected")
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            raise InvalidInput("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise InvalidInput("the request body is not a JSON object")
        return body

    def send_json(self, status: int, body: object, session_id: str | None = None) -> None:
        self.send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json", session_id)

    def send(self, status: int, body: bytes, kind: str, session_id: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if session_id:
            self.send_header("Set-Cookie", f"{self.COOKIE}={session_id}; Path=/; Secure; HttpOnly; SameSite=Strict")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the portal prints its URL; per-request lines would bury it


class DemoServer(ThreadingHTTPServer):
    """The HTTPS server of the demo portal at ``https://NAME:PORT``.

    ``chains`` are the CA chains of the holders it accepts, each issuing CA first and root last
    (``LocalCA.chain``, ``Sm2LocalCA.chain``): the roots are its trust anchors.
    """

    daemon_threads = True

    def __init__(self, chains: Sequence[Sequence[bytes]], address: tuple[str, int], host_name: str,
                 tls: TlsFiles, handler: type[DemoHandler] = DemoHandler) -> None:
        super().__init__(address, handler)
        port = f":{self.port}" if self.port != 443 else ""
        self.origin = f"https://{host_name}{port}"
        # The portal checks tokens against its own origin, fixed here, never the Host a request names.
        self.portal = DemoPortal(AuthTokenVerifier(
            self.origin, [chain[-1] for chain in chains], NonceStore(),
            intermediates=[ca for chain in chains for ca in chain[:-1]]))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.certificate, tls.key)
        # The handshake happens in the request's thread: a client that connects and stalls holds no one up.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def extension_directory() -> Path | None:
    """``web/extension`` of a source checkout (the extension is not in the Python package), if there."""
    candidate = Path(__file__).resolve().parents[3] / "web" / "extension"
    return candidate if (candidate / "manifest.json").is_file() else None


def chromium_arguments(server: DemoServer, tls: TlsFiles, profile: Path) -> list[str]:
    """How to open the demo in Chromium: the test name mapped to the server, its certificate trusted."""
    host_name = server.origin.split("://", 1)[1].rsplit(":", 1)[0]
    listening = str(server.server_address[0])
    # A server on every address is reached on loopback from the machine it runs on.
    listening = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listening, listening)
    arguments = [f"--user-data-dir={profile}", f"--host-resolver-rules=MAP {host_name} {listening}",
                 f"--ignore-certificate-errors-spki-list={tls.spki_sha256}"]
    extension = extension_directory()
    arguments += [f"--load-extension={extension}"] if extension else []
    return [*arguments, server.origin + "/"]


def describe(server: DemoServer, tls: TlsFiles, token_label: str, profile: Path) -> dict[str, Any]:
    return {"url": server.origin + "/", "origin": server.origin,
            "listening": f"{server.server_address[0]!s}:{server.port}", "token": token_label,
            "spki_sha256": tls.spki_sha256, "certificate": str(tls.certificate),
            "chromium": chromium_arguments(server, tls, profile)}
