"""A script that never imports keras: the runner must not import TensorFlow for it."""

import sys

print("tensorflow" in sys.modules, "keras" in sys.modules)
