"""The one compiled part of cofab: the G-code check's lexer (firmware_bridge/gcode_check/_lexer.c).

Everything else is in pyproject.toml; setuptools reads both. The extension needs only a C
compiler and Python's headers (Debian: gcc, python3-dev), no numpy headers: it fills
buffers the caller allocates.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "firmware_bridge.gcode_check._lexer",
            sources=["firmware_bridge/gcode_check/_lexer.c"],
            # Without a compiler the install still succeeds and the check interprets every
            # line (same report, about 90x slower); `fast.AVAILABLE` tells which.
            optional=True,
        )
    ]
)
