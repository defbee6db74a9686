"""`python -m omni_router`: the router service (HTTP on 8004 by default)."""

from omni_router.app import create_app
from omni_router.settings import Settings
from omni_service.runner import main

if __name__ == "__main__":
    main(create_app, Settings)
