"""AIConexus gateway."""
