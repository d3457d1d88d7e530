"""``python -m bimix``: see :mod:`bimix.cli`."""

from bimix.cli import main

raise SystemExit(main())
