"""The IoAP protocol core."""
