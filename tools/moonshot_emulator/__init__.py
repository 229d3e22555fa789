"""A faithful local Moonshot (Kimi) API server for tests, benchmarks and `make run`.

Standalone: nothing here imports Django, so a Celery worker, a benchmark or the CLI
(`python -m tools.moonshot_emulator`) can run it. Behaviour follows
reference/moonshot-api.md §11; where the provider's real text is unknown the emulator says so in
the docstring of the module that invents it.

    with EmulatorServer(EmulatorConfig()) as emu:
        client = OpenAI(base_url=emu.base_url, api_key=emu.config.api_key, max_retries=0)
"""

from tools.moonshot_emulator.config import DEFAULT_MODELS, EmulatorConfig
from tools.moonshot_emulator.faults import Faults
from tools.moonshot_emulator.server import EmulatorServer
from tools.moonshot_emulator.state import Call, State, StoredFile

__all__ = [
    "DEFAULT_MODELS",
    "Call",
    "EmulatorConfig",
    "EmulatorServer",
    "Faults",
    "State",
    "StoredFile",
]
