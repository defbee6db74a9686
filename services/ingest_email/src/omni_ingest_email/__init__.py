"""omni's e-mail channel: raw RFC 5322 over SMTP, SendGrid Inbound Parse and Mailgun routes."""
