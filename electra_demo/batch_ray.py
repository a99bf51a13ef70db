"""``python -m electra_demo.batch_ray``: batch scoring on Ray Data.

The documented command keeps its name; the code lives in :mod:`electra_demo.scale.batch`.
"""

import sys

from electra_demo.scale.batch import main

if __name__ == "__main__":
    sys.exit(main())
