"""``python -m electra_demo.evaluate_qa``: SQuAD 2.0 evaluation of the reader.

The documented command keeps its name; the code lives in :mod:`electra_demo.tools.evaluate_qa`.
"""

import sys

from electra_demo.tools.evaluate_qa import main

if __name__ == "__main__":
    sys.exit(main())
