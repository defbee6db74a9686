"""`python -m omni_analytics`: serve /metrics, /healthz and /readyz on port 8006."""

from omni_analytics.app import create_app
from omni_analytics.settings import Settings
from omni_service.runner import main

if __name__ == "__main__":
    main(create_app, Settings)
