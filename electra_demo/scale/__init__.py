"""Scaling out on Ray: the /v1 API on Ray Serve (:mod:`.serve`) and batch scoring on Ray Data
(:mod:`.batch`), with their shared cluster plumbing and output writer. Optional: needs
``requirements-scale.txt``."""
