import sys

from refnet.conformance.cli import main

sys.exit(main())
