"""Real outside processes for the demo and the tests: OctoPrint virtual printers and friends.

Nothing here is used in production; it starts the same programs a lab runs, on local ports.
"""
