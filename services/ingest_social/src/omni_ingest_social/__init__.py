"""omni's social channel adapters: Meta (Messenger, Instagram, WhatsApp), LINE, Telegram and X."""
