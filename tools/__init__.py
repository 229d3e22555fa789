"""Developer tools that are not part of the production app (the Moonshot API emulator)."""
