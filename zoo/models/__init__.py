"""One file per paper; each reads like the paper's algorithm box."""
