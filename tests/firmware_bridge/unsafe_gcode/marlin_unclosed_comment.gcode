; expect: marlin malformed line 2: never closed
G1 X5 (move
