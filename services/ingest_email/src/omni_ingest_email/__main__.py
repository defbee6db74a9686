"""`python -m omni_ingest_email`: SMTP on 2525, the SendGrid and Mailgun webhooks on HTTP port 8001."""

import uvloop

from omni_ingest_email.app import create_app
from omni_ingest_email.settings import EmailSettings
from omni_service.runner import main

if __name__ == "__main__":
    # omni_service.runner asks uvicorn for uvloop but starts the server with asyncio.run, which
    # ignores that setting; the policy makes asyncio.run build a uvloop loop.
    uvloop.install()
    main(create_app, EmailSettings)
