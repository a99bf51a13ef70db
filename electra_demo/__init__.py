"""electra-demo: a web demo and API for Google's ELECTRA (replaced-token detection and heads)."""

__version__ = "0.1.0"  # keep equal to pyproject.toml's [project] version
