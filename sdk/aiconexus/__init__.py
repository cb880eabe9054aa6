"""AIConexus SDK."""
