"""``python -m hvballoond``."""

from hvballoond.cli import main

raise SystemExit(main())
