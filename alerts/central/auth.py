"""Users, roles and tokens: scrypt password hashes, random tokens stored only as sha256, and the table of
what each role may do.

Roles: `manager` acknowledges and resolves alerts; `supervisor` reviews alerts and clips (read-only on
alarms, may mark clips keep); `technician` sees nodes and windows (calibration lives on the edge);
`admin` may do everything; `node` (an edge node) may only upload clips.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.central.config import ROLES, CentralConfig
from alerts.central.store import Token, User

log = logging.getLogger(__name__)

PERMISSIONS: dict[str, frozenset[str]] = {
    "view_alarms": frozenset({"admin", "manager", "supervisor"}),
    "ack": frozenset({"admin", "manager"}),
    "resolve": frozenset({"admin", "manager"}),
    "keep": frozenset({"admin", "supervisor"}),
    "view_clips": frozenset({"admin", "manager", "supervisor"}),
    "view_nodes": frozenset({"admin", "manager", "supervisor", "technician"}),
    "upload_clips": frozenset({"node"}),
    "manage_users": frozenset({"admin"}),
}
_R, _P = 8, 1  # scrypt block size and parallelism; N = 2**log2_n (14: about 50-250 ms and 16 MiB a check)


def can(role: str, perm: str) -> bool:
    return role in PERMISSIONS[perm]


def hash_password(password: str, log2_n: int = 14) -> str:
    """`scrypt$N$r$p$salt$hash` (base64); the cost travels with the hash, so it can be raised later."""
    salt = secrets.token_bytes(16)
    n = 2**log2_n
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=32, maxmem=256 * 1024 * 1024)
    b64 = base64.b64encode
    return f"scrypt${n}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=32, maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_user(session: Session, username: str, role: str, password: str | None = None, log2_n: int = 14) -> User:
    """Create or update a user (the password, when given, is stored hashed)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    user = session.get(User, username)
    if user is None:
        user = User(username=username, role=role, created_at=time.time(), disabled=False)
        session.add(user)
    user.role = role
    if password is not None:
        user.pw_hash = hash_password(password, log2_n)
    return user


def issue_token(session: Session, username: str, kind: str = "api", ttl_s: float | None = None,
                token: str | None = None) -> str:
    """A new random token for `username` (or register the given one); only its sha256 is stored."""
    token = token or secrets.token_urlsafe(32)
    now = time.time()
    session.merge(Token(sha256=_sha(token), username=username, kind=kind, created_at=now,
                        expires_at=None if ttl_s is None else now + ttl_s))
    return token


def user_for_token(session: Session, token: str, kind: str | None = None) -> User | None:
    row = session.get(Token, _sha(token))
    if row is None or (kind is not None and row.kind != kind):
        return None
    if row.expires_at is not None and row.expires_at < time.time():
        session.delete(row)
        return None
    user = session.get(User, row.username)
    return None if user is None or user.disabled else user


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(Token).where(Token.sha256 == _sha(token)))


def login(session: Session, username: str, password: str) -> User | None:
    user = session.get(User, username)
    if user is None:
        hash_password(password)  # same cost whether or not the user exists
        return None
    return user if not user.disabled and verify_password(password, user.pw_hash) else None


def bootstrap_users(session: Session, cfg: CentralConfig) -> None:
    """Create/update the users listed in central.yaml from their password and token files."""
    for u in cfg.users:
        password = _read(u.password_file, u.username, "password_file") if u.password_file else None
        user = session.get(User, u.username)
        if user is not None and password is not None and verify_password(password, user.pw_hash):
            password = None  # unchanged: keep the hash, skip the scrypt cost
        set_user(session, u.username, u.role, password, cfg.password_log2_n)
        if u.token_file:
            issue_token(session, u.username, "api", token=_read(u.token_file, u.username, "token_file"))
    session.commit()
    if not session.scalars(select(User).where(User.role == "admin")).first():
        log.warning("no admin user: add one with `hallwatch central adduser --role admin`")


def _read(path: str, username: str, key: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"users[{username}].{key} {path}: cannot read ({exc.strerror})") from None
    if not value:
        raise ValueError(f"users[{username}].{key} {path}: file is empty")
    return value
