"""``python -m moebius_video`` = ``moebius-video``."""

import sys

from moebius_video.cli import main

sys.exit(main())
