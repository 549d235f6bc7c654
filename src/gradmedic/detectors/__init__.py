"""Framework-free detectors: pure functions over a window of StepStats. Nothing here imports torch."""
