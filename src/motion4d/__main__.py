import sys

from motion4d.cli import main

sys.exit(main())
