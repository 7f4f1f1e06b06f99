#!/usr/bin/env python3
"""Run the integration suites named on the command line (modules in test/)."""
import sys

import harness

if __name__ == "__main__":
    sys.exit(harness.main(sys.argv[1:]))
