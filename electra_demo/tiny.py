"""``python -m electra_demo.tiny``: small random checkpoints for every slot.

The documented command keeps its name; the code lives in :mod:`electra_demo.tools.tiny`.
"""

import sys

from electra_demo.tools.tiny import main

if __name__ == "__main__":
    sys.exit(main())
