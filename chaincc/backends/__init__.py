"""Code generators: each reads a Program and nothing else (see README.md here)."""
