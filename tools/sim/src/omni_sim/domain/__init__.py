"""The simulator's pure core: signatures, provider payloads, texts, scenarios, agents, ground truth.

Nothing here does I/O or reads a clock; randomness comes from a `random.Random(seed)`.
"""
