"""`python -m omni_sla`: serve the SLA service (port 8005 by default)."""

from omni_service.runner import main
from omni_sla.app import create_app
from omni_sla.settings import Settings

if __name__ == "__main__":
    main(create_app, Settings)
