"""Pure parsing and verification: no I/O, no clock (the time of receipt is passed in)."""
