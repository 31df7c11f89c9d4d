"""The coordination projection: pure reading, folding and describing, and the shell that stores it."""
