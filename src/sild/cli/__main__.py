import sys

from sild.cli import main

sys.exit(main())
