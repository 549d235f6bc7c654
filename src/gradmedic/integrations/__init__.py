"""What the framework callbacks (gradmedic.lightning, gradmedic.transformers) share."""
