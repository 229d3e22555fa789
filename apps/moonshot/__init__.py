"""The only code that speaks to the Moonshot (Kimi) API: client, errors, admission, emulator."""
