"""Local stand-ins for cluster services and the processes the project starts on this machine."""
