import sys

from agi.cli.main import main

sys.exit(main())
