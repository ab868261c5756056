"""``keyledger``: the command line of keyledger, with the service's settings
(KEYLEDGER_DATABASE_URL, KEYLEDGER_SECRET_KEY, ...).

One module per command group (``keys``, ``operators``, ``audit``, ``store``);
a new group is a module with a ``register(commands)`` function, listed in
``service.cli.main.GROUPS``. Exit status: 0 done, 1 refused or failed (a
message on stderr, never a traceback), 2 usage error.
"""

from service.cli.main import main

__all__ = ["main"]
