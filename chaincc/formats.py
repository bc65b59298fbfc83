"""The formats ``explain`` writes, in a module of their own so the command line can offer
them without importing the explainer (and SymPy with it)."""

FORMATS = ("unicode", "ascii", "latex", "markdown")
