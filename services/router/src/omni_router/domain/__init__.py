"""The router's pure decision core: classification, the agent and waiting indexes, routing."""
