"""`python -m omni_ingest_chat`: serve on HTTP_PORT (8002)."""

from omni_ingest_chat.app import create_app
from omni_ingest_chat.settings import Settings
from omni_service.runner import main

if __name__ == "__main__":
    main(create_app, Settings)
