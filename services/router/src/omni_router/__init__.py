"""omni router: owns conversations, classifies and assigns them, serves the agent and admin API."""
