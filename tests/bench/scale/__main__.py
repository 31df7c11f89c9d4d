import sys

from tests.bench.scale.main import main

if __name__ == "__main__":
    sys.exit(main())
