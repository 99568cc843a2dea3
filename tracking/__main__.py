"""``python -m tracking evaluate DATA_DIR ...``."""

from tracking.cli import main

raise SystemExit(main())
