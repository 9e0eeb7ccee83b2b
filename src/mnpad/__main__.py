import sys

from .cli.main import main

if __name__ == "__main__":  # not when re-imported by worker processes (multiprocessing spawn)
    sys.exit(main())
