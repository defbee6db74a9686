"""`python -m omni_service.migrate`: apply every installed service's migrations (the Helm hook Job runs it)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

from omni_service.db import SERVICE_PACKAGES, create_pool, migrate


async def _main() -> int:
    url = os.environ.get("DATABASE_URL", "postgresql://omni:omni@127.0.0.1:5432/omni")
    pool = await create_pool(url)
    try:
        for service, package in SERVICE_PACKAGES.items():
            if importlib.util.find_spec(package) is None:
                continue
            applied = await migrate(pool, service=service, package=package)
            print(f"{service}: {len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied else ""))
    finally:
        await pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
