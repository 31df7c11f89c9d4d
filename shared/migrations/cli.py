"""``carecoord db upgrade [SERVICE]``: bring services' databases to the newest schema.

Run by ``make up`` and meant for a deployment's pre-start step (with the migration role's
credentials); without SERVICE every service's database is upgraded. ``--grant-to ROLE`` then
gives the services' runtime role its least privileges (``shared.migrations.grants``)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from shared.migrations import upgrade
from shared.migrations.grants import grant_runtime
from shared.services import SERVICES
from shared.settings import settings_for


def add_db_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply every pending migration")
    up.add_argument("service", nargs="?", choices=sorted(SERVICES),
                    help="one service's database (default: all); reads CARECOORD_<SERVICE>_DATABASE_URL")
    up.add_argument("--grant-to", metavar="ROLE",
                    help="then give ROLE (the services' runtime role) only the privileges it needs "
                         "(shared/migrations/grants.py)")
    up.set_defaults(func=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    names = [args.service] if args.service else list(SERVICES)

    async def run() -> None:
        for name in names:
            settings = settings_for(name)()
            await upgrade(settings.database_url, settings.database_schema, name)
            if args.grant_to:
                await grant_runtime(settings.database_url, settings.database_schema, args.grant_to)
            print(f"{name}: database schema is current" + (f"; {args.grant_to} may use it" if args.grant_to else ""))

    asyncio.run(run())
    return 0
