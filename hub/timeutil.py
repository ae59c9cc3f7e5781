"""Time as Unix seconds (float): portable across SQLite and PostgreSQL, trivially ordered."""

import time


def now() -> float:
    return time.time()
