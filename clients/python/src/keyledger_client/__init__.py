"""keyledger's Python client: ask whether a DevKey may call an OTP API.

from keyledger_client import Client

with Client("http://keyledger:8000", timeout=2.0, retries=2) as client:
    decision = client.authorize(dev_key, dev_secret, api="send",
                                client_ip="203.0.113.7")
"""

from keyledger_client._cache import CacheStats
from keyledger_client._decision import (
    Decision,
    InvalidRequest,
    KeyledgerError,
    Unavailable,
    UnexpectedResponse,
)
from keyledger_client.client import VERSION, Client

__version__ = VERSION
__all__ = [
    "CacheStats",
    "Client",
    "Decision",
    "InvalidRequest",
    "KeyledgerError",
    "Unavailable",
    "UnexpectedResponse",
    "__version__",
]
