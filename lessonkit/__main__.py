"""``python -m lessonkit``."""
import sys

from .harness.cli import main

sys.exit(main())
