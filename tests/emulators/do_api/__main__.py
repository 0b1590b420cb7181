"""``python -m tests.emulators.do_api ...`` (from the repository root) or ``python tests/emulators/do_api ...``."""

import os
import sys

if not __package__:
    # run as a directory: make the package importable by its own name
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from do_api.server import main  # pylint: disable=import-error
else:
    from .server import main

sys.exit(main())
