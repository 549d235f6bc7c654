"""The lecture's three failures and their healthy twins, on bundled or synthetic data."""
