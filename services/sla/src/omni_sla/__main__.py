"""`python -m omni_sla`: serve the SLA service (port 8005 by default)."""

import sys

from omni_service.runner import main
from omni_sla.adapters.config_file import SlaConfigError
from omni_sla.app import create_app
from omni_sla.settings import Settings

if __name__ == "__main__":
    try:
        main(create_app, Settings)
    except SlaConfigError as exc:
        print(f"omni-sla: invalid SLA configuration: {exc}", file=sys.stderr)
        sys.exit(2)
