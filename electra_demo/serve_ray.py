"""``python -m electra_demo.serve_ray``: the /v1 API on Ray Serve.

The documented command keeps its name; the code lives in :mod:`electra_demo.scale.serve`.
"""

import sys

from electra_demo import optional

try:
    from electra_demo.scale.serve import main
except optional.MissingDependency as missing:  # Ray is optional: one line on stderr, no traceback
    raise SystemExit(f"serve_ray: {missing}") from None

if __name__ == "__main__":
    sys.exit(main())
