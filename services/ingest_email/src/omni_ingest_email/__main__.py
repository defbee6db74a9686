from omni_ingest_email.app import create_app
from omni_ingest_email.settings import EmailSettings
from omni_service.runner import main

if __name__ == "__main__":
    main(create_app, EmailSettings)
