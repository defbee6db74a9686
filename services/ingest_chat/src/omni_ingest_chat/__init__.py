"""omni ingest_chat: the web chat API and Twilio inbound SMS/MMS, normalized onto omni.messages.v1."""
