"""`python -m rnnsound` is the `rnnsound` command."""
import sys

from .cli import main

sys.exit(main())
