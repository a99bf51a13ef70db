"""``python -m electra_demo.serve_ray``: the /v1 API on Ray Serve.

The documented command keeps its name, and so does Serve's application builder
(``serve run electra_demo.serve_ray:build_app``, a KubeRay ``import_path``); the code lives in
:mod:`electra_demo.scale.serve`.
"""

import sys

from electra_demo import optional

try:
    from electra_demo.scale.serve import build_app, main
except optional.MissingDependency as missing:  # Ray is optional: one line on stderr, no traceback
    raise SystemExit(f"serve_ray: {missing}") from None

__all__ = ["build_app", "main"]

if __name__ == "__main__":
    sys.exit(main())
