"""`python -m omni_ingest_social`: serve the social webhooks on HTTP port 8003."""

from omni_ingest_social.app import create_app
from omni_ingest_social.settings import Settings
from omni_service.runner import main

if __name__ == "__main__":
    main(create_app, Settings)
