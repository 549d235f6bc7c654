"""The torch side of gradmedic: find layers, hook them, and reduce statistics on the device."""
