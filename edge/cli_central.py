"""`hallwatch central ...`: run the central alarm service and manage its users.

    hallwatch central --config central.yaml                 run the service (MQTT ingest + web)
    hallwatch central adduser --config central.yaml NAME --role manager [--password-file F]
    hallwatch central token --config central.yaml NAME      print a new API token for NAME (e.g. a node)
    hallwatch central users --config central.yaml           list users and roles
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from alerts.central.config import ROLES, CentralConfigError, load_central_config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("central", help="the central alarm service (MQTT ingest, dashboard, API)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="central.yaml (required)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=_run)
    sub = p.add_subparsers(dest="central_cmd")
    a = sub.add_parser("adduser", help="create or update a user")
    a.add_argument("--config", required=True)
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--password-file", help="file with the password (default: prompt; none for role node)")
    a.add_argument("--token", action="store_true", help="also print a new API token")
    a.set_defaults(func=_adduser)
    t = sub.add_parser("token", help="print a new API token for a user")
    t.add_argument("--config", required=True)
    t.add_argument("username")
    t.set_defaults(func=_token)
    u = sub.add_parser("users", help="list users")
    u.add_argument("--config", required=True)
    u.set_defaults(func=_users)


def _load(args: argparse.Namespace):  # noqa: ANN202 - CentralConfig
    if not args.config:
        sys.exit("hallwatch central: --config central.yaml is required")
    try:
        return load_central_config(args.config)
    except CentralConfigError as exc:
        sys.exit(f"hallwatch central: {exc}")


def _run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from alerts.central.service import Central

    try:
        central = Central(cfg)
    except ValueError as exc:
        sys.exit(f"hallwatch central: {exc}")
    central.serve_forever(on_started=lambda c: print(f"HallWatch central: dashboard at {c.url}/ "
                                                     f"(MQTT {cfg.mqtt.url}, db {cfg.db})", flush=True))
    return 0


def _sessions(args: argparse.Namespace):  # noqa: ANN202 - sessionmaker
    from alerts.central.store import open_store

    return open_store(_load(args).db)[1]


def _adduser(args: argparse.Namespace) -> int:
    from alerts.central.auth import issue_token, set_user

    if args.password_file:
        try:
            password: str | None = Path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            sys.exit(f"hallwatch central adduser: --password-file {args.password_file}: {exc.strerror}")
    elif args.role == "node":
        password = None
    else:
        password = getpass.getpass(f"password for {args.username}: ")
    if password is not None and len(password) < 8:
        sys.exit("hallwatch central adduser: the password must have at least 8 characters")
    with _sessions(args)() as s:
        set_user(s, args.username, args.role, password)
        token = issue_token(s, args.username, "api") if args.token or args.role == "node" else None
        s.commit()
    print(f"user {args.username} ({args.role}) saved")
    if token:
        print(f"API token (shown once): {token}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from alerts.central.auth import issue_token
    from alerts.central.store import User

    with _sessions(args)() as s:
        if s.get(User, args.username) is None:
            sys.exit(f"hallwatch central token: no user {args.username!r} (add it with adduser)")
        token = issue_token(s, args.username, "api")
        s.commit()
    print(token)
    return 0


def _users(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from alerts.central.store import User

    with _sessions(args)() as s:
        for u in s.scalars(select(User).order_by(User.username)):
            print("\t".join([u.username, u.role] + (["disabled"] if u.disabled else [])))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m edge.cli_central central --config ...`) until edge/cli.py registers it."""
    parser = argparse.ArgumentParser(prog="hallwatch")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
