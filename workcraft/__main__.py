"""``python -m workcraft``: the command line."""

from workcraft.cli import main

# Guarded: process-pool children started with "spawn" import this module again
# under another name, and must not start a second CLI.
if __name__ == "__main__":
    main()
